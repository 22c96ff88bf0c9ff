import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '@edgeml/core';
import { newSecret } from './credentials.js';

/** The hub's own MQTT secret and the read-only operator secret, kept in the data dir (0600). */
export interface HubSecrets {
  hub: string;
  operator: string;
  /** Bearer token of the hub's HTTP API for releases and rollouts. */
  admin: string;
}

export async function loadOrCreateSecrets(dataDir: string): Promise<HubSecrets> {
  const file = join(dataDir, 'secrets.json');
  let existing: Partial<HubSecrets> = {};
  try {
    existing = JSON.parse(await readFile(file, 'utf8')) as Partial<HubSecrets>;
    if (existing.hub && existing.operator && existing.admin) return existing as HubSecrets;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const secrets: HubSecrets = { hub: existing.hub ?? newSecret(), operator: existing.operator ?? newSecret(), admin: existing.admin ?? newSecret(32) };
  await writeFileAtomic(file, JSON.stringify(secrets, null, 2) + '\n', 0o600);
  return secrets;
}

/** MQTT user names of the hub's own roles; device user names are their device ids. */
export const HUB_USER = 'edgeml-hub';
export const OPERATOR_USER = 'edgeml-operator';

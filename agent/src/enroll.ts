/**
 * Enrolment: a one-time token from the operator is exchanged at the hub for this device's own
 * MQTT credentials and the root key to pin. The result is written as the agent's config file
 * (mode 0600: it holds the device's password) next to the pinned root key.
 */
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { AgentConfigSchema, EdgemlError, userError, validName, writeFileAtomic, type AgentConfig } from '@edgeml/core';

export interface EnrollOptions {
  hubUrl: string;
  token: string;
  deviceId: string;
  model: string;
  channel?: string;
  dataDir: string;
  /** Where to write the agent config. */
  configPath: string;
  /** CA certificate file to trust for an mqtts:// broker. */
  brokerCa?: string;
  api?: { host?: string; port?: number };
  /** More config fields (probation, stepDelayMs, ...). */
  extra?: Record<string, unknown>;
}

export async function enrollDevice(o: EnrollOptions): Promise<AgentConfig> {
  validName('device id', o.deviceId);
  let res: Response;
  try {
    res = await fetch(new URL('/v1/enroll', o.hubUrl), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: o.token, deviceId: o.deviceId }) });
  } catch (e) {
    throw new EdgemlError('hub-unreachable', `cannot reach the hub at ${o.hubUrl}: ${(e as Error).message}`, { transient: true });
  }
  const body = (await res.json().catch(() => ({}))) as { error?: string; username?: string; password?: string; brokerUrl?: string; rootKey?: string; scope?: { model?: string | null; channel?: string | null; tags?: string[] | null } };
  if (!res.ok) throw userError('enroll-refused', `the hub refused enrolment (${res.status}): ${body.error ?? 'no reason given'}`);
  if (!body.username || !body.password || !body.brokerUrl || !body.rootKey) throw new EdgemlError('enroll-malformed', 'the hub answered enrolment without credentials');
  const dataDir = resolve(o.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const rootKey = join(dataDir, 'root.pub');
  await writeFileAtomic(rootKey, body.rootKey, 0o644);
  const config: AgentConfig = AgentConfigSchema.parse({
    deviceId: o.deviceId,
    dataDir,
    // What the operator bound the device to at the hub wins over what was asked for here.
    model: body.scope?.model ?? o.model,
    channel: body.scope?.channel ?? o.channel ?? 'stable',
    broker: { url: body.brokerUrl, username: body.username, password: body.password, ...(o.brokerCa ? { ca: resolve(o.brokerCa) } : {}) },
    rootKey,
    api: { host: o.api?.host ?? '127.0.0.1', port: o.api?.port ?? 0 },
    ...o.extra,
    ...(body.scope?.tags ? { tags: body.scope.tags } : {}),
  });
  await mkdir(dirname(resolve(o.configPath)), { recursive: true });
  await writeFileAtomic(resolve(o.configPath), JSON.stringify(config, null, 2) + '\n', 0o600);
  return config;
}

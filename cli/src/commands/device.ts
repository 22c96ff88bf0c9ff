/**
 * `edgeml device list|revoke|unblock`: device identities at the hub. With --hub, over the HTTP
 * API (an admin token), so a running hub also drops the revoked device's connection; without,
 * straight on the registry in --data-dir (the hub need not run; a device connected to a running
 * hub stays connected until it next reconnects, when its credentials no longer work).
 */
import { access } from 'node:fs/promises';
import { resolve } from 'node:path';
import { userError, validName } from '@edgeml/core';
import { Registry } from '@edgeml/hub';
import { hubRequest } from './hub-client.js';
import { printJson } from './options.js';

export interface DeviceFlags {
  hub?: string;
  token?: string;
  dataDir: string;
  json?: boolean;
}

interface Entry {
  id: string;
  enrolledAt: string | null;
  revokedAt: string | null;
  online?: boolean;
}

async function withRegistry<T>(dataDir: string, fn: (r: Registry) => T): Promise<T> {
  const file = resolve(dataDir, 'registry.sqlite');
  await access(file).catch(() => {
    throw userError('no-registry', `no hub registry at ${file}; pass --data-dir, or --hub URL for a remote hub`);
  });
  const registry = new Registry(file);
  try {
    return fn(registry);
  } finally {
    registry.close();
  }
}

const hubFlags = (o: DeviceFlags) => ({ hub: o.hub!, dataDir: o.dataDir, ...(o.token ? { token: o.token } : {}) });

export async function deviceList(o: DeviceFlags): Promise<void> {
  const rows: Entry[] = o.hub
    ? (await hubRequest<Entry[]>(hubFlags(o), 'GET', '/v1/devices')).body
    : await withRegistry(o.dataDir, (r) => r.tokens.listIdentities().map((i) => ({ ...i, online: i.revokedAt ? false : (r.getDevice(i.id)?.online ?? false) })));
  if (o.json) {
    printJson(rows);
    return;
  }
  for (const d of rows) {
    const state = d.revokedAt ? `revoked ${d.revokedAt}` : d.online ? 'online' : 'offline';
    process.stdout.write(`${d.id}\t${state}\t${d.enrolledAt ? `enrolled ${d.enrolledAt}` : 'not enrolled'}\n`);
  }
}

export async function deviceRevoke(id: string, o: DeviceFlags): Promise<void> {
  validName('device id', id);
  const out = o.hub
    ? (await hubRequest<{ existed: boolean; disconnected: number }>(hubFlags(o), 'POST', `/v1/devices/${encodeURIComponent(id)}/revoke`)).body
    : await withRegistry(o.dataDir, (r) => ({ ...r.tokens.revokeDevice(id, new Date()), disconnected: 0 }));
  if (o.json) {
    printJson({ deviceId: id, revoked: true, ...out });
    return;
  }
  process.stdout.write(
    `revoked ${id}: credentials removed${o.hub ? `, ${out.disconnected} connection(s) dropped` : ''}, id blocked (edgeml device unblock ${id} lets it enrol again)` +
      (out.existed ? '' : '; no enrolled device had this id, it is blocked anyway') +
      '\n',
  );
}

export async function deviceUnblock(id: string, o: DeviceFlags): Promise<void> {
  validName('device id', id);
  if (o.hub) await hubRequest(hubFlags(o), 'POST', `/v1/devices/${encodeURIComponent(id)}/unblock`);
  else if (!(await withRegistry(o.dataDir, (r) => r.tokens.unblockDevice(id)))) throw userError('not-found', `device id "${id}" is not revoked`);
  if (o.json) {
    printJson({ deviceId: id, unblocked: true });
    return;
  }
  process.stdout.write(`unblocked ${id}: it can enrol again with a new token\n`);
}

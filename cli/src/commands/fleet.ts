/**
 * `edgeml fleet status`: the fleet as the broker holds it: every device's retained status and
 * the hub's retained analysis of it (live accuracy, drift). Read at QoS 0, so a broker's queue
 * limits for QoS 1 subscribers (Mosquitto's max_queued_messages) do not cut the scan short.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { connectAsync } from 'mqtt';
import { DeviceStatusSchema, EdgemlError, deviceIdOfTopic, topics, type DeviceStatus } from '@edgeml/core';
import type { DeviceAnalysis } from '@edgeml/hub';
import { formatTable } from '../output/table.js';
import { printJson } from './options.js';
import { untilSignal } from './signals.js';

export interface FleetFlags {
  broker: string;
  username?: string;
  password?: string;
  ca?: string;
  dataDir?: string;
  json?: boolean;
  watch?: boolean;
  quietMs: number;
}

export interface FleetRow {
  id: string;
  online: boolean;
  model: string | null;
  version: number | null;
  state: string;
  health: string;
  p95Ms: number | null;
  liveAccuracy: number | null;
  labels: number;
  drift: number | null;
  lastSeen: string;
  lastError: string | null;
}

async function credentials(o: FleetFlags): Promise<{ username?: string; password?: string }> {
  if (o.username) return { username: o.username, password: o.password ?? process.env.EDGEML_BROKER_PASSWORD ?? '' };
  try {
    const s = JSON.parse(await readFile(join(resolve(o.dataDir ?? '.edgeml/hub'), 'secrets.json'), 'utf8')) as { operator: string };
    return { username: 'edgeml-operator', password: s.operator };
  } catch {
    return {};
  }
}

const fmt = (v: number | null, digits: number, scale = 1, suffix = '') => (v === null ? '-' : `${(v * scale).toFixed(digits)}${suffix}`);

export function fleetTable(rows: FleetRow[]): string {
  const table = formatTable(
    ['device', 'online', 'model', 'version', 'state', 'p95 ms', 'live acc', 'drift', 'last seen'],
    rows.map((r) => [r.id, r.online ? 'yes' : 'no', r.model ?? '-', r.version ?? '-', r.state, fmt(r.p95Ms, 3), r.labels ? `${fmt(r.liveAccuracy, 1, 100, '%')} (${r.labels})` : '-', fmt(r.drift, 3), r.lastSeen]),
  );
  const byVersion = new Map<string, FleetRow[]>();
  for (const r of rows) {
    const key = `${r.model ?? '-'} v${r.version ?? '-'}`;
    byVersion.set(key, [...(byVersion.get(key) ?? []), r]);
  }
  const summary = [...byVersion.entries()].map(([k, rs]) => `${k}: ${rs.length} device${rs.length > 1 ? 's' : ''}, ${rs.filter((r) => r.online).length} online, ${rs.filter((r) => r.state === 'active').length} active`);
  return `${table}\n\n${summary.join('\n')}\n`;
}

export async function fleetStatus(o: FleetFlags): Promise<void> {
  const creds = await credentials(o);
  let client;
  try {
    client = await connectAsync(o.broker, { ...creds, reconnectPeriod: 0, connectTimeout: 5000, clientId: creds.username ? `${creds.username}:fleet-${process.pid}` : `edgeml-fleet-${process.pid}`, ...(o.ca ? { ca: await readFile(o.ca, 'utf8') } : {}) });
  } catch (e) {
    throw new EdgemlError('broker-unreachable', `cannot read the fleet from ${o.broker}: ${(e as Error).message}`, { exitCode: 2 });
  }
  const statuses = new Map<string, DeviceStatus>();
  const analyses = new Map<string, DeviceAnalysis>();
  let last = Date.now();
  client.on('message', (topic, payload) => {
    const id = deviceIdOfTopic(topic) ?? topic.split('/').pop()!;
    if (payload.length === 0) return;
    try {
      const json = JSON.parse(payload.toString('utf8')) as unknown;
      if (topic.endsWith('/status')) {
        const s = DeviceStatusSchema.safeParse(json);
        if (s.success) statuses.set(id, s.data);
      } else analyses.set(id, json as DeviceAnalysis);
      last = Date.now();
    } catch {
      // A malformed retained message is one device's problem, not the report's.
    }
  });
  const rows = (): FleetRow[] =>
    [...statuses.values()]
      .sort((a, b) => a.deviceId.localeCompare(b.deviceId))
      .map((s) => {
        const a = analyses.get(s.deviceId);
        const same = a && a.version === s.version;
        return {
          id: s.deviceId,
          online: s.online,
          model: s.model,
          version: s.version,
          state: s.state,
          health: s.health,
          p95Ms: (same ? a.p95Ms : null) ?? s.p95Ms,
          liveAccuracy: same ? a.liveAccuracy : null,
          labels: same ? a.labels : 0,
          drift: same ? a.drift : null,
          lastSeen: s.updatedAt,
          lastError: s.lastError,
        };
      });
  await client.subscribeAsync([topics.allStatuses(), topics.allFleetDevices()], { qos: 0 });
  // Retained messages arrive in a burst: the scan is done once the burst has been quiet a moment.
  while (Date.now() - last < o.quietMs) await new Promise((r) => setTimeout(r, 50));
  if (!o.watch) {
    await client.endAsync();
    if (o.json) printJson(rows());
    else process.stdout.write(fleetTable(rows()));
    return;
  }
  const render = () => process.stdout.write(`\x1b[2J\x1b[H${new Date().toISOString()}\n${fleetTable(rows())}`);
  render();
  const timer = setInterval(render, 1000);
  await untilSignal();
  clearInterval(timer);
  await client.endAsync();
}

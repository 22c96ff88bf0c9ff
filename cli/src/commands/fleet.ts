/**
 * `edgeml fleet status`: the fleet as the broker holds it: every device's retained status
 * (its last known state and version), its presence (online or not), the hub's analysis of it
 * (live accuracy, drift) and the version the hub wants it on. Read at QoS 0, so a broker's
 * queue limits for QoS 1 subscribers (Mosquitto's max_queued_messages) do not cut the scan short.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import {
  DesiredStateSchema,
  DeviceStatusSchema,
  EdgemlError,
  PresenceSchema,
  checkFailed,
  convergence,
  deviceIdOfTopic,
  topics,
  userError,
  type Convergence,
  type DesiredState,
  type DeviceStatus,
  type Presence,
} from '@edgeml/core';
import type { DeviceAnalysis } from '@edgeml/hub';
import { formatTable } from '../output/table.js';
import { printJson } from './options.js';
import { untilSignal } from './signals.js';

export interface FleetFlags {
  /** Unset: the broker of the hub in --data-dir, else mqtt://127.0.0.1:1883. */
  broker?: string;
  username?: string;
  password?: string;
  ca?: string;
  dataDir?: string;
  json?: boolean;
  watch?: boolean;
  quietMs: number;
  waitConverged?: boolean;
  timeout?: string;
}

export interface FleetRow {
  id: string;
  online: boolean;
  model: string | null;
  /** The last version the device reported, kept while it is offline. */
  version: number | null;
  state: string;
  health: string;
  desiredVersion: number | null;
  convergence: Convergence | null;
  p95Ms: number | null;
  liveAccuracy: number | null;
  labels: number;
  drift: number | null;
  lastSeen: string;
  /** The latest time the device was heard from, as far as the broker's retained messages tell. */
  lastContact: string;
  lastError: string | null;
}

const DEFAULT_BROKER = 'mqtt://127.0.0.1:1883';

const dataDirOf = (o: FleetFlags) => resolve(o.dataDir ?? '.edgeml/hub');

async function credentials(o: FleetFlags): Promise<{ username?: string; password?: string }> {
  if (o.username) return { username: o.username, password: o.password ?? process.env.EDGEML_BROKER_PASSWORD ?? '' };
  try {
    const s = JSON.parse(await readFile(join(dataDirOf(o), 'secrets.json'), 'utf8')) as { operator: string };
    return { username: 'edgeml-operator', password: s.operator };
  } catch {
    return {};
  }
}

/** The broker as given, else the one the hub in --data-dir wrote down when it started. */
async function brokerUrl(o: FleetFlags): Promise<string> {
  if (o.broker) return o.broker;
  try {
    const info = JSON.parse(await readFile(join(dataDirOf(o), 'hub.json'), 'utf8')) as { brokerUrl?: unknown };
    if (typeof info.brokerUrl === 'string') return info.brokerUrl;
  } catch {
    // No hub has run from this data dir: the default broker.
  }
  return DEFAULT_BROKER;
}

function parseTimeout(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw userError('bad-usage', `--timeout "${text}" is not a duration like 90s, 10m or 1h`);
  return Number(m[1]) * { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
}

const fmt = (v: number | null, digits: number, scale = 1, suffix = '') => (v === null ? '-' : `${(v * scale).toFixed(digits)}${suffix}`);

/** `online, v2` or `offline, v2, last contact 2026-...`. */
const liveness = (r: FleetRow) => `${r.online ? 'online' : 'offline'}, v${r.version ?? '-'}${r.online ? '' : `, last contact ${r.lastContact}`}`;

export function fleetTable(rows: FleetRow[]): string {
  const table = formatTable(
    ['device', 'status', 'model', 'state', 'desired', 'p95 ms', 'live acc', 'drift', 'last seen'],
    rows.map((r) => [
      r.id,
      liveness(r),
      r.model ?? '-',
      r.state,
      r.desiredVersion === null ? '-' : `v${r.desiredVersion} ${r.convergence}`,
      fmt(r.p95Ms, 3),
      r.labels ? `${fmt(r.liveAccuracy, 1, 100, '%')} (${r.labels})` : '-',
      fmt(r.drift, 3),
      r.lastSeen,
    ]),
  );
  const byVersion = new Map<string, FleetRow[]>();
  for (const r of rows) {
    const key = `${r.model ?? '-'} v${r.version ?? '-'}`;
    byVersion.set(key, [...(byVersion.get(key) ?? []), r]);
  }
  const summary = [...byVersion.entries()].map(([k, rs]) => `${k}: ${rs.length} device${rs.length > 1 ? 's' : ''}, ${rs.filter((r) => r.online).length} online, ${rs.filter((r) => r.state === 'active').length} active`);
  const pending = rows.filter((r) => r.convergence !== null && r.convergence !== 'converged');
  const converged = `${rows.length - pending.length} of ${rows.length} device${rows.length === 1 ? '' : 's'} on their desired version`;
  return `${table}\n\n${summary.join('\n')}\n${converged}\n`;
}

/** What the broker holds, kept up to date as retained and live messages arrive. */
class FleetView {
  readonly statuses = new Map<string, DeviceStatus>();
  readonly presence = new Map<string, Presence>();
  readonly analyses = new Map<string, DeviceAnalysis>();
  /** Keyed `model/channel` for a channel, `model/channel/device` for one device. */
  readonly desired = new Map<string, DesiredState>();
  last = Date.now();

  take(topic: string, payload: Buffer): void {
    const desiredPrefix = topics.allDesired().slice(0, -1);
    if (topic.startsWith(desiredPrefix)) {
      const key = topic.slice(desiredPrefix.length);
      if (payload.length === 0) this.desired.delete(key);
      else this.parse(payload, DesiredStateSchema, (d) => this.desired.set(key, d));
      return;
    }
    if (payload.length === 0) return;
    const id = deviceIdOfTopic(topic) ?? topic.split('/').pop()!;
    if (topic.endsWith('/status')) this.parse(payload, DeviceStatusSchema, (s) => this.statuses.set(id, s));
    else if (topic.endsWith('/presence')) this.parse(payload, PresenceSchema, (p) => this.presence.set(id, p));
    // The hub's own analysis: trusted as the hub wrote it.
    else this.parse(payload, { safeParse: (x: unknown) => ({ success: true, data: x as DeviceAnalysis }) }, (a) => this.analyses.set(id, a));
  }

  private parse<T>(payload: Buffer, schema: { safeParse(x: unknown): { success: boolean; data?: T } }, keep: (v: T) => void): void {
    try {
      const r = schema.safeParse(JSON.parse(payload.toString('utf8')));
      if (r.success) keep(r.data as T);
      this.last = Date.now();
    } catch {
      // A malformed retained message is one device's problem, not the report's.
    }
  }

  /** The device's own entry on any channel of its model, else the model's only channel, else `stable`. */
  private desiredFor(model: string, id: string): DesiredState | undefined {
    const own = [...this.desired.values()].filter((d) => d.model === model && d.deviceId === id).sort((a, b) => b.at.localeCompare(a.at))[0];
    if (own) return own;
    const channels = [...this.desired.values()].filter((d) => d.model === model && d.deviceId === null);
    return channels.length === 1 ? channels[0] : channels.find((d) => d.channel === 'stable');
  }

  rows(): FleetRow[] {
    return [...this.statuses.values()]
      .sort((a, b) => a.deviceId.localeCompare(b.deviceId))
      .map((s) => {
        const a = this.analyses.get(s.deviceId);
        const same = a && a.version === s.version;
        const p = this.presence.get(s.deviceId);
        // A presence message says whether the device is connected; an older agent only has its status.
        const online = p ? p.online : s.online;
        const want = s.model ? this.desiredFor(s.model, s.deviceId) : undefined;
        const lastContact = p && p.at > s.updatedAt ? p.at : s.updatedAt;
        return {
          id: s.deviceId,
          online,
          model: s.model,
          version: s.version,
          state: s.state,
          health: s.health,
          desiredVersion: want?.version ?? null,
          convergence: want ? convergence(s, want.version) : null,
          p95Ms: (same ? a.p95Ms : null) ?? s.p95Ms,
          liveAccuracy: same ? a.liveAccuracy : null,
          labels: same ? a.labels : 0,
          drift: same ? a.drift : null,
          lastSeen: s.updatedAt,
          lastContact,
          lastError: s.lastError,
        };
      });
  }
}

async function connectBroker(o: FleetFlags): Promise<MqttClient> {
  const url = await brokerUrl(o);
  const creds = await credentials(o);
  try {
    return await connectAsync(url, { ...creds, reconnectPeriod: 0, connectTimeout: 5000, clientId: creds.username ? `${creds.username}:fleet-${process.pid}-${Date.now()}` : `edgeml-fleet-${process.pid}-${Date.now()}`, ...(o.ca ? { ca: await readFile(o.ca, 'utf8') } : {}) });
  } catch (e) {
    throw new EdgemlError('broker-unreachable', `cannot read the fleet from ${url}: ${(e as Error).message}`, { exitCode: 2 });
  }
}

export async function fleetStatus(o: FleetFlags): Promise<void> {
  const timeoutMs = o.waitConverged ? parseTimeout(o.timeout ?? '10m') : 0;
  const client = await connectBroker(o);
  const view = new FleetView();
  client.on('message', (topic, payload) => view.take(topic, payload));
  try {
    await client.subscribeAsync([topics.allStatuses(), topics.allFleetDevices()], { qos: 0 });
    // Presence and desired state are newer; a broker whose ACL predates them refuses them, and
    // the report falls back to what statuses say.
    await client.subscribeAsync([topics.allPresence(), topics.allDesired()], { qos: 0 }).catch(() => undefined);
    // Retained messages arrive in a burst: the scan is done once the burst has been quiet a moment.
    while (Date.now() - view.last < o.quietMs) await new Promise((r) => setTimeout(r, 50));
    if (o.waitConverged) return await waitConverged(view, o, timeoutMs);
    if (!o.watch) {
      if (o.json) printJson(view.rows());
      else process.stdout.write(fleetTable(view.rows()));
      return;
    }
    const render = () => process.stdout.write(`\x1b[2J\x1b[H${new Date().toISOString()}\n${fleetTable(view.rows())}`);
    render();
    const timer = setInterval(render, 1000);
    await untilSignal();
    clearInterval(timer);
  } finally {
    await client.endAsync();
  }
}

/** Exit 0 once every device runs its desired version; exit 1 (a failed check) on timeout. */
async function waitConverged(view: FleetView, o: FleetFlags, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = view.rows();
    const behind = rows.filter((r) => r.convergence !== null && r.convergence !== 'converged');
    if (behind.length === 0) {
      if (o.json) printJson(rows);
      else process.stdout.write(`converged: ${rows.length} device${rows.length === 1 ? '' : 's'} on their desired version\n`);
      return;
    }
    if (Date.now() >= deadline) {
      if (o.json) printJson(rows);
      const list = behind.slice(0, 10).map((r) => `${r.id} (${r.convergence}: ${liveness(r)}, wants v${r.desiredVersion})`);
      throw checkFailed('not-converged', `${behind.length} device${behind.length === 1 ? '' : 's'} not on the desired version after ${timeoutMs} ms: ${list.join('; ')}${behind.length > 10 ? '; ...' : ''}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Liveness apart from status, and a stop that loses nothing: a device's presence will marks it
 * offline while the hub keeps its last known version; any message counts as contact; every
 * record the broker acknowledged before a graceful stop is in the registry afterwards.
 */
import { join } from 'node:path';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LATENCY_BUCKETS_MS, topics, type DeviceStatus, type Telemetry } from '@edgeml/core';
import { Registry } from '@edgeml/hub';
import { edgeml, tempDir } from '../helpers/cli.js';
import { irisModel, publishModel, startTestHub, waitFor, type TestHub } from '../helpers/fleet.js';
import { telemetryFor } from '../hostile/records.js';

let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('liveness'));
});
afterAll(async () => cleanup?.());

async function enroll(t: TestHub, id: string): Promise<{ username: string; password: string }> {
  const res = await fetch(new URL('/v1/enroll', t.hub.httpUrl), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: t.hub.createEnrollToken(), deviceId: id }) });
  expect(res.status).toBe(200);
  return (await res.json()) as { username: string; password: string };
}

const status = (id: string, version: number): DeviceStatus => ({
  deviceId: id, online: true, state: 'active', model: 'iris', version, sha256: null, previousVersion: null, health: 'ok',
  lastError: null, failedVersion: null, tags: [], p95Ms: null, requests: 0, updatedAt: new Date().toISOString(),
});

const telemetry = (id: string, seq: number): Telemetry => ({
  type: 'telemetry', id: String(seq), deviceId: id, model: 'iris', version: 3, from: new Date().toISOString(), to: new Date().toISOString(),
  requests: 1, rows: 1, errors: 0, rejected: 0, latencyBuckets: new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0), predictions: {}, features: [], evicted: 0,
});

/** A device as the new agents connect: presence on, presence off as its will, then its status. */
async function device(t: TestHub, id: string, extra: Partial<IClientOptions> = {}): Promise<MqttClient> {
  const creds = await enroll(t, id);
  const client = await connectAsync(t.hub.brokerUrl, {
    ...creds,
    clientId: id,
    reconnectPeriod: 0,
    will: { topic: topics.presence(id), payload: Buffer.from(JSON.stringify({ deviceId: id, online: false, at: new Date().toISOString() })), qos: 1, retain: true },
    ...extra,
  });
  await client.publishAsync(topics.presence(id), JSON.stringify({ deviceId: id, online: true, at: new Date().toISOString() }), { qos: 1, retain: true });
  await client.publishAsync(topics.status(id), JSON.stringify(status(id, 3)), { qos: 1, retain: true });
  return client;
}

describe('liveness', () => {
  let t: TestHub;
  beforeAll(async () => {
    t = await startTestHub({}, join(dir, 'presence'));
  });
  afterAll(async () => t?.stop());

  it('marks a device offline from its presence will and keeps its last known version', async () => {
    const client = await device(t, 'live-1');
    await waitFor('live-1 online on v3', () => (t.hub.registry.getDevice('live-1')?.online && t.hub.registry.getDevice('live-1')?.version === 3 ? true : undefined), 10_000, 20);
    // Gone without a DISCONNECT: the broker publishes the will.
    client.stream.destroy();
    const away = await waitFor('live-1 offline', () => {
      const d = t.hub.registry.getDevice('live-1');
      return d && !d.online ? d : undefined;
    }, 10_000, 20);
    expect(away).toMatchObject({ version: 3, state: 'active' });
    expect(away.lastContact).not.toBeNull();

    const r = await edgeml(['fleet', 'status', '--broker', t.hub.brokerUrl, '--username', t.hub.operator.username, '--password', t.hub.operator.password, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { id: string; online: boolean; version: number }[]).find((d) => d.id === 'live-1')).toMatchObject({ online: false, version: 3 });
    const text = await edgeml(['fleet', 'status', '--broker', t.hub.brokerUrl, '--username', t.hub.operator.username, '--password', t.hub.operator.password]);
    expect(text.stdout).toMatch(/live-1\s+offline, v3, last contact \d{4}-/);
  });

  it('counts any message as contact without touching the last status', async () => {
    const client = await device(t, 'live-2');
    try {
      const first = await waitFor('live-2 seen', () => t.hub.registry.getDevice('live-2') ?? undefined, 10_000, 20);
      const contact0 = await waitFor('live-2 contact', () => t.hub.registry.getDevice('live-2')?.lastContact ?? undefined, 10_000, 20);
      await new Promise((r) => setTimeout(r, 5));
      await client.publishAsync(topics.telemetry('live-2'), JSON.stringify(telemetry('live-2', 1)), { qos: 1 });
      const later = await waitFor('a later contact', () => {
        const d = t.hub.registry.getDevice('live-2');
        return d?.lastContact && d.lastContact > contact0 ? d : undefined;
      }, 10_000, 20);
      expect(later.lastSeen).toBe(first.lastSeen);
      expect(later.online).toBe(true);
    } finally {
      await client.endAsync();
    }
  });
});

describe('graceful stop', () => {
  it('stores every device record the broker acknowledged before the hub stopped', async () => {
    const t = await startTestHub({}, join(dir, 'stop'));
    // Records must name a published release to be admitted (docs/PROTOCOL.md, "Admission").
    const release = (await publishModel(t.hub, await irisModel())).envelope.signed;
    const id = 'stop-1';
    const client = await device(t, id, { reconnectPeriod: 0 });
    const acked: string[] = [];
    let closing: Promise<void> | undefined;
    // A publish in flight when the connection drops is never acknowledged: it just never settles.
    const dropped = new Promise<'dropped'>((r) => client.once('close', () => r('dropped')));
    // Records go out back to back; part-way, the hub is asked to stop while they keep coming.
    for (let seq = 1; seq <= 5000 && client.connected; seq++) {
      if (seq === 300) closing = t.hub.close();
      const stopped = closing?.then(() => 'dropped' as const);
      const got = await Promise.race([client.publishAsync(topics.telemetry(id), JSON.stringify(telemetryFor(id, release, { id: String(seq) })), { qos: 1 }).then(() => 'acked' as const, () => 'dropped' as const), dropped, ...(stopped ? [stopped] : [])]);
      if (got !== 'acked') break;
      acked.push(String(seq));
    }
    await closing;
    client.end(true);
    const registry = new Registry(join(dir, 'stop', 'hub', 'registry.sqlite'));
    try {
      const stored = registry.fleet.telemetryTotals('iris').find((x) => x.deviceId === id)?.records ?? 0;
      expect(acked.length).toBeGreaterThanOrEqual(299);
      expect(stored).toBe(acked.length);
    } finally {
      registry.close();
    }
  });
});

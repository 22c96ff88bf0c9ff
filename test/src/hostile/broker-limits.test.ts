/**
 * What one device may cost the hub and its embedded broker: no retained messages outside its
 * status and presence, no packet beyond the size limit, no publish rate beyond its bucket, and
 * an analysis whose cost does not grow with everything it ever sent.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOPIC_ROOT, topics, type Release } from '@edgeml/core';
import { enrollDevice } from '@edgeml/agent';
import { Registry, analyseDevice } from '@edgeml/hub';
import { tempDir } from '../helpers/cli.js';
import { irisModel, publishModel, startTestHub, waitFor, type TestHub } from '../helpers/fleet.js';
import { counterValue, mqttAs, spawnHub, type HubProcess } from './hub-process.js';
import { statusFor, telemetryFor } from './records.js';

const clients: MqttClient[] = [];
const keep = (c: MqttClient) => (clients.push(c), c);
afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)));
});

const closed = (c: MqttClient, timeoutMs: number) =>
  new Promise<boolean>((resolve) => {
    if (!c.connected) return resolve(true);
    const timer = setTimeout(() => resolve(false), timeoutMs);
    c.once('close', () => (clearTimeout(timer), resolve(true)));
  });

const rssMb = async (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

describe('the embedded broker, in a hub process', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let hub: HubProcess;
  let creds: { username: string; password: string };

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('hostile-broker'));
    const t = await startTestHub({}, dir);
    const cfg = await enrollDevice({ hubUrl: t.hub.httpUrl!, token: t.hub.createEnrollToken(), deviceId: 'hoarder', model: 'iris', dataDir: join(dir, 'hoarder'), configPath: join(dir, 'hoarder', 'agent.json') });
    creds = { username: cfg.broker.username!, password: cfg.broker.password! };
    await t.stop();
    hub = await spawnHub(join(dir, 'hub'));
  });
  afterAll(async () => {
    await hub?.kill();
    await cleanup?.();
  });

  it('keeps no retained message of a device outside its status and presence (300 x 1 MB do not stay in memory)', async () => {
    const c = keep(await mqttAs(hub.brokerUrl, creds.username, creds.password));
    await c.publishAsync(topics.status('hoarder'), JSON.stringify(statusFor('hoarder', null)), { qos: 1, retain: true });
    const before = await rssMb(hub.child.pid!);
    const mb = Buffer.alloc(1 << 20, 7);
    for (let i = 0; i < 300; i++) await c.publishAsync(`${TOPIC_ROOT}/devices/hoarder/junk/${i}`, mb, { qos: 1, retain: true });
    // What a new subscriber to the device's subtree is handed: its status, nothing else.
    const reader = keep(await mqttAs(hub.brokerUrl, creds.username, creds.password, { clientId: 'hoarder:reader' }));
    const got: string[] = [];
    reader.on('message', (topic) => got.push(topic));
    await reader.subscribeAsync(`${TOPIC_ROOT}/devices/hoarder/#`, { qos: 1 });
    await waitFor('the retained status', () => (got.includes(topics.status('hoarder')) ? true : undefined), 20_000);
    // A sentinel after the retained burst: anything retained would have arrived before it.
    await c.publishAsync(`${TOPIC_ROOT}/devices/hoarder/sentinel`, 'x', { qos: 1 });
    await waitFor('the sentinel', () => (got.includes(`${TOPIC_ROOT}/devices/hoarder/sentinel`) ? true : undefined), 20_000);
    expect(got.filter((t) => t.includes('/junk/'))).toEqual([]);
    const grown = (await rssMb(hub.child.pid!)) - before;
    // Retained, 300 MB would stay; passing through costs transient buffers at most.
    expect(grown).toBeLessThan(150);
    const metrics = (await hub.get('/metrics')).text;
    expect(counterValue(metrics, 'edgeml_hub_device_violations_total', { device: 'hoarder', reason: 'retain-refused' })).toBe(300);
  });

  it('disconnects a device that announces a 100 MB publish, before buffering it, and stays up', async () => {
    const c = keep(await mqttAs(hub.brokerUrl, creds.username, creds.password));
    const gone = closed(c, 60_000);
    c.publish(topics.telemetry('hoarder'), Buffer.alloc(100 << 20, 1), { qos: 1 }, () => undefined);
    expect(await gone).toBe(true);
    const metrics = (await hub.get('/metrics')).text;
    expect(counterValue(metrics, 'edgeml_hub_device_violations_total', { device: 'hoarder', reason: 'packet-too-large' })).toBe(1);
    expect(hub.exited()).toBe(false);
    expect((await hub.get('/v1/fleet')).status).toBe(200);
  });
});

describe('publish rate limits', () => {
  let t: TestHub;
  let release: Release;
  let creds: { username: string; password: string };
  beforeAll(async () => {
    t = await startTestHub({ brokerLimits: { devicePublishRate: 50, devicePublishBurst: 20, maxThrottleMs: 3_000 } });
    release = (await publishModel(t.hub, await irisModel())).envelope.signed;
    const cfg = await enrollDevice({ hubUrl: t.hub.httpUrl!, token: t.hub.createEnrollToken(), deviceId: 'chatty', model: 'iris', dataDir: join(t.dir, 'chatty'), configPath: join(t.dir, 'chatty', 'agent.json') });
    creds = { username: cfg.broker.username!, password: cfg.broker.password! };
  });
  afterAll(async () => {
    await t?.stop();
  });
  const stored = () => t.hub.registry.fleet.telemetryTotals('iris').find((r) => r.deviceId === 'chatty')?.records ?? 0;

  it('holds back a device over its rate without losing its acknowledged records', async () => {
    const c = keep(await mqttAs(t.hub.brokerUrl, creds.username, creds.password));
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 80 }, () => c.publishAsync(topics.telemetry('chatty'), JSON.stringify(telemetryFor('chatty', release)), { qos: 1 })));
    // 20 at once, then 50/s: the last acknowledgement comes after about 1.2 s (within the 3 s backlog).
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1_000);
    await waitFor('all 80 records stored', () => (stored() === 80 ? true : undefined), 20_000);
    expect(c.connected).toBe(true);
    await c.endAsync();
  });

  it('slows a flooding device to its rate, and counts it', async () => {
    const c = keep(await mqttAs(t.hub.brokerUrl, creds.username, creds.password));
    const before = stored();
    const t0 = Date.now();
    for (let i = 0; i < 2_000; i++) c.publish(topics.telemetry('chatty'), JSON.stringify(telemetryFor('chatty', release)), { qos: 0 });
    await waitFor('some of the flood stored', () => (stored() - before >= 100 ? true : undefined), 30_000);
    const elapsed = (Date.now() - t0) / 1000;
    // A full bucket (20), then 50/s: never the 2,000 at once.
    expect(stored() - before).toBeLessThanOrEqual(20 + 50 * (elapsed + 1));
    const text = await (await fetch(`${t.hub.httpUrl}/metrics`)).text();
    expect(counterValue(text, 'edgeml_hub_device_violations_total', { device: 'chatty', reason: 'rate-limited' })).toBeGreaterThanOrEqual(1);
    await c.endAsync(true);
  });

  it('disconnects a device whose burst overruns the backlog the broker holds', async () => {
    const c = keep(await mqttAs(t.hub.brokerUrl, creds.username, creds.password));
    const gone = closed(c, 30_000);
    // Tiny packets: one read of the socket holds thousands, far beyond 3 s at 50/s.
    for (let i = 0; i < 20_000 && c.connected; i++) c.publish(topics.telemetry('chatty'), '{}', { qos: 0 });
    expect(await gone).toBe(true);
    expect((await fetch(`${t.hub.httpUrl}/v1/fleet`, { headers: { authorization: `Bearer ${t.hub.adminToken}` } })).status).toBe(200);
  });
});

describe('analysis cost', () => {
  it("merges a bounded window of a device's newest records, however many are stored", async () => {
    const { dir, cleanup } = await tempDir('hostile-window');
    const t = await startTestHub({}, dir);
    try {
      const release = (await publishModel(t.hub, await irisModel())).envelope.signed;
      t.hub.registry.upsertDevice(statusFor('busy', release));
      const registry = new Registry(join(dir, 'hub', 'registry.sqlite'));
      try {
        for (let i = 0; i < 20_000; i++) registry.fleet.addTelemetry(telemetryFor('busy', release), new Date(Date.now() - (20_000 - i) * 1000).toISOString());
      } finally {
        registry.close();
      }
      const a = analyseDevice(t.hub.registry, 'busy')!;
      expect(a.records).toBe(500);
      // Every request sits in the (0.05, 0.1] ms bucket; p95 is interpolated within it.
      expect(a.p95Ms).toBeGreaterThan(0.05);
      expect(a.p95Ms).toBeLessThanOrEqual(0.1);
    } finally {
      await t.stop();
      await cleanup();
    }
  });
});

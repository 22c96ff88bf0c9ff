/**
 * One enrolled device against the hub, as its own process: schema-valid but inconsistent
 * records must be refused and counted, never crash the hub, and rows already stored by an older
 * hub must not crash it at start.
 */
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics, type Release, type Telemetry } from '@edgeml/core';
import { enrollDevice } from '@edgeml/agent';
import { Registry } from '@edgeml/hub';
import { tempDir } from '../helpers/cli.js';
import { irisModel, publishModel, startTestHub } from '../helpers/fleet.js';
import { counterValue, mqttAs, spawnHub, type HubProcess } from './hub-process.js';
import { statusFor, telemetryFor } from './records.js';

let dir: string;
let cleanup: () => Promise<void>;
let release: Release;
let creds: { username: string; password: string };
let hub: HubProcess | undefined;
const clients: MqttClient[] = [];

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('hostile-input'));
  // Publish a model and enrol the device with an in-process hub, then run the hub on its own.
  const t = await startTestHub({}, dir);
  release = (await publishModel(t.hub, await irisModel())).envelope.signed;
  const cfg = await enrollDevice({ hubUrl: t.hub.httpUrl!, token: t.hub.createEnrollToken(), deviceId: 'poison', model: 'iris', dataDir: join(dir, 'poison'), configPath: join(dir, 'poison', 'agent.json') });
  creds = { username: cfg.broker.username!, password: cfg.broker.password! };
  await t.stop();
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)));
  await hub?.kill();
  await cleanup?.();
});

async function device(h: HubProcess): Promise<MqttClient> {
  const c = await mqttAs(h.brokerUrl, creds.username, creds.password);
  clients.push(c);
  return c;
}

/** Resolves with the first analysis of `deviceId` the hub publishes after this call. */
async function nextAnalysis(h: HubProcess, deviceId: string, after: number): Promise<Record<string, unknown>> {
  const s = await h.secrets();
  const op = await mqttAs(h.brokerUrl, 'edgeml-operator', s.operator, { clientId: `edgeml-operator:${Date.now()}` });
  clients.push(op);
  const got = new Promise<Record<string, unknown>>((resolve) =>
    op.on('message', (_t, p) => {
      const a = JSON.parse(p.toString()) as Record<string, unknown>;
      if (Date.parse(String(a.updatedAt)) > after) resolve(a);
    }),
  );
  await op.subscribeAsync(topics.fleetDevice(deviceId), { qos: 1 });
  return got;
}

const send = (c: MqttClient, t: Telemetry) => c.publishAsync(topics.telemetry(t.deviceId), JSON.stringify(t), { qos: 1 });

describe('a device cannot crash the hub with what it reports', () => {
  it('refuses and counts telemetry whose feature arrays differ in length, and stays up', async () => {
    hub = await spawnHub(join(dir, 'hub'));
    const c = await device(hub);
    await c.publishAsync(topics.status('poison'), JSON.stringify(statusFor('poison', release)), { qos: 1, retain: true });
    const sent = Date.now();
    const analysed = nextAnalysis(hub, 'poison', sent);
    // Shorter first: the old analysis sized its histograms from the first record it read.
    await send(c, telemetryFor('poison', release, { features: telemetryFor('poison', release).features.slice(0, 3) }));
    await send(c, telemetryFor('poison', release));
    const a = await Promise.race([analysed, hub.crashed]);
    // Every request sits in the (0.05, 0.1] ms bucket; p95 is interpolated within it.
    expect(a.p95Ms).toBeGreaterThan(0.05);
    expect(a.p95Ms).toBeLessThanOrEqual(0.1);
    expect(hub.exited()).toBe(false);
    const metrics = (await hub.get('/metrics')).text;
    expect(counterValue(metrics, 'edgeml_hub_device_violations_total', { device: 'poison', reason: 'feature-count' })).toBe(1);
    expect((await hub.get('/v1/fleet')).status).toBe(200);
  });

  it('starts and analyses with inconsistent rows already stored', async () => {
    await hub!.kill();
    // Rows an older hub stored without admission checks: the wrong layout, and unreadable JSON.
    const registry = new Registry(join(dir, 'hub', 'registry.sqlite'));
    const good = telemetryFor('poison', release);
    registry.fleet.addTelemetry({ ...good, id: 'short', features: good.features.slice(0, 2) });
    registry.fleet.addTelemetry({ ...good, id: 'extra-bucket', latencyBuckets: [...good.latencyBuckets, 5] });
    registry.fleet.addTelemetry({ ...good, id: 'extra-bins', features: good.features.map((f) => ({ ...f, histogram: [...f.histogram, 1] })) });
    registry.close();
    hub = await spawnHub(join(dir, 'hub'));
    const c = await device(hub);
    const sent = Date.now();
    const analysed = nextAnalysis(hub, 'poison', sent);
    await c.publishAsync(topics.status('poison'), JSON.stringify(statusFor('poison', release)), { qos: 1, retain: true });
    await send(c, telemetryFor('poison', release));
    const a = await Promise.race([analysed, hub.crashed]);
    // Only well-formed records count: the p95 comes out of the fixed bucket layout.
    // Every request sits in the (0.05, 0.1] ms bucket; p95 is interpolated within it.
    expect(a.p95Ms).toBeGreaterThan(0.05);
    expect(a.p95Ms).toBeLessThanOrEqual(0.1);
    const fleet = await hub.get('/v1/fleet');
    expect(fleet.status).toBe(200);
    expect(hub.exited()).toBe(false);
  });
});

/**
 * A rollout whose p95 gate must halt halts, whatever one device reports: a lying device sends a
 * latency histogram with one bucket too many (the old hub merged it into NaN, the p95 became
 * null and the gate was skipped), while an honest agent serves real traffic slower than the gate.
 */
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LATENCY_BUCKETS_MS, topics, type Release } from '@edgeml/core';
import { enrollDevice, type Agent } from '@edgeml/agent';
import { irisModel, publishModel, startTestAgent, startTestHub, untilStatus, waitFor, type TestHub } from '../helpers/fleet.js';
import { mqttAs } from './hub-process.js';
import { statusFor, telemetryFor } from './records.js';

let t: TestHub;
let honest: Agent;
let liar: MqttClient;

beforeAll(async () => {
  t = await startTestHub();
  const c = await irisModel();
  const v1 = (await publishModel(t.hub, c)).envelope.signed;
  ({ agent: honest } = await startTestAgent(t, 'honest', { telemetry: { periodMs: 300 } }));
  await untilStatus(honest, 'honest on v1', (s) => s.state === 'active' && s.version === 1);
  const cfg = await enrollDevice({ hubUrl: t.hub.httpUrl!, token: t.hub.createEnrollToken(), deviceId: 'liar', model: 'iris', dataDir: join(t.dir, 'liar'), configPath: join(t.dir, 'liar', 'agent.json') });
  liar = await mqttAs(t.hub.brokerUrl, cfg.broker.username!, cfg.broker.password!);
  await liar.publishAsync(topics.status('liar'), JSON.stringify(statusFor('liar', v1)), { qos: 1, retain: true });
  await waitFor('both devices on v1 at the hub', () => (t.hub.registry.listDevices().filter((d) => d.version === 1 && d.online).length === 2 ? true : undefined), 30_000);
});
afterAll(async () => {
  await liar?.endAsync(true);
  await honest?.close();
  await t?.stop();
});

describe('the p95 gate', () => {
  it('halts a rollout slower than its gate although one device reports a histogram with a bucket too many', async () => {
    const v2: Release = (await publishModel(t.hub, await irisModel(), { stage: true })).envelope.signed;
    // Below the smallest bucket bound (0.01 ms): any real traffic is slower, so the gate must fail.
    const r = t.hub.rollouts.create('iris', v2.version, { canary: { count: 2 }, waves: [100], soakMs: 5_000, benchmark: false, waveTimeoutMs: 120_000, gates: { maxP95Ms: 0.005 } });
    // The liar is on the new version at once, before the honest agent has reported anything.
    await liar.publishAsync(topics.status('liar'), JSON.stringify(statusFor('liar', v2)), { qos: 1, retain: true });
    const poison = telemetryFor('liar', v2, { latencyBuckets: [...new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0), 1_000] });
    poison.latencyBuckets[0] = 1_000;
    await liar.publishAsync(topics.telemetry('liar'), JSON.stringify(poison), { qos: 1 });
    await untilStatus(honest, 'honest on v2', (s) => s.state === 'active' && s.version === v2.version, 60_000);
    const final = await waitFor(
      'the rollout to end',
      async () => {
        // Real traffic on the honest device, so it reports real latencies.
        for (let i = 0; i < 20; i++) await fetch(`${honest.apiUrl}/v1/predict`, { method: 'POST', body: JSON.stringify({ row: [5.1, 3.5, 1.4, 0.2] }) }).then((res) => res.text());
        const now = t.hub.registry.rollouts.get(r.id)!;
        return ['halted', 'completed', 'aborted'].includes(now.state) ? now : undefined;
      },
      120_000,
      50,
    );
    expect(final.state).toBe('halted');
    expect(final.reason).toMatch(/p95 latency .* above 0.005 ms/);
  });
});

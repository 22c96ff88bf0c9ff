/**
 * A property-based fuzzer at a real hub process over its real broker: enrolled devices (bound
 * and legacy) send malformed and adversarial statuses, telemetry, feedback and command results
 * built by fast-check around honest records. After every batch the hub must still be running
 * and analysing; afterwards it answers /v1/fleet and a rollout's p95 gate still halts a slow
 * release. The budget is a few hundred messages in `npm test`; EDGEML_FUZZ_MESSAGES raises it
 * (`npm run fuzz`: 5,000 by default) and EDGEML_FUZZ_SEED replays a run.
 */
import { join } from 'node:path';
import fc from 'fast-check';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LATENCY_BUCKETS_MS, topics, type Release } from '@edgeml/core';
import { enrollDevice } from '@edgeml/agent';
import { tempDir } from '../helpers/cli.js';
import { irisModel, publishModel, startTestHub, waitFor } from '../helpers/fleet.js';
import { counterValue, mqttAs, spawnHub, type HubProcess } from './hub-process.js';
import { feedbackFor, statusFor, telemetryFor } from './records.js';

const MESSAGES = Number(process.env.EDGEML_FUZZ_MESSAGES ?? 400);
const SEED = Number(process.env.EDGEML_FUZZ_SEED ?? 1207);
const BATCH = 25;
const FUZZERS = ['fz-bound-0', 'fz-bound-1', 'fz-legacy-0', 'fz-legacy-1'] as const;

let dir: string;
let cleanup: () => Promise<void>;
let hub: HubProcess;
let v1: Release;
let v2: Release;
const creds = new Map<string, { username: string; password: string }>();
const clients = new Map<string, MqttClient>();

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('hostile-fuzz'));
  const t = await startTestHub({}, dir);
  const c = await irisModel();
  v1 = (await publishModel(t.hub, c)).envelope.signed;
  v2 = (await publishModel(t.hub, c, { stage: true })).envelope.signed;
  for (const id of [...FUZZERS, 'fz-sentinel', 'fz-gate']) {
    const scope = id.startsWith('fz-bound') ? { model: 'iris', channel: 'stable', tags: [] } : undefined;
    const cfg = await enrollDevice({ hubUrl: t.hub.httpUrl!, token: t.hub.createEnrollToken(undefined, scope), deviceId: id, model: 'iris', dataDir: join(dir, id), configPath: join(dir, id, 'agent.json') });
    creds.set(id, { username: cfg.broker.username!, password: cfg.broker.password! });
  }
  await t.stop();
  hub = await spawnHub(join(dir, 'hub'));
  for (const [id, c] of creds) clients.set(id, await mqttAs(hub.brokerUrl, c.username, c.password));
}, 180_000);
afterAll(async () => {
  await Promise.all([...clients.values()].map((c) => c.endAsync(true)));
  await hub?.kill();
  await cleanup?.();
});

type Kind = 'status' | 'telemetry' | 'feedback' | 'result';
interface Message {
  device: string;
  kind: Kind;
  payload: string | Uint8Array;
}

const topicOf = (kind: Kind, id: string) => ({ status: topics.status, telemetry: topics.telemetry, feedback: topics.feedback, result: topics.commandResult })[kind](id);

/** Numbers a device may send that a careless reader trips over. */
const nasty = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(1e39, -1e39, 3.5e38, 2 ** 53 + 2, -1, 0, 0.5, 1e308, Number.MAX_SAFE_INTEGER),
);
const value = fc.oneof(fc.jsonValue({ maxDepth: 2 }), nasty, fc.array(nasty, { maxLength: 20 }), fc.constant('x'.repeat(70_000)));

/** One field of an honest record replaced or removed. */
const mutated = (base: Record<string, unknown>) =>
  fc.oneof(
    fc.record({ key: fc.constantFrom(...Object.keys(base)), v: value }).map(({ key, v }) => ({ ...base, [key]: v })),
    fc.constantFrom(...Object.keys(base)).map((key) => Object.fromEntries(Object.entries(base).filter(([k]) => k !== key))),
  );

// Mostly plausible, so that records get past the schema and reach what checks (and analyses) them.
const small = fc.double({ min: -10, max: 10, noNaN: true });
const histogram = fc.oneof({ weight: 4, arbitrary: fc.array(fc.nat({ max: 1000 }), { maxLength: 14 }) }, { weight: 1, arbitrary: fc.array(fc.oneof(fc.nat({ max: 1000 }), nasty), { maxLength: 14 }) });
const featureStats = fc.oneof(
  { weight: 4, arbitrary: fc.record({ count: fc.nat({ max: 1000 }), mean: small, m2: fc.double({ min: 0, max: 10, noNaN: true }), min: small, max: small, histogram }) },
  { weight: 1, arbitrary: fc.record({ count: fc.nat(), mean: nasty, m2: nasty, min: nasty, max: nasty, histogram }) },
);
const buckets = fc.oneof(
  { weight: 3, arbitrary: fc.array(fc.nat({ max: 1000 }), { minLength: 14, maxLength: 18 }) },
  { weight: 1, arbitrary: fc.array(fc.oneof(fc.nat({ max: 1000 }), nasty), { minLength: 14, maxLength: 18 }) },
);

function messages(device: string): fc.Arbitrary<Message> {
  const release = fc.constantFrom(v1, v2, { ...v1, version: 99 }, { ...v1, model: 'other' });
  const self = fc.constantFrom(device, device, 'fz-gate');
  const telemetry = fc.oneof(
    fc.record({ r: release, id: self, latencyBuckets: buckets, features: fc.array(featureStats, { maxLength: 6 }) }).map(({ r, id, ...o }) =>
      telemetryFor(id, r, o),
    ),
    release.chain((r) => mutated(telemetryFor(device, r) as unknown as Record<string, unknown>)),
  );
  const feedback = fc.oneof(
    fc.record({ r: release, id: self, label: fc.oneof(fc.constantFrom(...(v1.spec.labels ?? []), 'pwned-class'), fc.string({ maxLength: 300 }), nasty), row: fc.array(nasty, { maxLength: 6 }) }).map(({ r, id, ...o }) =>
      feedbackFor(id, r, o as Partial<ReturnType<typeof feedbackFor>>),
    ),
    release.chain((r) => mutated(feedbackFor(device, r) as unknown as Record<string, unknown>)),
  );
  const status = fc.oneof(
    fc.record({ r: fc.constantFrom(v1, v2, null), id: self, tags: fc.array(fc.constantFrom('canary', 'site-a', 'x'.repeat(100)), { maxLength: 40 }), model: fc.constantFrom('iris', 'other', null), failedVersion: fc.constantFrom(null, 1, 2) }).map(
      ({ r, id, ...o }) => statusFor(id, r, { ...o, model: r ? o.model : null, online: false }),
    ),
    mutated(statusFor(device, v1, { online: false }) as unknown as Record<string, unknown>),
  );
  const result = fc.record({ requestId: fc.constantFrom('rollout-1-bench-x', 'rollout-999-bench', 'x'.repeat(500)), deviceId: self, ok: fc.boolean(), error: fc.string({ maxLength: 50 }), result: fc.dictionary(fc.string({ maxLength: 10 }), nasty, { maxKeys: 5 }) });
  const json = (kind: Kind, a: fc.Arbitrary<unknown>) => a.map((p) => ({ device, kind, payload: JSON.stringify(p) }));
  return fc.oneof(
    json('telemetry', telemetry),
    json('feedback', feedback),
    json('status', status),
    json('result', result),
    fc.record({ kind: fc.constantFrom<Kind>('status', 'telemetry', 'feedback', 'result'), payload: fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.string({ maxLength: 300 }), fc.jsonValue().map((j) => JSON.stringify(j))) }).map((m) => ({ device, ...m })),
  );
}

/** The hub analysed the sentinel device after this call: everything sent before has been through ingest and analysis. */
async function sentinelRoundTrip(): Promise<void> {
  const s = await hub.secrets();
  const op = await mqttAs(hub.brokerUrl, 'edgeml-operator', s.operator, { clientId: `edgeml-operator:fuzz-${Date.now()}` });
  try {
    const after = Date.now();
    const seen = new Promise<void>((resolve) =>
      op.on('message', (_t, p) => {
        if (Date.parse(String((JSON.parse(p.toString()) as { updatedAt: string }).updatedAt)) > after) resolve();
      }),
    );
    await op.subscribeAsync(topics.fleetDevice('fz-sentinel'), { qos: 1 });
    const c = clients.get('fz-sentinel')!;
    await c.publishAsync(topics.status('fz-sentinel'), JSON.stringify(statusFor('fz-sentinel', v1, { online: false })), { qos: 1, retain: true });
    await c.publishAsync(topics.telemetry('fz-sentinel'), JSON.stringify(telemetryFor('fz-sentinel', v1)), { qos: 1 });
    await Promise.race([seen, hub.crashed]);
  } finally {
    await op.endAsync(true);
  }
}

describe('fuzzing the hub with device messages', () => {
  it(`survives ${MESSAGES} malformed and adversarial device messages (seed ${SEED})`, async () => {
    const batch = fc.array(fc.constantFrom(...FUZZERS).chain(messages), { minLength: BATCH, maxLength: BATCH });
    await fc.assert(
      fc.asyncProperty(batch, async (msgs) => {
        for (const m of msgs) await clients.get(m.device)!.publishAsync(topicOf(m.kind, m.device), Buffer.from(m.payload), { qos: 1 });
        await sentinelRoundTrip();
        return !hub.exited();
      }),
      // A crash leaves nothing to shrink against: report the batch and the seed as they are.
      { numRuns: Math.ceil(MESSAGES / BATCH), seed: SEED, endOnFailure: true },
    );
    expect(hub.exited()).toBe(false);
    expect((await hub.get('/v1/fleet')).status).toBe(200);
    const metrics = (await hub.get('/metrics')).text;
    const refused = FUZZERS.reduce((n, d) => n + counterValue(metrics, 'edgeml_hub_device_violations_total', { device: d }), 0);
    expect(refused).toBeGreaterThan(MESSAGES / 4);
  });

  it("then still halts a rollout whose p95 gate fails", async () => {
    const gate = clients.get('fz-gate')!;
    await gate.publishAsync(topics.status('fz-gate'), JSON.stringify(statusFor('fz-gate', v1)), { qos: 1, retain: true });
    const { admin } = await hub.secrets();
    const headers = { authorization: `Bearer ${admin}`, 'content-type': 'application/json' };
    const plan = { canary: { count: 1 }, waves: [100], soakMs: 2_000, benchmark: false, waveTimeoutMs: 60_000, gates: { maxP95Ms: 100 } };
    const created = await waitFor(
      'the rollout created',
      async () => {
        const res = await fetch(`${hub.httpUrl}/v1/rollouts`, { method: 'POST', headers, body: JSON.stringify({ model: 'iris', version: v2.version, plan }) });
        return res.status === 201 ? ((await res.json()) as { id: number; devices: { order: string[] } }) : undefined;
      },
      20_000,
      200,
    );
    // The fuzzers' statuses last said offline: the rollout is the gate device's alone.
    expect(created.devices.order).toEqual(['fz-gate']);
    await gate.publishAsync(topics.status('fz-gate'), JSON.stringify(statusFor('fz-gate', v2)), { qos: 1, retain: true });
    const slow = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);
    slow[LATENCY_BUCKETS_MS.indexOf(1000)] = 100;
    const final = await waitFor(
      'the rollout to end',
      async () => {
        await gate.publishAsync(topics.telemetry('fz-gate'), JSON.stringify(telemetryFor('fz-gate', v2, { latencyBuckets: slow })), { qos: 1 });
        const r = JSON.parse((await hub.get(`/v1/rollouts/${created.id}`)).text) as { state: string; reason: string | null };
        return ['halted', 'completed', 'aborted'].includes(r.state) ? r : undefined;
      },
      60_000,
      200,
    );
    expect(final.state).toBe('halted');
    expect(final.reason).toMatch(/p95 latency (9\d\d|1000)(\.\d+)? ms .* above 100 ms/);
  });
});

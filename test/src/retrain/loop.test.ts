/**
 * Continuous training on real processes: a hub process that retrains by itself, agent
 * processes serving a model trained where class "c" is rare, and a stream where "c" is common
 * whose true labels flow back. From the start of the stream the test only watches: the
 * accuracy trigger fires, the hub's worker trains version 2, it beats version 1 on the
 * feedback holdout, passes the gates and reaches the agents through the rollout plan.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connectAsync } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentConfigSchema, topics, type Release } from '@edgeml/core';
import type { Lineage, RetrainRun } from '@edgeml/hub';
import { enrollAgent, spawnAgent, waitFor, type AgentProcess } from 'edgeml';
import { edgeml, tempDir } from '../helpers/cli.js';
import { feedbackFor } from '../hostile/records.js';
import { api, spawnRetrainHub, type RetrainHub } from './hub-process.js';
import { baseRows, streamRows, toCsv, type Row } from './shift-data.js';

let dir: string;
let cleanup: () => Promise<void>;
let hub: RetrainHub;
const agents: AgentProcess[] = [];
const hubDir = () => join(dir, 'hub');

const config = {
  model: 'shift',
  data: 'base.csv',
  target: 'label',
  seed: 42,
  epochs: 40,
  format: 'tflite-int8',
  budgets: { probationMs: 0 },
  gates: { minAccuracy: 0.8 },
  rollout: { canary: { count: 1 }, waves: [100], soakMs: 0, benchmark: false, waveTimeoutMs: 120_000, gates: { minLabels: 10_000 } },
  retrain: {
    triggers: { accuracy: { below: 0.85, minLabels: 100 } },
    holdoutShare: 0.3,
    minHoldout: 20,
    margin: 0.05,
    maxBaseDrop: 0.05,
    timeLimitMs: 240_000,
    checkEveryMs: 300,
  },
};

async function token(model: string): Promise<string> {
  const t = await edgeml(['hub', 'token', '--data-dir', hubDir(), '--model', model, '--json']);
  expect(t.code, t.stderr).toBe(0);
  return (JSON.parse(t.stdout) as { token: string }).token;
}

async function enrol(id: string, model: string): Promise<string> {
  return enrollAgent({ hubUrl: hub.httpUrl, token: await token(model), id, dir: join(dir, 'agents', id), model });
}

/** A device's own MQTT credentials, for sending what its agent never would. */
async function deviceClient(configPath: string) {
  const c = AgentConfigSchema.parse(JSON.parse(await readFile(configPath, 'utf8')));
  return connectAsync(c.broker.url, { username: c.broker.username!, password: c.broker.password!, clientId: `${c.broker.username}:poison`, reconnectPeriod: 0 });
}

const fleetOn = (version: number) => async () => {
  const fleet = (await api<{ id: string; version: number | null; state: string }[]>(hub, 'GET', '/v1/fleet')).body;
  return agents.every((a) => fleet.some((d) => d.id === a.id && d.version === version && d.state === 'active')) ? fleet : undefined;
};

const failWithLog = async (e: unknown): Promise<never> => {
  throw new Error(`${(e as Error).message}\n--- hub log (tail) ---\n${(await hub.log()).slice(-6000)}`);
};

const versions = async () => (await api<{ version: number; status: string }[]>(hub, 'GET', '/v1/models/shift/versions')).body;

async function stream(rows: readonly Row[]): Promise<void> {
  for (const [i, r] of rows.entries()) {
    const a = agents[i % agents.length]!;
    const url = await a.apiUrl();
    const res = await fetch(`${url}/v1/predict`, { method: 'POST', body: JSON.stringify({ rows: [[r.x1, r.x2]] }) });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { predictions: { id: string }[] };
    const fb = await fetch(`${url}/v1/feedback`, { method: 'POST', body: JSON.stringify({ predictionId: body.predictions[0]!.id, label: r.label }) });
    expect(fb.status).toBe(202);
  }
}

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('retrain'));
  await writeFile(join(dir, 'base.csv'), toCsv(baseRows(300, 0.04)));
  await writeFile(join(dir, 'edgeml.json'), JSON.stringify(config, null, 2));
  hub = await spawnRetrainHub(hubDir(), [join(dir, 'edgeml.json')]);
  // Version 1 through the same path, by hand: nothing in production, so it needs only the gates.
  const first = await edgeml(['retrain', 'shift', '--hub', hub.httpUrl, '--token', hub.adminToken, '--config', join(dir, 'edgeml.json'), '--json'], { timeoutMs: 240_000 });
  expect(first.code, first.stderr + first.stdout).toBe(0);
  expect((JSON.parse(first.stdout) as RetrainRun).version).toBe(1);
  for (const id of ['dev-1', 'dev-2']) {
    const configPath = await enrol(id, 'shift');
    agents.push(await spawnAgent({ id, dir: join(dir, 'agents', id), configPath, extra: { stepDelayMs: 0, telemetry: { periodMs: 500, maxQueued: 1000 } } }));
  }
  await waitFor('both agents active on v1', fleetOn(1), 120_000).catch(failWithLog);
}, 400_000);

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await hub?.stop();
  await cleanup?.();
});

describe('continuous training', () => {
  let poisonIds: string[] = [];

  it('retrains on a concept shift, releases v2 by the rollout plan and records where it came from, with no command after the stream starts', async () => {
    // Poison first, so it is stored before any run: a device of another model, and an enrolled
    // device sending a wrong feature count, an unknown label and a row far outside the data.
    const shown1 = await edgeml(['models', 'show', 'shift', '1', '--json', '--data-dir', hubDir()]);
    expect(shown1.code, shown1.stderr).toBe(0);
    const r1 = (JSON.parse(shown1.stdout) as { release: Release }[])[0]!.release;
    expect(r1.version).toBe(1);
    const other = await deviceClient(await enrol('dev-other', 'other'));
    const bad = await deviceClient(await enrol('dev-bad', 'shift'));
    const poison = [
      { client: other, deviceId: 'dev-other', fb: feedbackFor('dev-other', r1, { label: 'c', row: [0.7, 0.8] }) },
      { client: bad, deviceId: 'dev-bad', fb: feedbackFor('dev-bad', r1, { label: 'c', row: [0.7, 0.8, 0.1] }) },
      { client: bad, deviceId: 'dev-bad', fb: feedbackFor('dev-bad', r1, { label: 'zebra', row: [0.7, 0.8] }) },
      { client: bad, deviceId: 'dev-bad', fb: feedbackFor('dev-bad', r1, { label: 'c', predicted: 'c', row: [5000, 0.8] }) },
    ];
    poisonIds = poison.map((p) => p.fb.predictionId);
    for (const p of poison) await p.client.publishAsync(topics.feedback(p.deviceId), JSON.stringify(p.fb), { qos: 1 });
    await Promise.all([other.endAsync(), bad.endAsync()]);

    await stream(streamRows(160, 0.6));
    // From here on the test only watches.
    await waitFor('both agents active on v2', fleetOn(2), 300_000, 500).catch(failWithLog);

    // It went out by the model's rollout plan: a canary first, then the rest.
    const rollouts = (await api<{ model: string; version: number; state: string }[]>(hub, 'GET', '/v1/rollouts')).body;
    expect(rollouts.map((r) => [r.model, r.version])).toEqual([['shift', 2]]);
    const runs = (await api<RetrainRun[]>(hub, 'GET', '/v1/models/shift/retrain-runs')).body;
    const auto = runs.find((r) => r.version === 2)!;
    expect(auto).toMatchObject({ state: 'released', parentVersion: 1, trigger: { reason: 'accuracy' } });
    expect(auto.trigger.figures.liveAccuracy).toBeLessThan(0.85);
    expect(auto.trigger.figures.labels).toBeGreaterThanOrEqual(100);

    const shown = await edgeml(['models', 'show', 'shift', '2', '--json', '--data-dir', hubDir()]);
    expect(shown.code, shown.stderr).toBe(0);
    const lineage = (JSON.parse(shown.stdout) as { lineage: Lineage }[])[0]!.lineage;
    expect(lineage).toMatchObject({ version: 2, parentVersion: 1, runId: auto.id, trigger: { reason: 'accuracy' } });
    expect(lineage.baseSha256).toMatch(/^[0-9a-f]{64}$/);
    const challenge = lineage.challenge as { gain: number; margin: number; champion: { version: number; holdout: number }; challenger: { holdout: number } };
    expect(challenge.champion.version).toBe(1);
    expect(challenge.gain).toBeGreaterThanOrEqual(challenge.margin);
    expect((lineage.gates as { gate: string; pass: boolean }[]).every((g) => g.pass)).toBe(true);
    // The feedback set is in the artifact store under its digest, and holds no poisoned row.
    const sha = lineage.feedbackSha256!;
    const set = JSON.parse(await readFile(join(hubDir(), 'artifacts', sha.slice(0, 2), sha), 'utf8')) as { train: { predictionId: string; deviceId: string }[]; holdout: { predictionId: string }[] };
    expect(set.holdout.length).toBeGreaterThanOrEqual(20);
    const used = [...set.train, ...set.holdout].map((r) => r.predictionId);
    expect(used.filter((id) => poisonIds.includes(id))).toEqual([]);
    expect(new Set(set.train.map((r) => r.deviceId))).toEqual(new Set(['dev-1', 'dev-2']));

    const text = await edgeml(['models', 'show', 'shift', '2', '--data-dir', hubDir()]);
    expect(text.stdout).toContain('lineage of v2:');
    expect(text.stdout).toContain('  parent: v1');
    expect(text.stdout).toMatch(/trigger: accuracy \(live accuracy .* below 0\.85 over \d+ labels\), retraining run \d+/);
    expect(text.stdout).toContain(`feedback set sha256: ${sha}`);

    const metrics = (await api<string>(hub, 'GET', '/metrics')).body;
    expect(metrics).toMatch(/edgeml_retrain_runs_total\{model="shift",outcome="released"\} 2/);
    expect(metrics).toMatch(/edgeml_retrain_feedback_refused\{model="shift",reason="out-of-range"\} 1/);
    expect(metrics).toMatch(/edgeml_hub_device_violations_total\{device="dev-other",reason="model-not-enrolled"\} 1/);
    expect(metrics).toMatch(/edgeml_hub_device_violations_total\{device="dev-bad",reason="feature-count"\} 1/);
    expect(metrics).toMatch(/edgeml_hub_device_violations_total\{device="dev-bad",reason="unknown-label"\} 1/);
    expect(await hub.log()).toContain('retrain.outcome');
  }, 420_000);

  it('leaves production untouched and says why when the challenger is not better', async () => {
    const before = await versions();
    const res = await edgeml(['retrain', 'shift', '--hub', hub.httpUrl, '--token', hub.adminToken, '--config', join(dir, 'edgeml.json'), '--json'], { timeoutMs: 240_000 });
    expect(res.code, res.stderr + res.stdout).toBe(0);
    const run = JSON.parse(res.stdout) as RetrainRun;
    expect(run).toMatchObject({ state: 'not-better', version: null, parentVersion: 2, trigger: { reason: 'manual' } });
    expect(run.summary).toMatch(/^not better: feedback holdout .* against production v2/);
    const challenge = run.result!.challenge as { gain: number; margin: number };
    expect(challenge.gain).toBeLessThan(challenge.margin);
    expect(await versions()).toEqual(before);
    await waitFor('agents still on v2', fleetOn(2), 30_000);
    const diff = await edgeml(['models', 'diff', 'shift', '1', '2', '--json', '--data-dir', hubDir()]);
    expect(diff.code, diff.stderr).toBe(0);
    const fields = (JSON.parse(diff.stdout) as { changed: { field: string }[] }).changed.map((c) => c.field);
    expect(fields).toEqual(expect.arrayContaining(['sha256', 'lineage.parent', 'lineage.trigger', 'lineage.feedbackSha256']));
  }, 300_000);
});

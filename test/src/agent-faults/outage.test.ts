/**
 * Nothing acknowledged is lost or doubled through a hub outage: the hub (its own process) is
 * SIGKILLed and stays down while agents serve bursts and are SIGKILLed at random points in them
 * (mid-request, mid-snapshot, mid-cut: nothing waits for a save), then the hub comes back, is
 * SIGKILLed again mid-traffic, and is later stopped gracefully mid-traffic. Every prediction
 * answered 200 is counted in the hub's telemetry once, and every feedback item answered 202 is
 * stored once. The outage lasts EDGEML_OUTAGE_MS: 10 s with two agents here, 60 s with three
 * in `npm run soak:agent-outage`.
 *
 * A request cut off by a kill got no answer: it may be counted (it was served) or not, so the
 * counts are bounded by the answered requests below and the answered plus cut-off ones above.
 */
import Database from 'better-sqlite3';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@edgeml/core';
import { startHub, type Hub } from '@edgeml/hub';
import type { AgentProcess } from 'edgeml';
import { irisModel, publishModel, spawnTestAgent, waitFor, type TestHub } from '../helpers/fleet.js';
import { health, kill } from './harness.js';
import { hubProcess, type HubProcess } from './hub-process.js';

const outageMs = Number(process.env.EDGEML_OUTAGE_MS ?? 10_000);
/** Short periods and snapshots: kills land in cuts and compactions as well as in requests. */
const agentConfig = { telemetry: { periodMs: 2000, maxQueued: 100_000 } };
const ids = process.env.EDGEML_OUTAGE_MS ? ['out-0', 'out-1', 'out-2'] : ['out-0', 'out-1'];

let dir: string;
let hub: HubProcess;
let inproc: Hub;
let version: number;
const agents = new Map<string, AgentProcess>();
const procs: AgentProcess[] = [];

interface Tally {
  /** Predictions answered 200. */
  predicted: number;
  /** Predict requests with no answer (the agent was killed): served or not. */
  cutPredictions: number;
  /** Prediction ids whose feedback was answered 202. */
  accepted: Set<string>;
  /** Prediction ids whose feedback request got no answer. */
  cutFeedback: Set<string>;
}
const tally = new Map<string, Tally>(ids.map((id) => [id, { predicted: 0, cutPredictions: 0, accepted: new Set(), cutFeedback: new Set() }]));
/** What happened when, for a failure message. */
const events: string[] = [];

async function startAgent(id: string): Promise<AgentProcess> {
  const p = await spawnTestAgent({ hub: inproc, dir } as unknown as TestHub, id, agentConfig);
  procs.push(p);
  agents.set(id, p);
  await waitFor(`${id} serving`, async () => ((await health(p)).version === version ? true : undefined), 60_000, 50);
  return p;
}

/** Predictions with feedback, one at a time, until `n` are done or the agent dies. */
async function burst(id: string, n: number): Promise<void> {
  const t = tally.get(id)!;
  const url = await agents.get(id)!.apiUrl();
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${url}/v1/predict`, { method: 'POST', body: JSON.stringify({ row: [5.1, 3.5, 1.4, 0.2] }) }).catch(() => undefined);
    const body = res ? await res.json().catch(() => undefined) as { predictions: { id: string }[] } | undefined : undefined;
    if (!res || !body) {
      t.cutPredictions++;
      return;
    }
    expect(res.status).toBe(200);
    t.predicted++;
    const pid = body.predictions[0]!.id;
    const fb = await fetch(`${url}/v1/feedback`, { method: 'POST', body: JSON.stringify({ predictionId: pid, label: 'setosa' }) }).catch(() => undefined);
    const fbBody = fb ? await fb.text().catch(() => undefined) : undefined;
    if (!fb || fbBody === undefined) {
      t.cutFeedback.add(pid);
      return;
    }
    expect(fb.status, fbBody).toBe(202);
    t.accepted.add(pid);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A burst on `id`, SIGKILLed after a random delay, then the agent started again. */
async function killMidBurst(id: string): Promise<void> {
  const traffic = burst(id, 100_000);
  const after = Math.round(100 + Math.random() * 1400);
  await sleep(after);
  events.push(`${id} SIGKILLed ${after} ms into a burst`);
  await kill(agents.get(id)!);
  await traffic;
  await startAgent(id);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeml-outage-'));
  const hubDir = join(dir, 'hub');
  // The hub first runs in this process to publish the model and enrol devices; the ports it got
  // are kept for its later runs as a process, so agents find it again.
  inproc = await startHub({ dataDir: hubDir, mqttPort: 0, httpPort: 0, log: silentLogger });
  hub = hubProcess(hubDir, { mqtt: new URL(inproc.brokerUrl).port, http: new URL(inproc.httpUrl!).port });
  version = (await publishModel(inproc, await irisModel())).version;
  for (const id of ids) await startAgent(id);
  await inproc.close();
  await hub.start();
}, 180_000);

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await hub?.stop('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

describe('a hub outage with agents SIGKILLed at random points of their bursts', () => {
  it('counts every prediction answered 200 and stores every feedback answered 202, each once', async () => {
    await Promise.all(ids.map((id) => burst(id, 20)));

    // The hub dies and stays down; the agents keep serving and are killed mid-burst.
    await hub.stop('SIGKILL');
    events.push('hub SIGKILLed');
    const down = Date.now();
    let round = 0;
    do {
      await Promise.all(ids.map((id, i) => (i === round % ids.length ? killMidBurst(id) : burst(id, 20))));
      round++;
    } while (Date.now() - down < outageMs || round < ids.length);
    // One clean restart in the outage: the stop queues the open window.
    await agents.get('out-1')!.stop();
    await startAgent('out-1');

    // Back, then SIGKILLed mid-traffic (an agent killed meanwhile too), then back again.
    await hub.start();
    events.push('hub started');
    const traffic = Promise.all(ids.map((id, i) => (i === ids.length - 1 ? killMidBurst(id) : burst(id, 100))));
    await sleep(Math.round(300 + Math.random() * 1200));
    await hub.stop('SIGKILL');
    events.push('hub SIGKILLed mid-traffic');
    await traffic;
    await hub.start();
    events.push('hub started');
    // Stopped gracefully mid-traffic, then back.
    const more = Promise.all(ids.map((id) => burst(id, 100)));
    await sleep(Math.round(300 + Math.random() * 1200));
    await hub.stop('SIGTERM');
    events.push('hub stopped gracefully mid-traffic');
    await more;
    await hub.start();
    events.push('hub started');
    await Promise.all(ids.map((id, i) => (i === 0 ? killMidBurst(id) : burst(id, 20))));

    const db = new Database(join(dir, 'hub', 'registry.sqlite'), { readonly: true });
    try {
      const counts = () =>
        ids.map((id) => {
          const requests = (db.prepare('SELECT COALESCE(SUM(requests), 0) AS n FROM telemetry WHERE device_id = ?').get(id) as { n: number }).n;
          const rows = db.prepare('SELECT prediction_id AS p FROM feedback WHERE device_id = ?').all(id) as { p: string }[];
          return { id, requests, feedback: rows.map((r) => r.p) };
        });
      const verdict = () =>
        counts().map((c) => {
          const t = tally.get(c.id)!;
          const stored = new Set(c.feedback);
          return {
            id: c.id,
            requests: c.requests,
            answered: t.predicted,
            cutPredictions: t.cutPredictions,
            missingFeedback: [...t.accepted].filter((p) => !stored.has(p)).length,
            doubledFeedback: c.feedback.length - stored.size,
            unknownFeedback: [...stored].filter((p) => !t.accepted.has(p) && !t.cutFeedback.has(p)).length,
          };
        });
      const ok = () => verdict().every((v) => v.requests >= v.answered && v.requests <= v.answered + v.cutPredictions && v.missingFeedback === 0 && v.doubledFeedback === 0 && v.unknownFeedback === 0);
      await waitFor('every record at the hub', () => (ok() ? true : undefined), 90_000, 250).catch(async (e: Error) => {
        const logs = await Promise.all(ids.map(async (id) => `${id}:\n${(await readFile(agents.get(id)!.logFile, 'utf8').catch(() => '')).slice(-2000)}`));
        throw new Error(`${e.message}: ${JSON.stringify(verdict())}; events: ${events.join(', ')}\n${logs.join('\n')}`);
      });
      for (const t of tally.values()) expect(t.accepted.size).toBeGreaterThan(30);
    } finally {
      db.close();
    }
  }, 600_000);
});

/**
 * Records the agent acknowledged are never lost or doubled: the open telemetry window survives a
 * clean stop and a SIGKILL right after the last answer, feedback for one prediction is stored
 * once even when sent twice at the same instant, and record ids stay unique across a crash that
 * also loses the outbox's meta file.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentProcess } from 'edgeml';
import { irisModel, publishModel, startTestHub, waitFor } from '../helpers/fleet.js';
import { kill, settled, start, type Fleet } from './harness.js';

const f: Fleet = { t: undefined as never, procs: [] };
let version: number;

beforeAll(async () => {
  f.t = await startTestHub();
  version = (await publishModel(f.t.hub, await irisModel())).version;
}, 120_000);
afterAll(async () => {
  await Promise.all(f.procs.map((p) => p.stop()));
  await f.t?.stop();
});

/** A long telemetry period: only the stop or the crash recovery can deliver the window. */
const quiet = { telemetry: { periodMs: 600_000, maxQueued: 10_000 } };

async function predict(p: AgentProcess, n: number): Promise<string[]> {
  const url = `${await p.apiUrl()}/v1/predict`;
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await fetch(url, { method: 'POST', body: JSON.stringify({ row: [5.1, 3.5, 1.4, 0.2] }) });
    expect(res.status).toBe(200);
    ids.push(((await res.json()) as { predictions: { id: string }[] }).predictions[0]!.id);
  }
  return ids;
}

async function feedback(p: AgentProcess, predictionId: string): Promise<number> {
  const res = await fetch(`${await p.apiUrl()}/v1/feedback`, { method: 'POST', body: JSON.stringify({ predictionId, label: 'setosa' }) });
  if (res.status !== 202) console.error('feedback', res.status, await res.text());
  return res.status;
}

const requestsOf = (id: string) => f.t.hub.registry.fleet.telemetryTotals('iris').find((d) => d.deviceId === id)?.requests ?? 0;
const feedbackOf = (id: string) => f.t.hub.registry.fleet.labelledRows('iris').filter((r) => r.deviceId === id).length;

describe('telemetry and feedback records', () => {
  it('counts every prediction made before a clean stop', async () => {
    const p = await start(f, 'rec-stop', quiet);
    await settled(f, p, 'active', version);
    await predict(p, 100);
    await p.stop();
    await waitFor('100 requests at the hub', () => (requestsOf('rec-stop') === 100 ? true : undefined), 30_000);
  }, 120_000);

  it('counts every prediction answered before a SIGKILL, with no wait for a save', async () => {
    const p = await start(f, 'rec-kill', quiet);
    await settled(f, p, 'active', version);
    await predict(p, 50);
    // Killed at once: the window's periodic save has not run (its period is seconds).
    await kill(p);
    expect(requestsOf('rec-kill')).toBe(0);
    const again = await start(f, 'rec-kill', quiet);
    await settled(f, again, 'active', version);
    await waitFor("the killed run's requests at the hub", () => (requestsOf('rec-kill') >= 50 ? true : undefined), 30_000);
    await again.stop();
    expect(requestsOf('rec-kill')).toBe(50);
  }, 120_000);

  it('stores feedback for one prediction once, even when sent twice at the same instant', async () => {
    const p = await start(f, 'rec-dup', quiet);
    await settled(f, p, 'active', version);
    const ids = await predict(p, 30);
    const answers = await Promise.all(ids.map(async (id) => (await Promise.all([feedback(p, id), feedback(p, id)])).sort()));
    for (const a of answers) expect(a[0]).toBe(202), expect([404, 409]).toContain(a[1]);
    await waitFor('30 feedback rows at the hub', () => (feedbackOf('rec-dup') >= 30 ? true : undefined), 30_000);
    await p.stop();
    expect(feedbackOf('rec-dup')).toBe(30);
  }, 120_000);

  it('keeps record ids unique across a SIGKILL that also loses the outbox meta file', async () => {
    const p = await start(f, 'rec-ids', quiet);
    await settled(f, p, 'active', version);
    for (const id of await predict(p, 20)) expect(await feedback(p, id)).toBe(202);
    await waitFor('20 feedback rows', () => (feedbackOf('rec-ids') >= 20 ? true : undefined), 30_000);
    await kill(p);
    await rm(join(p.dir, 'outbox', 'meta.json'), { force: true });
    const again = await start(f, 'rec-ids', quiet);
    await settled(f, again, 'active', version);
    for (const id of await predict(again, 20)) expect(await feedback(again, id)).toBe(202);
    await waitFor('40 feedback rows', () => (feedbackOf('rec-ids') >= 40 ? true : undefined), 30_000);
    await again.stop();
    expect(feedbackOf('rec-ids')).toBe(40);
  }, 120_000);
});

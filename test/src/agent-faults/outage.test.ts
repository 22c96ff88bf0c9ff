/**
 * Nothing acknowledged is lost or doubled through a hub outage: the hub (its own process) is
 * SIGKILLed and stays down, agents serve bursts meanwhile and are SIGKILLed or restarted in
 * them, then the hub comes back, is SIGKILLed again and later restarted gracefully. Every
 * prediction an agent answered is counted in telemetry, and every feedback item answered 202 is
 * stored exactly once. The outage lasts EDGEML_OUTAGE_MS (20 s here; `npm run soak:agent-outage`
 * runs the full 60 s).
 *
 * A SIGKILL loses the counts of at most one snapshot period (5 s) of the open telemetry window,
 * so an agent is killed here after its window was saved; feedback is durable before its 202, so
 * agents are killed in the middle of feedback bursts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@edgeml/core';
import { Registry, startHub, type Hub } from '@edgeml/hub';
import type { AgentProcess } from 'edgeml';
import { repoRoot } from '../helpers/cli.js';
import { irisModel, publishModel, spawnTestAgent, waitFor, type TestHub } from '../helpers/fleet.js';
import { health, kill } from './harness.js';

const outageMs = Number(process.env.EDGEML_OUTAGE_MS ?? 20_000);
const quiet = { telemetry: { periodMs: 600_000, maxQueued: 100_000 } };

let dir: string;
let hubDir: string;
let ports: { mqtt: string; http: string };
let hubProc: ChildProcess | undefined;
const agents = new Map<string, AgentProcess>();
const procs: AgentProcess[] = [];
let version: number;
/** Per device: predictions answered 200 and feedback answered 202 (by prediction id). */
const predicted = new Map<string, number>();
const accepted = new Map<string, Set<string>>();
/** Feedback sent to an agent killed before it answered: stored or not, never answered 202. */
const unanswered = new Map<string, number>();
/** Predictions answered by the current run of each agent (its open window). */
const sinceStart = new Map<string, number>();

async function startHubProcess(): Promise<void> {
  const child = spawn(process.execPath, [join(repoRoot, 'cli/bin/edgeml.js'), 'hub', 'start', '--data-dir', hubDir, '--mqtt-port', ports.mqtt, '--http-port', ports.http], { stdio: ['ignore', 'pipe', 'pipe'] });
  hubProc = child;
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor('the hub process running', () => (out.includes('hub running') ? true : child.exitCode !== null ? Promise.reject(new Error(out)) : undefined), 60_000, 50);
}

async function stopHubProcess(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  const child = hubProc;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  await exited;
}

async function startAgent(id: string): Promise<AgentProcess> {
  const t = { hub: inproc, dir } as unknown as TestHub;
  const p = await spawnTestAgent(t, id, quiet);
  procs.push(p);
  agents.set(id, p);
  sinceStart.set(id, 0);
  await waitFor(`${id} serving`, async () => ((await health(p)).version === version ? true : undefined), 60_000, 50);
  return p;
}

let inproc: Hub;

async function burst(id: string, n: number, withFeedback: boolean): Promise<void> {
  const p = agents.get(id)!;
  const url = await p.apiUrl();
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${url}/v1/predict`, { method: 'POST', body: JSON.stringify({ row: [5.1, 3.5, 1.4, 0.2] }) }).catch(() => undefined);
    if (res?.status !== 200) continue;
    const id0 = ((await res.json()) as { predictions: { id: string }[] }).predictions[0]!.id;
    predicted.set(id, (predicted.get(id) ?? 0) + 1);
    sinceStart.set(id, (sinceStart.get(id) ?? 0) + 1);
    if (!withFeedback) continue;
    const fb = await fetch(`${url}/v1/feedback`, { method: 'POST', body: JSON.stringify({ predictionId: id0, label: 'setosa' }) }).catch(() => undefined);
    if (fb?.status === 202) accepted.get(id)!.add(id0);
    else if (!fb) unanswered.set(id, (unanswered.get(id) ?? 0) + 1);
  }
}

/** SIGKILL an agent once its open window holds every prediction it answered (see the header). */
async function killSaved(id: string): Promise<void> {
  const p = agents.get(id)!;
  await waitFor(`${id} window saved`, async () => {
    const snap = JSON.parse(await readFile(join(p.dir, 'outbox', 'window.json'), 'utf8')) as { figures: { requests: number } };
    return snap.figures.requests === sinceStart.get(id) ? true : undefined;
  }, 20_000, 50);
  await kill(p);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeml-outage-'));
  hubDir = join(dir, 'hub');
  // The hub first runs in this process to publish the model and enrol devices; the ports it got
  // are kept for its later runs as a process, so agents find it again.
  inproc = await startHub({ dataDir: hubDir, mqttPort: 0, httpPort: 0, log: silentLogger });
  ports = { mqtt: new URL(inproc.brokerUrl).port, http: new URL(inproc.httpUrl!).port };
  version = (await publishModel(inproc, await irisModel())).version;
  for (const id of ['out-0', 'out-1', 'out-2']) {
    accepted.set(id, new Set());
    await startAgent(id);
  }
  await inproc.close();
  await startHubProcess();
}, 180_000);

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await stopHubProcess('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

describe('a hub outage with agents killed and restarted in bursts', () => {
  it('counts every answered prediction and stores every accepted feedback exactly once', async () => {
    const ids = [...agents.keys()];
    await Promise.all(ids.map((id) => burst(id, 20, true)));

    // The hub dies and stays down; the agents keep serving.
    await stopHubProcess('SIGKILL');
    const down = Date.now();
    // Killed in the middle of a feedback burst: whatever was answered 202 is on disk already.
    const inFlight = burst('out-0', 40, true);
    await new Promise((r) => setTimeout(r, 300));
    await kill(agents.get('out-0')!);
    await inFlight;
    // The predictions of that run went with the process unless saved: count only what was saved.
    predicted.set('out-0', (predicted.get('out-0') ?? 0) - (sinceStart.get('out-0') ?? 0));
    const saved = await readFile(join(agents.get('out-0')!.dir, 'outbox', 'window.json'), 'utf8').then((t) => (JSON.parse(t) as { figures: { requests: number } }).figures.requests, () => 0);
    predicted.set('out-0', predicted.get('out-0')! + saved);
    await startAgent('out-0');
    await Promise.all(ids.map((id) => burst(id, 20, true)));
    await killSaved('out-1');
    await startAgent('out-1');
    await agents.get('out-2')!.stop();
    await startAgent('out-2');
    await Promise.all(ids.map((id) => burst(id, 20, true)));
    const left = outageMs - (Date.now() - down);
    if (left > 0) await new Promise((r) => setTimeout(r, left));

    // Back, then killed again mid-traffic, then back and restarted gracefully.
    await startHubProcess();
    const traffic = Promise.all(ids.map((id) => burst(id, 30, true)));
    await new Promise((r) => setTimeout(r, 1500));
    await stopHubProcess('SIGKILL');
    await traffic;
    await startHubProcess();
    await Promise.all(ids.map((id) => burst(id, 20, true)));
    await stopHubProcess('SIGTERM');
    await startHubProcess();
    await Promise.all(ids.map((id) => burst(id, 10, true)));
    // A clean stop queues each agent's open window and sends it.
    for (const id of ids) await agents.get(id)!.stop();
    for (const id of ids) {
      const p = await spawnTestAgent({ hub: inproc, dir } as unknown as TestHub, id, quiet);
      procs.push(p);
      agents.set(id, p);
    }

    const registry = new Registry(join(hubDir, 'registry.sqlite'));
    try {
      const counts = () => ids.map((id) => ({
        id,
        requests: registry.fleet.telemetryTotals('iris').find((d) => d.deviceId === id)?.requests ?? 0,
        feedback: registry.fleet.labelledRows('iris').filter((r) => r.deviceId === id).length,
      }));
      // Exact for predictions; for feedback, every item answered 202 is stored, and at most the
      // items whose answer was cut off by a SIGKILL come in addition (the hub keeps one per id).
      const ok = () => counts().every((c) => c.requests === (predicted.get(c.id) ?? 0) && c.feedback >= accepted.get(c.id)!.size && c.feedback <= accepted.get(c.id)!.size + (unanswered.get(c.id) ?? 0));
      const want = ids.map((id) => ({ id, requests: predicted.get(id) ?? 0, accepted: accepted.get(id)!.size, unanswered: unanswered.get(id) ?? 0 }));
      await waitFor('every record at the hub', () => (ok() ? true : undefined), 120_000, 250).catch((e: Error) => {
        throw new Error(`${e.message}: hub has ${JSON.stringify(counts())}, agents answered ${JSON.stringify(want)}`);
      });
      expect(want.every((w) => w.accepted > 50)).toBe(true);
    } finally {
      registry.close();
    }
  }, 600_000);
});

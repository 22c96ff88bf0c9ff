/**
 * The spine end to end, through the same code a user runs: a hub in this process, a model
 * trained on real data, a signed release over a real MQTT broker, and two agent processes
 * that verify, install and serve it. One agent is then killed with SIGKILL and restarted.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex, silentLogger } from '@edgeml/core';
import { releaseInputFrom, runPipeline, startHub, type Candidate, type Hub, type VersionRecord } from '@edgeml/hub';
import { deviceRuntimes, enrollAgent, spawnAgent, waitFor, type AgentProcess } from 'edgeml';

const dataFile = join(import.meta.dirname, '../../../data/digits.csv');

describe('spine: CSV to signed release to agent processes', () => {
  let dir: string;
  let hub: Hub;
  let candidate: Candidate;
  let rec: VersionRecord;
  const agents: AgentProcess[] = [];

  const activeOn = (id: string, version: number) => hub.registry.listDevices().find((d) => d.id === id && d.state === 'active' && d.version === version);

  const predict = async (a: AgentProcess, rows: number[][]) => {
    const res = await fetch(`${await a.apiUrl()}/v1/predict`, { method: 'POST', body: JSON.stringify({ rows }) });
    expect(res.status).toBe(200);
    return (await res.json()) as { version: number; predictions: { label: string; probabilities: number[] }[] };
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgeml-spine-'));
    hub = await startHub({ dataDir: join(dir, 'hub'), mqttPort: 0, httpPort: 0, log: silentLogger });
    candidate = await runPipeline({ data: dataFile, target: 'digit', arch: 'mlp', seed: 42, runtimes: deviceRuntimes() });
    rec = await hub.publish(releaseInputFrom(candidate, { model: 'digits', budgets: { probationMs: 200 } }));
    for (const id of ['dev-a', 'dev-b']) {
      const configPath = await enrollAgent({ hubUrl: hub.httpUrl!, token: hub.createEnrollToken(), id, dir: join(dir, id), model: 'digits' });
      agents.push(await spawnAgent({ id, dir: join(dir, id), configPath }));
    }
    await waitFor('both agents active', () => (agents.every((a) => activeOn(a.id, rec.version)) ? true : undefined), 60_000);
  });

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await hub?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('records the version with its test accuracy and sha256 in the registry', () => {
    const stored = hub.registry.getVersion('digits', rec.version)!;
    expect(stored.sha256).toBe(sha256Hex(candidate.artifact));
    expect(stored.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(stored.metrics.accuracy).toBeGreaterThanOrEqual(0.95);
    expect(stored.metrics.accuracy).toBe(candidate.figures.accuracy);
  });

  it('has both agents report the same version active', () => {
    const devices = hub.registry.listDevices();
    expect(devices.map((d) => [d.id, d.state, d.version])).toEqual([
      ['dev-a', 'active', rec.version],
      ['dev-b', 'active', rec.version],
    ]);
  });

  it("serves predictions equal to the hub's on the same rows", async () => {
    const f = candidate.training.spec.features.length;
    const n = 40;
    const rows = Array.from({ length: n }, (_, r) => Array.from(candidate.splits.test.x.subarray(r * f, (r + 1) * f)));
    const expected = Array.from(candidate.evaluation.predicted.subarray(0, n), (k) => candidate.training.spec.labels![k]);
    for (const a of agents) {
      const body = await predict(a, rows);
      expect(body.version).toBe(rec.version);
      expect(body.predictions.map((p) => p.label)).toEqual(expected);
    }
  });

  it('comes back serving the same version after SIGKILL, without downloading it again', async () => {
    const victim = agents[0]!;
    victim.child.kill('SIGKILL');
    await new Promise((r) => victim.child.once('exit', r));
    const logBefore = (await readFile(victim.logFile, 'utf8')).length;
    const restarted = await spawnAgent({ id: victim.id, dir: victim.dir, configPath: join(victim.dir, 'agent.json') });
    agents[0] = restarted;
    const rows = [Array.from(candidate.splits.test.x.subarray(0, candidate.training.spec.features.length))];
    const body = await waitFor('the restarted agent to serve', () => predict(restarted, rows), 30_000);
    expect(body.version).toBe(rec.version);
    // Give the agent time to see the retained release again; it must recognise it, not fetch it.
    await waitFor('the restarted agent to report active', () => activeOn(victim.id, rec.version), 30_000);
    await new Promise((r) => setTimeout(r, 500));
    const newLog = (await readFile(restarted.logFile, 'utf8')).slice(logBefore);
    expect(newLog).toContain('serving installed version');
    expect(newLog).not.toContain('accepted release');
    expect(newLog).not.toContain('resuming download');
    const state = JSON.parse(await readFile(join(victim.dir, 'state.json'), 'utf8'));
    expect(state.update).toBeNull();
  });
});

/**
 * The update lifecycle under load and under faults, with real agent processes: a release whose
 * self-test fails and one that breaks its latency budget on the device are rolled back by the
 * agent itself while predictions keep flowing; broker and hub restarts do not lose a release.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Candidate } from '@edgeml/hub';
import type { AgentProcess } from 'edgeml';
import { irisModel, publishModel, spawnTestAgent, startTestHub, waitFor, type TestHub } from '../helpers/fleet.js';

let t: TestHub;
let c: Candidate;
let baseDir: string;
const procs: AgentProcess[] = [];
beforeAll(async () => {
  t = await startTestHub();
  baseDir = t.dir;
  c = await irisModel();
});
afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await t?.hub.close();
  await rm(baseDir, { recursive: true, force: true });
});

const device = (id: string) => t.hub.registry.listDevices().find((d) => d.id === id);
const settled = (id: string, state: string, version: number, timeoutMs = 30_000) =>
  waitFor(`${id} ${state} on v${version}`, () => {
    const d = device(id);
    return d?.state === state && d.version === version ? d : undefined;
  }, timeoutMs);

/** Clients sending predictions as fast as they can until stopped; every answer is recorded. */
function load(url: string, clients = 4) {
  let running = true;
  const versions = new Map<number, number>();
  const failures: string[] = [];
  const loops = Array.from({ length: clients }, async () => {
    while (running) {
      try {
        const res = await fetch(`${url}/v1/predict`, { method: 'POST', body: JSON.stringify({ row: [5.9, 3.0, 5.1, 1.8] }) });
        if (res.status !== 200) failures.push(`${res.status} ${await res.text()}`);
        else {
          const v = ((await res.json()) as { version: number }).version;
          versions.set(v, (versions.get(v) ?? 0) + 1);
        }
      } catch (e) {
        failures.push((e as Error).message);
      }
    }
  });
  return {
    versions,
    failures,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

describe('automatic rollback on the device, with predictions flowing', () => {
  it('rolls back a failing self-test and a latency-budget breach with zero failed requests', async () => {
    const v1 = (await publishModel(t.hub, c)).version;
    const agent = await spawnTestAgent(t, 'probe-dev');
    procs.push(agent);
    await settled('probe-dev', 'active', v1);
    const traffic = load(await agent.apiUrl());
    try {
      // A release whose signed self-test expects other outputs than the model gives.
      const bad = { ...c.selfTest, expected: c.selfTest.expected.map((row) => row.map((v) => 1 - v)) };
      const v2 = (await publishModel(t.hub, c, { selfTest: bad })).version;
      const afterSelfTest = await settled('probe-dev', 'rolled-back', v1);
      expect(afterSelfTest.lastError).toContain(`version ${v2}: self-test`);

      // A release the device serves on probation, but slower than its (impossible) budget.
      const v3 = (await publishModel(t.hub, c, { budgets: { p95Ms: 0.000001, probationMs: 20_000, minRequests: 20 } })).version;
      await waitFor(`v${v3} serving on probation`, () => (traffic.versions.get(v3) ? true : undefined), 20_000, 10);
      const afterBudget = await settled('probe-dev', 'rolled-back', v1);
      expect(afterBudget.lastError).toMatch(new RegExp(`version ${v3}: probation: p95 latency .* exceeds the budget`));

      // A good release still goes through after two rollbacks.
      const v4 = (await publishModel(t.hub, c)).version;
      await settled('probe-dev', 'active', v4);
      await waitFor(`v${v4} serving`, () => (traffic.versions.get(v4) ? true : undefined), 10_000, 10);

      const failed = t.hub.registry.failures('iris').filter((f) => f.deviceId === 'probe-dev').map((f) => f.version);
      expect(failed).toEqual([v2, v3]);
    } finally {
      await traffic.stop();
    }
    expect(traffic.failures).toEqual([]);
    expect([...traffic.versions.keys()].sort()).toEqual(expect.arrayContaining([1]));
    expect(traffic.versions.get(2)).toBeUndefined();
  });
});

describe('faults in the transport', () => {
  it('finishes a download after the broker restarts in the middle of it', async () => {
    const version = (await publishModel(t.hub, c, { chunkSize: 512 })).version;
    const agent = await spawnTestAgent(t, 'restart-dev', { stepDelayMs: 150 });
    procs.push(agent);
    await waitFor('a partial download', async () => {
      const files = (await readdir(join(agent.dir, 'downloads')).catch(() => [] as string[])).filter((f) => f.endsWith('.part'));
      return files[0] && (await stat(join(agent.dir, 'downloads', files[0]))).size >= 1024 ? true : undefined;
    }, 20_000, 20);
    // The embedded broker lives in the hub: restarting the hub restarts the broker, retained messages gone.
    const port = Number(new URL(t.hub.brokerUrl).port);
    await t.hub.close();
    await new Promise((r) => setTimeout(r, 500));
    t = await startTestHub({ mqttPort: port }, t.dir);
    await settled('restart-dev', 'active', version, 60_000);
  });

  it('delivers a release published before a hub restart to a device that comes online after it', async () => {
    const version = (await publishModel(t.hub, c)).version;
    const port = Number(new URL(t.hub.brokerUrl).port);
    await t.hub.close();
    t = await startTestHub({ mqttPort: port }, t.dir);
    const agent = await spawnTestAgent(t, 'late-dev');
    procs.push(agent);
    await settled('late-dev', 'active', version);
  });
});

/**
 * Retraining under faults: a worker past its time limit, and a hub killed (SIGKILL) during a
 * run. Neither may leave a version behind, and each run says what happened to it.
 */
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@edgeml/core';
import { startHub, type HubEvent, type RetrainRun } from '@edgeml/hub';
import { waitFor } from 'edgeml';
import { tempDir } from '../helpers/cli.js';
import { api, spawnRetrainHub, type RetrainHub } from './hub-process.js';
import { baseRows, toCsv } from './shift-data.js';

let dir: string;
let cleanup: () => Promise<void>;
const hubs: RetrainHub[] = [];

async function writeConfig(name: string, timeLimitMs: number, data = 'base.csv'): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, JSON.stringify({ model: 'shift', data, target: 'label', epochs: 40, budgets: { probationMs: 0 }, retrain: { timeLimitMs, checkEveryMs: 60_000 } }));
  return file;
}

/** Worker processes whose command line names `runsDir` (Linux /proc). */
async function workersUnder(runsDir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const p of await readdir('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    const cmd = await readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes('worker.js') && cmd.includes(runsDir)) pids.push(Number(p));
  }
  return pids;
}

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('retrain-faults'));
  await writeFile(join(dir, 'base.csv'), toCsv(baseRows(300, 0.04)));
  // Enough rows that training outlasts every wait below: the worker must end because the hub did.
  await writeFile(join(dir, 'large.csv'), toCsv(baseRows(8000, 0.04)));
});

afterAll(async () => {
  await Promise.all(hubs.map((h) => h.stop()));
  await cleanup?.();
});

describe('retraining faults', () => {
  it('kills a worker past its time limit and records the run as timed out, with no version', async () => {
    const hub = await startHub({ dataDir: join(dir, 'hub-a'), mqttPort: 0, log: silentLogger, retrainConfigs: [await writeConfig('slow.json', 1500)] });
    const events: HubEvent[] = [];
    hub.events.on((e) => events.push(e));
    try {
      const run = hub.retrainer.request('shift');
      expect(() => hub.retrainer.request('shift')).toThrow(/still running/);
      const done = await waitFor('the run to end', () => {
        const r = hub.registry.lineage.run(run.id)!;
        return r.state === 'running' ? undefined : r;
      }, 60_000, 50);
      expect(done.state).toBe('timed-out');
      expect(done.summary).toContain('time limit of 1500 ms');
      expect(hub.registry.listVersions('shift')).toEqual([]);
      // Told where the dashboard and webhooks listen, with the run and its verdict.
      const told = await waitFor('the outcome event', () => events.find((e) => e.type === 'retrain.outcome'), 10_000, 20);
      expect(told).toMatchObject({ model: 'shift', data: { run: run.id, outcome: 'timed-out', trigger: { reason: 'manual' } } });
      expect(hub.registry.lineage.lineage('shift', 1)).toBeUndefined();
      await waitFor('the worker to be gone', async () => ((await workersUnder(join(dir, 'hub-a', 'retrain'))).length === 0 ? true : undefined), 10_000);
    } finally {
      await hub.close();
    }
  });

  it('leaves no version when the hub is killed during a run, ends the worker, and marks the run interrupted on restart', async () => {
    const hubDir = join(dir, 'hub-b');
    const config = await writeConfig('large.json', 240_000, 'large.csv');
    const first = await spawnRetrainHub(hubDir, [config]);
    hubs.push(first);
    const started = await api<RetrainRun>(first, 'POST', '/v1/models/shift/retrain');
    expect(started.status).toBe(202);
    expect(started.body.state).toBe('running');
    const runsDir = join(hubDir, 'retrain');
    await waitFor('the worker to start', async () => ((await workersUnder(runsDir)).length ? true : undefined), 30_000, 50);
    await first.stop();
    // Its tie to the hub cut, the worker stops instead of training for no one.
    await waitFor('the worker to end with the hub', async () => ((await workersUnder(runsDir)).length === 0 ? true : undefined), 15_000, 100);

    const second = await spawnRetrainHub(hubDir, [config]);
    hubs.push(second);
    const run = (await api<RetrainRun>(second, 'GET', `/v1/models/shift/retrain-runs/${started.body.id}`)).body;
    expect(run).toMatchObject({ state: 'interrupted', version: null });
    expect((await api<unknown[]>(second, 'GET', '/v1/models/shift/versions')).body).toEqual([]);
    await expect(readdir(runsDir)).rejects.toThrow();
  });
});

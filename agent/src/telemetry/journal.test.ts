/**
 * The telemetry journal against real files: replay gives each window's counters once, from any
 * point a crash can leave the files in, and the local API never answers a prediction the
 * journal does not hold yet.
 */
import { appendFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type MqttClient } from 'mqtt';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '@edgeml/core';
import { startApi } from '../serve/http.js';
import { trainIris, type IrisFixture } from '../serve/iris.fixture.js';
import { Predictor } from '../serve/predictor.js';
import { WindowJournal } from './journal.js';
import { Reporter } from './reporter.js';
import type { WindowCounts, WindowFigures } from './window.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeml-journal-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const counts = (requests: number): WindowCounts => ({
  version: 1,
  from: '2026-01-01T00:00:00.000Z',
  to: '2026-01-01T00:00:01.000Z',
  requests,
  rows: requests,
  errors: 0,
  rejected: 0,
  latencyBuckets: new Array<number>(16).fill(0),
  predictions: { setosa: requests },
});
const figures = (requests: number): WindowFigures => ({ ...counts(requests), features: [{ count: requests, mean: 1, m2: 0, min: 1, max: 1, histogram: [requests] }] });

async function reopen(): Promise<Map<string, number>> {
  const { journal, recovered } = await WindowJournal.open(dir, silentLogger);
  journal.close();
  return new Map(recovered.map((w) => [w.id, w.figures.requests]));
}

describe('telemetry journal replay', () => {
  it('takes the newest record of each window, not their sum', async () => {
    const { journal } = await WindowJournal.open(dir, silentLogger);
    for (let i = 1; i <= 50; i++) journal.record('w1', counts(i), [1]);
    journal.close();
    expect(await reopen()).toEqual(new Map([['w1', 50]]));
  });

  it('gives a window replayed without a snapshot empty input statistics of its version\'s shape', async () => {
    const { journal } = await WindowJournal.open(dir, silentLogger);
    journal.record('w1', counts(3), [4, 0]);
    journal.close();
    const { journal: again, recovered } = await WindowJournal.open(dir, silentLogger);
    again.close();
    expect(recovered[0]!.figures.features).toEqual([
      { count: 0, mean: 0, m2: 0, min: 0, max: 0, histogram: [0, 0, 0, 0] },
      { count: 0, mean: 0, m2: 0, min: 0, max: 0, histogram: [] },
    ]);
  });

  it('counts once when killed between the snapshot and the removal of the segments it covers', async () => {
    const { journal } = await WindowJournal.open(dir, silentLogger);
    for (let i = 1; i <= 10; i++) journal.record('w1', counts(i), [1]);
    const segments = await readdir(dir);
    const kept = await Promise.all(segments.map(async (f) => [f, await readFile(join(dir, f), 'utf8')] as const));
    await journal.snapshot('w1', figures(10));
    for (let i = 11; i <= 12; i++) journal.record('w1', counts(i), [1]);
    journal.close();
    // The old segment is back, as if the process died before deleting it.
    for (const [f, text] of kept) await writeFile(join(dir, f), text);
    const { journal: again, recovered } = await WindowJournal.open(dir, silentLogger);
    again.close();
    expect(recovered.map((w) => [w.id, w.figures.requests])).toEqual([['w1', 12]]);
    // Input statistics come from the snapshot.
    expect(recovered[0]!.figures.features[0]!.count).toBe(10);
  });

  it('skips a window marked done (queued) and keeps the next one', async () => {
    const { journal } = await WindowJournal.open(dir, silentLogger);
    journal.record('w1', counts(5), [1]);
    const below = journal.rotate();
    journal.record('w2', counts(3), [1]);
    journal.markDone('w1');
    journal.close();
    expect(await reopen()).toEqual(new Map([['w2', 3]]));
    const { journal: j2 } = await WindowJournal.open(dir, silentLogger);
    await j2.discard(below);
    j2.close();
    expect(await reopen()).toEqual(new Map([['w2', 3]]));
  });

  it('ignores a record cut short and records of another shape', async () => {
    const { journal } = await WindowJournal.open(dir, silentLogger);
    journal.record('w1', counts(7), [1]);
    journal.close();
    const [seg] = (await readdir(dir)).filter((f) => f.endsWith('.journal'));
    await appendFile(join(dir, seg!), '{"w":"w1","n":99,"counts":{"requests":1}}\n{"w":"w1","n":100,"cou');
    expect(await reopen()).toEqual(new Map([['w1', 7]]));
  });

  it('drops the previous run\'s files once its windows are queued', async () => {
    const first = await WindowJournal.open(dir, silentLogger);
    first.journal.record('w1', counts(4), [1]);
    await first.journal.snapshot('w1', figures(4));
    first.journal.record('w1', counts(6), [1]);
    first.journal.close();
    const { journal, recovered } = await WindowJournal.open(dir, silentLogger);
    expect(recovered.map((w) => w.figures.requests)).toEqual([6]);
    await journal.dropRecovered();
    journal.close();
    expect(await reopen()).toEqual(new Map());
  });
});

describe('the local API and the journal', () => {
  let iris: IrisFixture;
  let client: MqttClient;
  beforeAll(async () => {
    iris = await trainIris();
    // A real client that never connects (nothing to close): records stay in the outbox.
    client = connect('mqtt://127.0.0.1:9', { manualConnect: true });
  }, 60_000);

  it('holds every prediction before its answer is sent, merged requests included', async () => {
    const predictor = new Predictor();
    predictor.swap(await iris.load(1));
    const reporter = await Reporter.start({ deviceId: 'd1', model: 'iris', dataDir: dir, predictor, client, log: silentLogger, periodMs: 600_000, maxQueued: 100, snapshotMs: 600_000 });
    const api = await startApi({ host: '127.0.0.1', port: 0, predictor, log: silentLogger, health: () => ({}), processMetrics: false });
    const journaled = async () => {
      let most = 0;
      for (const f of (await readdir(join(dir, 'outbox'))).filter((n) => n.endsWith('.journal'))) {
        for (const line of (await readFile(join(dir, 'outbox', f), 'utf8')).split('\n')) {
          if (line) most = Math.max(most, (JSON.parse(line) as { counts?: { requests: number } }).counts?.requests ?? 0);
        }
      }
      return most;
    };
    try {
      let answered = 0;
      const lows: number[] = [];
      // Concurrent requests: the batcher merges them into shared runtime calls.
      await Promise.all(
        Array.from({ length: 200 }, async (_, i) => {
          const res = await fetch(`${api.url}/v1/predict`, { method: 'POST', body: JSON.stringify({ row: iris.rows[i % iris.rows.length] }) });
          expect(res.status).toBe(200);
          const mine = ++answered;
          const seen = await journaled();
          if (seen < mine) lows.push(seen - mine);
        }),
      );
      expect(lows).toEqual([]);
      expect(await journaled()).toBe(200);
    } finally {
      await api.close();
      await reporter.stop(0);
    }
    // A clean stop queued the window: nothing is left for a replay.
    const after = await WindowJournal.open(join(dir, 'outbox'), silentLogger);
    after.journal.close();
    expect(after.recovered).toEqual([]);
  }, 60_000);
});

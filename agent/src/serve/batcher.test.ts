import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '@edgeml/runtime';
import { Batcher } from './batcher.js';
import { trainIris, type IrisFixture } from './iris.fixture.js';
import { Predictor, type PredictResult, type Served } from './predictor.js';

let iris: IrisFixture;
let predictor: Predictor;
const served: Served[] = [];

beforeAll(async () => {
  iris = await trainIris();
  predictor = new Predictor();
  predictor.swap(await iris.load(1));
  predictor.observe((s) => served.push(s));
});
afterAll(() => predictor?.swap(null)?.runtime.dispose());

/** The first request of a pass runs at once: its answer is a value, not a promise. */
const immediate = (r: PredictResult | Promise<PredictResult>): PredictResult => {
  if (r instanceof Promise) throw new Error('expected the request to run at once');
  return r;
};
/** A request made while a pass is open waits for the next merged call. */
const queued = (r: PredictResult | Promise<PredictResult>): Promise<PredictResult> => {
  if (!(r instanceof Promise)) throw new Error('expected the request to wait for a merged call');
  return r;
};

const labelsOf = (r: PredictResult) => r.predictions.map((p) => (p as { label: string }).label);

describe('Batcher', () => {
  it('runs the first request of a pass at once and merges the ones after it into one call', async () => {
    const flushes: [number, number][] = [];
    const batcher = new Batcher(predictor, { onFlush: (n, rows) => flushes.push([n, rows]) });
    immediate(batcher.submit([iris.rows[0]]));
    const rest = iris.rows.slice(1, 11).map((row, i) => queued(batcher.submit(i % 2 ? [row] : [row, iris.rows[0]!])));
    const results = await Promise.all(rest);
    expect(flushes).toEqual([[10, 15]]);
    const alone = predictor.predict(iris.rows.slice(0, 11));
    const want = labelsOf(alone);
    results.forEach((r, i) => {
      expect(labelsOf(r)).toEqual(i % 2 ? [want[i + 1]] : [want[i + 1], want[0]]);
      const p = r.predictions[0] as { probabilities: number[] };
      p.probabilities.forEach((v, c) => expect(v).toBeCloseTo((alone.predictions[i + 1] as { probabilities: number[] }).probabilities[c]!, 5));
    });
  });

  it('fails only the request with a bad row, naming its own row index', async () => {
    const batcher = new Batcher(predictor);
    immediate(batcher.submit([iris.rows[0]]));
    const good1 = batcher.submit([iris.rows[1], iris.rows[2]]);
    const bad = batcher.submit([iris.rows[3], [1, 2, 'x', 4]]);
    const good2 = batcher.submit([iris.rows[4]]);
    await expect(bad).rejects.toThrow(InputError);
    await expect(bad).rejects.toThrow(/^row 1: feature "petal_length" is string/);
    expect((await good1).predictions).toHaveLength(2);
    expect(labelsOf(await good2)).toEqual(labelsOf(predictor.predict([iris.rows[4]])));
  });

  it('lets observers see every request, charging merged ones their share of the call', async () => {
    const batcher = new Batcher(predictor);
    const before = served.length;
    immediate(batcher.submit([iris.rows[0]]));
    await Promise.all([queued(batcher.submit([iris.rows[1]])), queued(batcher.submit([iris.rows[2], iris.rows[3], iris.rows[4]]))]);
    const seen = served.slice(before);
    expect(seen.map((s) => [s.rows, s.ok, s.version])).toEqual([
      [1, true, 1],
      [1, true, 1],
      [3, true, 1],
    ]);
    // Charged by rows: the three-row request carries three times the one-row request's share.
    expect(seen[2]!.latencyMs).toBeCloseTo(seen[1]!.latencyMs * 3, 6);
  });

  it('keeps merged calls within maxRows and runs a large request on its own', async () => {
    const flushes: [number, number][] = [];
    const batcher = new Batcher(predictor, { maxRows: 4, onFlush: (n, rows) => flushes.push([n, rows]) });
    immediate(batcher.submit([iris.rows[0]]));
    const waiting = [0, 1, 2, 3, 4].map((i) => queued(batcher.submit([iris.rows[i], iris.rows[i + 1]])));
    immediate(batcher.submit(iris.rows.slice(0, 6)));
    await Promise.all(waiting);
    expect(flushes.every(([, rows]) => rows <= 4)).toBe(true);
    expect(flushes.reduce((a, [n]) => a + n, 0) + 1).toBe(5);
  });

  it('serves a version swapped in while requests wait with the new version, none failing', async () => {
    const batcher = new Batcher(predictor);
    const v2 = await iris.load(2);
    const v1 = predictor.active!;
    try {
      immediate(batcher.submit([iris.rows[0]]));
      const waiting = [queued(batcher.submit([iris.rows[1]])), queued(batcher.submit([iris.rows[2]]))];
      predictor.swap(v2);
      const results = await Promise.all(waiting);
      expect(results.map((r) => r.version)).toEqual([2, 2]);
    } finally {
      predictor.swap(v1);
      v2.runtime.dispose();
    }
  });
});

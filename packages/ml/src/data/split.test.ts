import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readCsvFile } from './csv.js';
import { buildDataset, type Dataset } from './dataset.js';
import { seededRandom, shuffleInPlace } from './rng.js';
import { splitDataset, type Splits } from './split.js';

const dataDir = new URL('../../../../data/', import.meta.url).pathname;

let iris: Dataset;
let diabetes: Dataset;
beforeAll(async () => {
  iris = buildDataset(await readCsvFile(join(dataDir, 'iris.csv')), { target: 'species' }).dataset;
  diabetes = buildDataset(await readCsvFile(join(dataDir, 'diabetes.csv')), { target: 'progression' }).dataset;
});

const classCounts = (ds: Dataset): number[] => {
  const counts = new Array<number>(ds.labels!.length).fill(0);
  for (const y of ds.y) counts[y]!++;
  return counts;
};
const contents = (s: Splits) => [s.train, s.validation, s.test].map((d) => [[...d.x], [...d.y]]);

describe('seeded generator', () => {
  it('repeats its sequence for a seed and differs between seeds', () => {
    const draw = (seed: number) => Array.from({ length: 5 }, seededRandom(seed));
    expect(draw(42)).toEqual(draw(42));
    expect(draw(42)).not.toEqual(draw(43));
    for (const v of draw(7)) expect(v >= 0 && v < 1).toBe(true);
  });

  it('shuffles into a permutation of the same items', () => {
    const items = Array.from({ length: 20 }, (_, i) => i);
    const shuffled = shuffleInPlace([...items], seededRandom(3));
    expect(shuffled).not.toEqual(items);
    expect([...shuffled].sort((a, b) => a - b)).toEqual(items);
  });
});

describe('splitDataset', () => {
  it('gives identical splits for the same seed', () => {
    expect(contents(splitDataset(iris, { seed: 11 }))).toEqual(contents(splitDataset(iris, { seed: 11 })));
  });

  it('gives different splits for different seeds', () => {
    expect(contents(splitDataset(iris, { seed: 11 }))).not.toEqual(contents(splitDataset(iris, { seed: 12 })));
  });

  it('keeps every row exactly once across the three splits', () => {
    const s = splitDataset(diabetes, { seed: 5 });
    expect(s.train.n + s.validation.n + s.test.n).toBe(diabetes.n);
    const rowsOf = (d: Dataset) => Array.from({ length: d.n }, (_, r) => [...d.x.subarray(r * 10, r * 10 + 10), d.y[r]].join(','));
    const all = [...rowsOf(s.train), ...rowsOf(s.validation), ...rowsOf(s.test)].sort();
    expect(all).toEqual(rowsOf(diabetes).sort());
  });

  it('stratifies classification: every class in each split, in proportion', () => {
    const s = splitDataset(iris, { seed: 3 });
    expect(classCounts(s.test)).toEqual([8, 8, 8]);
    expect(classCounts(s.validation)).toEqual([8, 8, 8]);
    expect(classCounts(s.train)).toEqual([34, 34, 34]);
    expect(s.seed).toBe(3);
  });

  it('honours the shares asked for', () => {
    const s = splitDataset(diabetes, { seed: 1, validation: 0.1, test: 0.2 });
    expect([s.train.n, s.validation.n, s.test.n]).toEqual([310, 44, 88]);
  });

  it('keeps the dataset description on each split', () => {
    const s = splitDataset(iris, { seed: 1 });
    expect(s.test).toMatchObject({ features: iris.features, target: 'species', task: 'classification', labels: iris.labels });
  });
});

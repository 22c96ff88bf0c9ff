import { join } from 'node:path';
import type { ModelSpec } from '@edgeml/core';
import { describe, expect, it } from 'vitest';
import { readCsvFile } from '../data/csv.js';
import { buildDataset, type Dataset } from '../data/dataset.js';
import { splitDataset } from '../data/split.js';
import { applyPreprocessing, decodeOutputs, fitPreprocessing, outputsToTargets, scaleTargets } from '@edgeml/runtime';

const dataDir = new URL('../../../../data/', import.meta.url).pathname;

const small: Dataset = {
  features: ['a', 'b', 'flat'],
  target: 'y',
  task: 'regression',
  x: Float32Array.from([1, 10, 7, 2, 20, 7, 3, 30, 7, 6, 40, 7]),
  y: Float32Array.from([100, 110, 120, 130]),
  n: 4,
};

describe('fitPreprocessing', () => {
  it('standardises with the population mean and std of each feature', () => {
    const p = fitPreprocessing(small);
    expect(p.kind).toBe('standardize');
    expect(p.mean).toEqual([3, 25, 7]);
    // a: deviations -2,-1,0,3 -> var 14/4; b: -15,-5,5,15 -> var 500/4
    expect(p.std[0]).toBeCloseTo(Math.sqrt(14 / 4), 12);
    expect(p.std[1]).toBeCloseTo(Math.sqrt(500 / 4), 12);
  });

  it('gives a constant feature std 1 instead of dividing by zero', () => {
    expect(fitPreprocessing(small).std[2]).toBe(1);
  });

  it('fits the regression target mean and std', () => {
    const t = fitPreprocessing(small).target!;
    expect(t.mean).toBe(115);
    expect(t.std).toBeCloseTo(Math.sqrt(500 / 4), 12);
  });

  it('has no target scaling for classification', () => {
    expect(fitPreprocessing({ ...small, task: 'classification', labels: ['x', 'y'] }).target).toBeUndefined();
  });

  it('fits on the training split only, matching a hand computation over its rows', async () => {
    const iris = buildDataset(await readCsvFile(join(dataDir, 'iris.csv')), { target: 'species' }).dataset;
    const { train } = splitDataset(iris, { seed: 9 });
    const f = train.features.length;
    const column = (ds: Dataset, j: number) => Array.from({ length: ds.n }, (_, r) => ds.x[r * f + j]!);
    const meanOf = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    const stdOf = (v: number[]) => Math.sqrt(v.reduce((a, b) => a + (b - meanOf(v)) ** 2, 0) / v.length);

    const p = fitPreprocessing(train);
    for (let j = 0; j < f; j++) {
      expect(p.mean[j]).toBeCloseTo(meanOf(column(train, j)), 10);
      expect(p.std[j]).toBeCloseTo(stdOf(column(train, j)), 10);
    }
    expect(p.mean).not.toEqual(fitPreprocessing(iris).mean);
  });
});

describe('applyPreprocessing', () => {
  it('centres and scales every row by its feature', () => {
    const spec = { kind: 'standardize' as const, mean: [1, 10], std: [2, 5] };
    expect([...applyPreprocessing(spec, Float32Array.from([3, 0, 1, 20]))]).toEqual([1, -2, 0, 2]);
  });

  it('writes into the buffer given and leaves the raw rows alone', () => {
    const spec = { kind: 'standardize' as const, mean: [1], std: [4] };
    const raw = Float32Array.from([5, 9]);
    const out = new Float32Array(2);
    expect(applyPreprocessing(spec, raw, out)).toBe(out);
    expect([...out]).toEqual([1, 2]);
    expect([...raw]).toEqual([5, 9]);
  });

  it('gives training rows mean 0 and std 1', () => {
    const p = fitPreprocessing(small);
    const x = applyPreprocessing(p, small.x);
    for (const j of [0, 1]) {
      const col = [0, 1, 2, 3].map((r) => x[r * 3 + j]!);
      expect(col.reduce((a, b) => a + b, 0) / 4).toBeCloseTo(0, 6);
      expect(Math.sqrt(col.reduce((a, b) => a + b * b, 0) / 4)).toBeCloseTo(1, 6);
    }
  });

  it('scales regression targets and leaves class indices alone', () => {
    const p = fitPreprocessing(small);
    const scaled = scaleTargets(p, small.y);
    expect(scaled[0]).toBeCloseTo(-15 / Math.sqrt(125), 6);
    const classes = Float32Array.from([0, 1, 1]);
    expect(scaleTargets({ kind: 'standardize', mean: [0], std: [1] }, classes)).toBe(classes);
  });
});

describe('decodeOutputs', () => {
  const classifier: ModelSpec = {
    task: 'classification',
    target: 'species',
    features: ['a', 'b'],
    inputShape: [2],
    labels: ['setosa', 'versicolor', 'virginica'],
    preprocessing: { kind: 'standardize', mean: [0, 0], std: [1, 1] },
  };
  const regressor: ModelSpec = {
    task: 'regression',
    target: 'progression',
    features: ['a'],
    inputShape: [1],
    preprocessing: { kind: 'standardize', mean: [0], std: [1], target: { mean: 150, std: 20 } },
  };

  it('names the most probable label of each row with its probabilities', () => {
    const outputs = Float32Array.from([0.25, 0.5, 0.25, 0.75, 0.125, 0.125]);
    expect(decodeOutputs(classifier, outputs, 2)).toEqual([
      { label: 'versicolor', index: 1, probabilities: [0.25, 0.5, 0.25] },
      { label: 'setosa', index: 0, probabilities: [0.75, 0.125, 0.125] },
    ]);
    expect([...outputsToTargets(classifier, outputs, 2)]).toEqual([1, 0]);
  });

  it('maps regression outputs back to the target scale', () => {
    const outputs = Float32Array.from([0.5, -1, 0]);
    expect(decodeOutputs(regressor, outputs, 3)).toEqual([{ value: 160 }, { value: 130 }, { value: 150 }]);
    expect([...outputsToTargets(regressor, outputs, 3)]).toEqual([160, 130, 150]);
  });

  it('round-trips a target through scaleTargets and decodeOutputs', () => {
    const scaled = scaleTargets(regressor.preprocessing, Float32Array.from([123]));
    expect((decodeOutputs(regressor, scaled, 1)[0] as { value: number }).value).toBeCloseTo(123, 4);
  });
});

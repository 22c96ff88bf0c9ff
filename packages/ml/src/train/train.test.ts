import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCsvFile } from '../data/csv.js';
import { buildDataset } from '../data/dataset.js';
import { splitDataset, type Splits } from '../data/split.js';
import { evaluateRuntime } from '../evaluate/evaluate.js';
import type { ClassificationMetrics, RegressionMetrics } from '../evaluate/metrics.js';
import { fitPreprocessing } from '@edgeml/runtime';
import { saveBundle } from '../runtime/bundle.js';
import { tfjsWasmLoader } from '../runtime/tfjs.js';
import { loadTf, type tf } from './backend.js';
import { trainModel, type TrainResult } from './train.js';

const dataDir = new URL('../../../../data/', import.meta.url).pathname;

async function splitsOf(file: string, target: string, seed: number): Promise<Splits> {
  const { dataset } = buildDataset(await readCsvFile(join(dataDir, file)), { target });
  return splitDataset(dataset, { seed });
}

const weightsOf = (r: TrainResult) => r.model.getWeights().map((w) => Array.from(w.dataSync()));

// tfjs has one active backend per process: every training runs before the evaluations.
let iris: Splits;
let first: TrainResult;
let second: TrainResult;
let diabetes: TrainResult;
let diabetesSplits: Splits;
beforeAll(async () => {
  iris = await splitsOf('iris.csv', 'species', 7);
  first = await trainModel(iris, { arch: 'mlp', seed: 7, epochs: 30 });
  second = await trainModel(iris, { arch: 'mlp', seed: 7, epochs: 30 });
  diabetesSplits = await splitsOf('diabetes.csv', 'progression', 42);
  diabetes = await trainModel(diabetesSplits, { arch: 'mlp', seed: 7, epochs: 15, hidden: [16] });
});
afterAll(() => {
  for (const r of [first, second, diabetes]) r?.model.dispose();
});

describe('trainModel', () => {
  it('gives identical weights, history and outputs for the same seed', async () => {
    const tf = await loadTf();
    expect(weightsOf(second)).toEqual(weightsOf(first));
    expect(second.history).toEqual(first.history);
    expect(second.bestEpoch).toBe(first.bestEpoch);
    const probe = tf.tensor2d([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]);
    const out = (r: TrainResult) => Array.from((r.model.predict(probe) as tf.Tensor).dataSync());
    expect(out(second)).toEqual(out(first));
    probe.dispose();
  });

  it('gives different weights for a different seed', async () => {
    const other = await trainModel(iris, { arch: 'mlp', seed: 8, epochs: 2 });
    try {
      expect(weightsOf(other)[0]).not.toEqual(weightsOf(first)[0]);
    } finally {
      other.model.dispose();
    }
  });

  it('describes the model it trained, with preprocessing fitted on the training split only', () => {
    expect(first.spec).toEqual({
      task: 'classification',
      target: 'species',
      features: ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'],
      inputShape: [4],
      labels: ['setosa', 'versicolor', 'virginica'],
      preprocessing: fitPreprocessing(iris.train),
    });
    expect(first.backend).toMatch(/^(wasm|tensorflow)$/);
  });

  it('logs each epoch and keeps the weights of the best validation epoch', () => {
    expect(first.history.length).toBeGreaterThan(0);
    expect(first.history.length).toBeLessThanOrEqual(30);
    expect(first.history.map((h) => h.epoch)).toEqual(first.history.map((_, i) => i + 1));
    const best = Math.min(...first.history.map((h) => h.valLoss));
    expect(first.history[first.bestEpoch - 1]!.valLoss).toBe(best);
    expect(first.stoppedEarly).toBe(first.history.length < 30);
  });

  it('stores the regression target scaling in the spec', () => {
    expect(diabetes.spec.task).toBe('regression');
    expect(diabetes.spec.preprocessing.target).toEqual(fitPreprocessing(diabetesSplits.train).target);
  });
});

describe('evaluation in the device runtime', () => {
  it('classifies iris test rows at 0.9 accuracy or better through the wasm runtime', async () => {
    const runtime = await tfjsWasmLoader()(await saveBundle(first.model));
    try {
      expect(runtime.info).toEqual({ runtime: 'tfjs-wasm', format: 'tfjs-layers', inputShape: [4], outputSize: 3 });
      const { metrics, outputs, predicted } = evaluateRuntime(runtime, first.spec, iris.test);
      expect((await loadTf()).getBackend()).toBe('wasm');
      expect(metrics.task).toBe('classification');
      expect((metrics as ClassificationMetrics).accuracy).toBeGreaterThanOrEqual(0.9);
      expect(outputs).toHaveLength(iris.test.n * 3);
      expect(predicted).toHaveLength(iris.test.n);
    } finally {
      runtime.dispose();
    }
  });

  it('evaluates a regressor on the target scale', async () => {
    const runtime = await tfjsWasmLoader()(await saveBundle(diabetes.model));
    try {
      const { metrics } = evaluateRuntime(runtime, diabetes.spec, diabetesSplits.test, 16);
      const m = metrics as RegressionMetrics;
      expect(m.n).toBe(diabetesSplits.test.n);
      // Progression runs 25..346 around a mean near 150: outputs left in standardised units
      // would miss by about 150 on average.
      expect(m.mae).toBeLessThan(80);
    } finally {
      runtime.dispose();
    }
  });
});

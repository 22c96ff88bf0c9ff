/**
 * The realistic checks: models trained on real data (standardised features), exported to int8
 * TFLite with calibration on the training split, evaluated in the real interpreter on the
 * test split. int8 must stay within 1 accuracy point of float tfjs; for the digits CNN its
 * weight data must also be at most 0.27x the float32 file's.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { exportTflite } from './convert/export.js';
import { createTfliteRuntime, readTflite } from '@edgeml/runtime';

interface Split {
  x: Float32Array;
  y: Int32Array;
  n: number;
}

interface Data {
  train: Split;
  test: Split;
  features: number;
  classes: number;
}

/** A CSV with a header and a class column: fixed shuffle, 80/20 split, standardised on train. */
function loadClassification(file: string, targetColumn: string): Data {
  const path = fileURLToPath(new URL(`../../../data/${file}`, import.meta.url));
  const [header, ...lines] = readFileSync(path, 'utf8').trim().split(/\r?\n/);
  const target = header!.split(',').indexOf(targetColumn);
  const rows = lines.map((l) => l.split(','));
  const labels = [...new Set(rows.map((r) => r[target]!))].sort();
  const features = rows[0]!.length - 1;
  let s = 42;
  const rnd = () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  for (let i = rows.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [rows[i], rows[j]] = [rows[j]!, rows[i]!];
  }
  const cut = Math.floor(rows.length * 0.8);
  const split = (part: string[][]): Split => {
    const x = new Float32Array(part.length * features);
    const y = new Int32Array(part.length);
    part.forEach((r, i) => {
      y[i] = labels.indexOf(r[target]!);
      r.filter((_, c) => c !== target).forEach((v, f) => (x[i * features + f] = Number(v)));
    });
    return { x, y, n: part.length };
  };
  const train = split(rows.slice(0, cut));
  const test = split(rows.slice(cut));
  for (let f = 0; f < features; f++) {
    let mean = 0;
    for (let i = 0; i < train.n; i++) mean += train.x[i * features + f]!;
    mean /= train.n;
    let sq = 0;
    for (let i = 0; i < train.n; i++) sq += (train.x[i * features + f]! - mean) ** 2;
    const std = Math.sqrt(sq / train.n) || 1;
    for (const part of [train, test]) for (let i = 0; i < part.n; i++) part.x[i * features + f] = (part.x[i * features + f]! - mean) / std;
  }
  return { train, test, features, classes: labels.length };
}

function digitsCnn(): tf.LayersModel {
  let seed = 1;
  const init = () => tf.initializers.glorotUniform({ seed: seed++ });
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init() }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tf.layers.conv2d({ filters: 16, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init() }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 32, activation: 'relu', kernelInitializer: init() }));
  m.add(tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: init() }));
  return m;
}

function mlp(features: number, classes: number): tf.LayersModel {
  let seed = 7;
  const init = () => tf.initializers.glorotUniform({ seed: seed++ });
  const m = tf.sequential();
  m.add(tf.layers.dense({ inputShape: [features], units: 64, activation: 'relu', kernelInitializer: init() }));
  m.add(tf.layers.dense({ units: 32, activation: 'relu', kernelInitializer: init() }));
  m.add(tf.layers.dense({ units: classes, activation: 'softmax', kernelInitializer: init() }));
  return m;
}

function accuracy(probs: ArrayLike<number>, y: Int32Array, classes: number): number {
  let right = 0;
  for (let i = 0; i < y.length; i++) if (argmax(probs, i, classes) === y[i]) right++;
  return (100 * right) / y.length;
}

function argmax(probs: ArrayLike<number>, row: number, classes: number): number {
  let best = 0;
  for (let c = 1; c < classes; c++) if (probs[row * classes + c]! > probs[row * classes + best]!) best = c;
  return best;
}

interface Outcome {
  floatTfjs: number;
  floatTflite: number;
  int8: number;
  agreement: number;
  int8Bytes: Uint8Array;
  floatBytes: Uint8Array;
}

/** Train, export both ways, and score float tfjs, float TFLite and int8 TFLite on the test split. */
async function trainAndScore(data: Data, model: tf.LayersModel, inputShape: number[], epochs: number, learningRate: number): Promise<Outcome> {
  const { train, test, features, classes } = data;
  model.compile({ optimizer: tf.train.adam(learningRate), loss: 'sparseCategoricalCrossentropy' });
  const xs = tf.tensor(train.x, [train.n, ...inputShape]);
  const ys = tf.tensor(train.y, [train.n], 'float32');
  await model.fit(xs, ys, { epochs, batchSize: 64, shuffle: false, verbose: 0 });
  xs.dispose();
  ys.dispose();
  const floatTfjs = accuracy((model.predict(tf.tensor(test.x, [test.n, ...inputShape])) as tf.Tensor).dataSync(), test.y, classes);

  const calibrationRows = Math.min(300, train.n);
  const int8Bytes = await exportTflite(model, { quantization: 'int8', calibration: train.x.subarray(0, calibrationRows * features) });
  const floatBytes = await exportTflite(model, { quantization: 'float32' });
  const int8 = await createTfliteRuntime(int8Bytes);
  const float = await createTfliteRuntime(floatBytes);
  const int8Probs = int8.predict(test.x, test.n);
  const floatProbs = float.predict(test.x, test.n);
  int8.dispose();
  float.dispose();
  let agree = 0;
  for (let i = 0; i < test.n; i++) if (argmax(int8Probs, i, classes) === argmax(floatProbs, i, classes)) agree++;
  return {
    floatTfjs,
    floatTflite: accuracy(floatProbs, test.y, classes),
    int8: accuracy(int8Probs, test.y, classes),
    agreement: (100 * agree) / test.n,
    int8Bytes,
    floatBytes,
  };
}

function report(name: string, o: Outcome): void {
  const i = readTflite(o.int8Bytes).size;
  const f = readTflite(o.floatBytes).size;
  console.log(
    `${name}: float tfjs ${o.floatTfjs.toFixed(2)}%, float TFLite ${o.floatTflite.toFixed(2)}%, int8 TFLite ${o.int8.toFixed(2)}%, ` +
      `agreement ${o.agreement.toFixed(1)}%; weights ${f.weightBytes} B -> ${i.weightBytes} B (${(i.weightBytes / f.weightBytes).toFixed(3)}x), ` +
      `fixed overhead ${f.overheadBytes} B float32 / ${i.overheadBytes} B int8`,
  );
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => {
  tf.disposeVariables();
});

it('digits CNN: int8 TFLite within 1 point of float tfjs, weights at most 0.27x float32', async () => {
  const data = loadClassification('digits.csv', 'digit');
  const o = await trainAndScore(data, digitsCnn(), [8, 8, 1], 6, 0.01);
  report('digits CNN', o);
  expect(o.floatTfjs).toBeGreaterThan(90);
  expect(o.floatTflite).toBeCloseTo(o.floatTfjs, 5);
  expect(Math.abs(o.int8 - o.floatTfjs)).toBeLessThanOrEqual(1.0);
  expect(readTflite(o.int8Bytes).size.weightBytes / readTflite(o.floatBytes).size.weightBytes).toBeLessThanOrEqual(0.27);
  // The CNN trains on the cpu backend: 2-3 minutes when the machine's two cores are shared.
}, 400_000);

it('breast_cancer MLP: int8 TFLite within 1 point of float tfjs', async () => {
  const data = loadClassification('breast_cancer.csv', 'diagnosis');
  const o = await trainAndScore(data, mlp(data.features, data.classes), [data.features], 30, 0.003);
  report('breast_cancer MLP', o);
  expect(o.floatTfjs).toBeGreaterThan(90);
  expect(o.floatTflite).toBeCloseTo(o.floatTfjs, 5);
  expect(Math.abs(o.int8 - o.floatTfjs)).toBeLessThanOrEqual(1.0);
});

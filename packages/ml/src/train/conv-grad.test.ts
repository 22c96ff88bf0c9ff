/**
 * The wasm filter gradient against tfjs' own cpu kernel, the reference path, on small inputs
 * covering the padding and stride cases a Keras conv2d produces; then a seeded CNN trained on
 * wasm twice, which must come out byte-identical.
 */
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../data/rng.js';
import { loadTf, useTrainingBackend, type TrainingBackend } from './backend.js';
import { buildModel } from './architectures.js';

interface Case {
  name: string;
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: number;
  pad: 'same' | 'valid';
}

const cases: Case[] = [
  { name: 'same padding, one input channel', x: [3, 8, 8, 1], filter: [3, 3, 1, 4], strides: 1, pad: 'same' },
  { name: 'valid padding, stride 2, several channels', x: [2, 9, 7, 3], filter: [3, 2, 3, 5], strides: 2, pad: 'valid' },
  { name: 'same padding, stride 2, even kernel', x: [2, 6, 6, 2], filter: [2, 2, 2, 3], strides: 2, pad: 'same' },
];

function values(n: number, seed: number): Float32Array {
  const r = seededRandom(seed);
  return Float32Array.from({ length: n }, () => r() * 2 - 1);
}

/** Gradients of sum(conv2d(x, w) * weights) with respect to x and w, on one backend. */
async function gradients(backend: TrainingBackend, c: Case): Promise<{ dx: Float32Array; dw: Float32Array }> {
  const tf = await loadTf();
  await useTrainingBackend(backend === 'cpu' ? 'cpu' : 'wasm');
  expect(tf.getBackend()).toBe(backend);
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  const x = tf.tensor4d(values(size(c.x), 1), c.x);
  const w = tf.tensor4d(values(size(c.filter), 2), c.filter);
  const outShape = tf.tidy(() => tf.conv2d(x, w, c.strides, c.pad).shape);
  const mix = tf.tensor(values(size(outShape), 3), outShape);
  const [dx, dw] = tf.grads((a, b) => tf.sum(tf.mul(tf.conv2d(a as typeof x, b as typeof w, c.strides, c.pad), mix)))([x, w]);
  const out = { dx: dx!.dataSync() as Float32Array, dw: dw!.dataSync() as Float32Array };
  tf.dispose([x, w, mix, dx!, dw!]);
  return out;
}

describe('the wasm Conv2DBackpropFilter kernel', () => {
  for (const c of cases) {
    it(`matches the cpu reference gradient: ${c.name}`, async () => {
      const ref = await gradients('cpu', c);
      const got = await gradients('wasm', c);
      expect(got.dw).toHaveLength(ref.dw.length);
      // Sums of a few hundred products in another order: float32 rounding, nothing more.
      for (let i = 0; i < ref.dw.length; i++) expect(Math.abs(got.dw[i]! - ref.dw[i]!)).toBeLessThan(1e-4 * (1 + Math.abs(ref.dw[i]!)));
      for (let i = 0; i < ref.dx.length; i++) expect(Math.abs(got.dx[i]! - ref.dx[i]!)).toBeLessThan(1e-4 * (1 + Math.abs(ref.dx[i]!)));
    });
  }

  it('frees its patch matrix and intermediate products', async () => {
    const tf = await loadTf();
    await gradients('wasm', cases[0]!);
    // Backend data ids, not engine tensors: the kernel's intermediates exist only in the backend.
    const before = tf.backend().numDataIds();
    await gradients('wasm', cases[1]!);
    expect(tf.backend().numDataIds()).toBe(before);
  });

  it('trains a seeded CNN byte-identically twice on wasm', async () => {
    const tf = await loadTf();
    await useTrainingBackend('wasm');
    const run = async () => {
      const model = await buildModel({ arch: 'cnn', inputShape: [8, 8, 1], outputs: 3, task: 'classification', seed: 5 });
      model.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy' });
      const xs = tf.tensor4d(values(24 * 64, 9), [24, 8, 8, 1]);
      const ys = tf.oneHot(tf.tensor1d(Int32Array.from({ length: 24 }, (_, i) => i % 3), 'int32'), 3);
      await model.fit(xs, ys, { epochs: 3, batchSize: 8, shuffle: false, verbose: 0 });
      const weights = model.getWeights().map((t) => Array.from(t.dataSync()));
      tf.dispose([xs, ys]);
      model.dispose();
      return weights;
    };
    const first = await run();
    expect(await run()).toEqual(first);
  });
});

/**
 * Golden tests per layer type: tiny seeded models, exported and run in the real TFLite
 * interpreter, against tfjs (cpu backend). float32 must match tfjs within 1e-5; int8 must be
 * within one output quantisation step of the dequantised reference (the same graph computed
 * in float by tfjs on the file's own dequantised weights, with every int8 tensor rounded to
 * its grid), and close to the float tfjs model.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '@edgeml/ml';
import { createTfliteRuntime, readTflite, tensorData, type TfliteTensor } from '@edgeml/runtime';
import { exportTflite } from './export.js';

const N = 48;

const rng = seededRandom;

const uniform = (n: number, seed: number, lo = -2, hi = 2): Float32Array => {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
};

let seed = 100;
const k = () => tf.initializers.glorotUniform({ seed: seed++ });
const b = () => tf.initializers.randomUniform({ minval: -0.5, maxval: 0.5, seed: seed++ });
const dense = (units: number, activation: string, extra: object = {}) =>
  tf.layers.dense({ units, activation: activation as 'relu', kernelInitializer: k(), biasInitializer: b(), ...extra });
const conv = (extra: object) =>
  tf.layers.conv2d({ filters: 4, kernelSize: 3, kernelInitializer: k(), biasInitializer: b(), ...extra } as Parameters<typeof tf.layers.conv2d>[0]);

const batchNorm = () => tf.layers.batchNormalization({});

/** Give BatchNormalization non-trivial statistics (fresh ones would fold to the identity). */
function randomizeBatchNorms(model: tf.LayersModel): void {
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    const [gamma, beta, mean, variance] = layer.getWeights().map((w) => w.shape[0]!);
    layer.setWeights([
      tf.tensor1d(uniform(gamma!, seed++, 0.5, 1.5)),
      tf.tensor1d(uniform(beta!, seed++, -0.5, 0.5)),
      tf.tensor1d(uniform(mean!, seed++, -0.5, 0.5)),
      tf.tensor1d(uniform(variance!, seed++, 0.5, 2)),
    ]);
  }
}

function seq(inputShape: number[], layers: tf.layers.Layer[]): tf.LayersModel {
  const m = tf.sequential();
  m.add(tf.layers.inputLayer({ inputShape }));
  for (const l of layers) m.add(l);
  randomizeBatchNorms(m);
  return m;
}

function residual(): tf.LayersModel {
  const input = tf.input({ shape: [6, 6, 3] });
  const a = conv({ filters: 3, padding: 'same', activation: 'relu' }).apply(input) as tf.SymbolicTensor;
  const c = conv({ filters: 3, padding: 'same' }).apply(a) as tf.SymbolicTensor;
  const sum = tf.layers.add().apply([c, input]) as tf.SymbolicTensor;
  const out = tf.layers.activation({ activation: 'relu' }).apply(sum) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

const cases: { name: string; inputShape: number[]; build: () => tf.LayersModel }[] = [
  { name: 'Dense (linear)', inputShape: [12], build: () => seq([12], [dense(5, 'linear')]) },
  { name: 'Dense + relu (fused)', inputShape: [12], build: () => seq([12], [dense(7, 'relu')]) },
  { name: 'Dense + relu6 (fused)', inputShape: [12], build: () => seq([12], [dense(7, 'relu6', { kernelInitializer: tf.initializers.randomUniform({ minval: -2, maxval: 2, seed: 7 }) })]) },
  { name: 'Dense + sigmoid', inputShape: [12], build: () => seq([12], [dense(6, 'sigmoid')]) },
  { name: 'Dense + tanh', inputShape: [12], build: () => seq([12], [dense(6, 'tanh')]) },
  { name: 'Dense + softmax', inputShape: [12], build: () => seq([12], [dense(10, 'softmax')]) },
  { name: 'Conv2D valid + relu', inputShape: [8, 8, 2], build: () => seq([8, 8, 2], [conv({ activation: 'relu' })]) },
  { name: 'Conv2D same, stride 2', inputShape: [8, 8, 2], build: () => seq([8, 8, 2], [conv({ padding: 'same', strides: 2 })]) },
  { name: 'Conv2D dilated', inputShape: [9, 9, 1], build: () => seq([9, 9, 1], [conv({ dilationRate: 2, activation: 'relu6' })]) },
  {
    name: 'DepthwiseConv2D (multiplier 2)',
    inputShape: [7, 7, 3],
    build: () => seq([7, 7, 3], [tf.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'same', depthwiseInitializer: k(), biasInitializer: b() })]),
  },
  { name: 'MaxPooling2D', inputShape: [8, 8, 3], build: () => seq([8, 8, 3], [tf.layers.maxPooling2d({ poolSize: 2 })]) },
  { name: 'AveragePooling2D same', inputShape: [7, 7, 2], build: () => seq([7, 7, 2], [tf.layers.averagePooling2d({ poolSize: 3, strides: 2, padding: 'same' })]) },
  { name: 'GlobalAveragePooling2D', inputShape: [5, 5, 4], build: () => seq([5, 5, 4], [tf.layers.globalAveragePooling2d({})]) },
  { name: 'Flatten + Dense', inputShape: [4, 4, 2], build: () => seq([4, 4, 2], [tf.layers.flatten(), dense(6, 'relu')]) },
  { name: 'Reshape', inputShape: [12], build: () => seq([12], [tf.layers.reshape({ targetShape: [3, 2, 2] })]) },
  { name: 'Dropout (dropped)', inputShape: [10], build: () => seq([10], [dense(8, 'relu'), tf.layers.dropout({ rate: 0.5 }), dense(4, 'linear')]) },
  { name: 'BatchNormalization after Conv2D (folded)', inputShape: [6, 6, 2], build: () => seq([6, 6, 2], [conv({ padding: 'same' }), batchNorm(), tf.layers.activation({ activation: 'relu' })]) },
  { name: 'BatchNormalization after Dense (folded)', inputShape: [10], build: () => seq([10], [dense(6, 'linear'), batchNorm()]) },
  {
    name: 'BatchNormalization after DepthwiseConv2D (folded)',
    inputShape: [6, 6, 3],
    build: () => seq([6, 6, 3], [tf.layers.depthwiseConv2d({ kernelSize: 3, depthwiseInitializer: k(), biasInitializer: b() }), batchNorm()]),
  },
  { name: 'Add (residual, functional)', inputShape: [6, 6, 3], build: residual },
  { name: 'standalone Activation relu after pooling', inputShape: [6, 6, 2], build: () => seq([6, 6, 2], [tf.layers.averagePooling2d({ poolSize: 2 }), tf.layers.activation({ activation: 'relu' })]) },
  { name: 'standalone ReLU(6), sigmoid and tanh layers', inputShape: [8], build: () => seq([8], [tf.layers.reLU({ maxValue: 6 }), dense(8, 'linear'), tf.layers.activation({ activation: 'sigmoid' }), dense(4, 'linear'), tf.layers.activation({ activation: 'tanh' })]) },
  { name: 'Softmax layer', inputShape: [6], build: () => seq([6], [dense(5, 'linear'), tf.layers.softmax()]) },
];

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => {
  tf.disposeVariables();
});

describe.each(cases)('$name', ({ inputShape, build }) => {
  const rowSize = inputShape.reduce((a, d) => a * d, 1);
  const x = uniform(N * rowSize, rowSize * 31);

  it('float32 TFLite matches tfjs within 1e-5', async () => {
    const model = build();
    const expected = (model.predict(tf.tensor(x, [N, ...inputShape])) as tf.Tensor).dataSync();
    const rt = await createTfliteRuntime(await exportTflite(model, { quantization: 'float32' }));
    try {
      expect(rt.info.format).toBe('tflite-float32');
      const got = rt.predict(x, N);
      expect(got.length).toBe(expected.length);
      expect(maxAbsDiff(got, expected)).toBeLessThanOrEqual(1e-5);
    } finally {
      rt.dispose();
    }
  });

  it('int8 TFLite is within one output step of the dequantised reference', async () => {
    const model = build();
    const bytes = await exportTflite(model, { quantization: 'int8', calibration: x });
    const rt = await createTfliteRuntime(bytes);
    try {
      expect(rt.info.format).toBe('tflite-int8');
      const got = rt.predict(x, N);
      const { output, outputStep } = dequantizedReference(bytes, x, N);
      expect(maxAbsDiff(got, output)).toBeLessThanOrEqual(outputStep * 1.0001);
      // And it still tracks the float model: within a few steps plus input rounding.
      const expected = (model.predict(tf.tensor(x, [N, ...inputShape])) as tf.Tensor).dataSync();
      const span = Math.max(...expected) - Math.min(...expected);
      expect(maxAbsDiff(got, expected)).toBeLessThanOrEqual(0.05 * span + 2 * outputStep);
    } finally {
      rt.dispose();
    }
  });
});

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/**
 * Compute an int8 .tflite in float with tfjs: constants dequantised from the file, each int8
 * tensor rounded to its (scale, zero point) grid after the op that writes it. This is what the
 * interpreter computes up to its fixed-point rounding, so it is the reference for int8.
 */
function dequantizedReference(bytes: Uint8Array, x: Float32Array, n: number): { output: Float32Array; outputStep: number } {
  const info = readTflite(bytes);
  const sg = info.subgraphs[0]!;
  const t = (i: number): TfliteTensor => sg.tensors[i]!;
  const constant = (i: number): tf.Tensor => {
    const tensor = t(i);
    const raw = tensorData(bytes, info, tensor)!;
    const q = tensor.quantization;
    const values = Float32Array.from(raw as ArrayLike<number>);
    if (q && q.scale.length > 0) {
      const inner = tensor.shape.slice(q.quantizedDimension + 1).reduce((a, d) => a * d, 1);
      for (let e = 0; e < values.length; e++) {
        const c = q.scale.length === 1 ? 0 : Math.floor(e / inner) % q.scale.length;
        values[e] = (values[e]! - (q.zeroPoint[c] ?? 0)) * q.scale[c]!;
      }
    }
    return tf.tensor(values, tensor.shape);
  };
  const grid = (y: tf.Tensor, tensor: TfliteTensor): tf.Tensor => {
    const q = tensor.quantization;
    if (tensor.type !== 'INT8' || !q) return y;
    const [s, zp] = [q.scale[0]!, q.zeroPoint[0]!];
    return tf.mul(tf.sub(tf.clipByValue(tf.add(tf.round(tf.div(y, s)), zp), -128, 127), zp), s);
  };
  const act = (y: tf.Tensor, name: unknown): tf.Tensor => (name === 'RELU' ? tf.relu(y) : name === 'RELU6' ? tf.relu6(y) : y);
  const pad = (p: unknown): 'same' | 'valid' => (p === 'SAME' ? 'same' : 'valid');

  return tf.tidy(() => {
    const values = new Map<number, tf.Tensor>();
    const input = t(sg.inputs[0]!);
    values.set(input.index, tf.tensor(x, [n, ...input.shape.slice(1)]));
    for (const op of sg.operators) {
      const a = values.get(op.inputs[0]!)!;
      const o = op.options;
      let y: tf.Tensor;
      switch (op.op) {
        case 'QUANTIZE': case 'DEQUANTIZE': y = a; break;
        case 'CONV_2D': {
          const w = tf.transpose(constant(op.inputs[1]!), [1, 2, 3, 0]) as tf.Tensor4D;
          const strides: [number, number] = [Number(o.strideH), Number(o.strideW)];
          const dil: [number, number] = [Number(o.dilationH), Number(o.dilationW)];
          y = act(tf.add(tf.conv2d(a as tf.Tensor4D, w, strides, pad(o.padding), 'NHWC', dil), constant(op.inputs[2]!)), o.activation);
          break;
        }
        case 'DEPTHWISE_CONV_2D': {
          const f = constant(op.inputs[1]!);
          const [, h, w, ch] = f.shape as number[];
          const m = Number(o.depthMultiplier);
          const strides: [number, number] = [Number(o.strideH), Number(o.strideW)];
          const dil: [number, number] = [Number(o.dilationH), Number(o.dilationW)];
          const conv = tf.depthwiseConv2d(a as tf.Tensor4D, tf.reshape(f, [h!, w!, ch! / m, m]) as tf.Tensor4D, strides, pad(o.padding), 'NHWC', dil);
          y = act(tf.add(conv, constant(op.inputs[2]!)), o.activation);
          break;
        }
        case 'FULLY_CONNECTED': {
          const w = constant(op.inputs[1]!) as tf.Tensor2D;
          const flat = tf.reshape(a, [-1, w.shape[1]]) as tf.Tensor2D;
          y = act(tf.add(tf.matMul(flat, w, false, true), constant(op.inputs[2]!)), o.activation);
          break;
        }
        case 'MAX_POOL_2D': case 'AVERAGE_POOL_2D': {
          const pool = op.op === 'MAX_POOL_2D' ? tf.maxPool : tf.avgPool;
          y = act(pool(a as tf.Tensor4D, [Number(o.filterHeight), Number(o.filterWidth)], [Number(o.strideH), Number(o.strideW)], pad(o.padding)), o.activation);
          break;
        }
        case 'RESHAPE': y = tf.reshape(a, [-1, ...(o.newShape as number[]).slice(1)]); break;
        case 'ADD': y = act(tf.add(a, values.get(op.inputs[1]!)!), o.activation); break;
        case 'RELU': y = tf.relu(a); break;
        case 'RELU6': y = tf.relu6(a); break;
        case 'LOGISTIC': y = tf.sigmoid(a); break;
        case 'TANH': y = tf.tanh(a); break;
        case 'SOFTMAX': y = tf.softmax(a); break;
        default: throw new Error(`reference has no ${op.op}`);
      }
      values.set(op.outputs[0]!, grid(y, t(op.outputs[0]!)));
    }
    // The step of the last int8 tensor: the one DEQUANTIZE turns into the float output.
    const last = sg.operators[sg.operators.length - 1]!;
    const q = t(last.op === 'DEQUANTIZE' ? last.inputs[0]! : last.outputs[0]!).quantization;
    return { output: values.get(sg.outputs[0]!)!.dataSync() as Float32Array, outputStep: q?.scale[0] ?? 0 };
  });
}

/**
 * Run the float IR with tfjs ops, batched, to calibrate int8 ranges. This sees exactly the
 * tensors the TFLite graph will have after folding and fusion (for example the logits between
 * FULLY_CONNECTED and SOFTMAX, which a tfjs Dense layer with softmax never exposes).
 */
import type * as TF from '@tensorflow/tfjs';
import type { IrGraph, IrOp } from './ir.js';

export type Tfjs = typeof TF;

export interface Range {
  min: number;
  max: number;
}

const CHUNK_ROWS = 256;

/** min/max of every tensor over the calibration rows. */
export function calibrationRanges(tf: Tfjs, g: IrGraph, rows: Float32Array, n: number): Map<number, Range> {
  const ranges = new Map<number, Range>();
  const rowSize = g.tensors[g.input]!.shape.slice(1).reduce((a, d) => a * d, 1);
  const consts = new Constants(tf, g);
  try {
    for (let start = 0; start < n; start += CHUNK_ROWS) {
      const m = Math.min(CHUNK_ROWS, n - start);
      tf.tidy(() => {
        const x = tf.tensor(rows.subarray(start * rowSize, (start + m) * rowSize), [m, ...g.tensors[g.input]!.shape.slice(1)]);
        for (const [id, t] of run(tf, g, consts, x)) {
          const lo = t.min().dataSync()[0]!;
          const hi = t.max().dataSync()[0]!;
          const r = ranges.get(id);
          if (r) {
            r.min = Math.min(r.min, lo);
            r.max = Math.max(r.max, hi);
          } else ranges.set(id, { min: lo, max: hi });
        }
      });
    }
  } finally {
    consts.dispose();
  }
  return ranges;
}

/** The float graph's output for `n` rows (a reference for tests). */
export function evaluateGraph(tf: Tfjs, g: IrGraph, rows: Float32Array, n: number): Float32Array {
  const consts = new Constants(tf, g);
  try {
    return tf.tidy(() => {
      const x = tf.tensor(rows, [n, ...g.tensors[g.input]!.shape.slice(1)]);
      return run(tf, g, consts, x).get(g.output)!.dataSync() as Float32Array;
    });
  } finally {
    consts.dispose();
  }
}

/** Weights as tfjs tensors in tfjs layouts, made once per evaluation. */
class Constants {
  private readonly byOp = new Map<IrOp, TF.Tensor[]>();

  constructor(tf: Tfjs, g: IrGraph) {
    for (const op of g.ops) {
      if (op.kind === 'fc') {
        this.byOp.set(op, [tf.tensor2d(op.weights, [op.units, op.weights.length / op.units]), tf.tensor1d(op.bias)]);
      } else if (op.kind === 'conv2d') {
        const [o, h, w, i] = op.filterShape;
        const hwio = tf.tidy(() => tf.transpose(tf.tensor4d(op.filter, [o, h, w, i]), [1, 2, 3, 0]));
        this.byOp.set(op, [hwio, tf.tensor1d(op.bias)]);
      } else if (op.kind === 'depthwise') {
        const [, h, w, ch] = op.filterShape;
        const f = tf.tensor4d(op.filter, [h, w, ch / op.depthMultiplier, op.depthMultiplier]);
        this.byOp.set(op, [f, tf.tensor1d(op.bias)]);
      }
    }
  }

  of(op: IrOp): TF.Tensor[] {
    return this.byOp.get(op) ?? [];
  }

  dispose(): void {
    for (const ts of this.byOp.values()) for (const t of ts) t.dispose();
  }
}

function run(tf: Tfjs, g: IrGraph, consts: Constants, x: TF.Tensor): Map<number, TF.Tensor> {
  const values = new Map<number, TF.Tensor>([[g.input, x]]);
  const get = (id: number): TF.Tensor => {
    const v = values.get(id);
    if (!v) throw new Error(`internal: tensor ${id} used before it is computed`);
    return v;
  };
  for (const op of g.ops) {
    const a = get(op.inputs[0]!);
    let y: TF.Tensor;
    switch (op.kind) {
      case 'fc': {
        const [w, b] = consts.of(op) as [TF.Tensor2D, TF.Tensor1D];
        // Like TFLite's FULLY_CONNECTED, flatten whatever comes in to [batch, inputs].
        const flat = tf.reshape(a, [-1, w.shape[1]]) as TF.Tensor2D;
        y = fused(tf, tf.add(tf.matMul(flat, w, false, true), b), op.activation);
        break;
      }
      case 'conv2d': {
        const [f, b] = consts.of(op) as [TF.Tensor4D, TF.Tensor1D];
        y = fused(tf, tf.add(tf.conv2d(a as TF.Tensor4D, f, op.strides, op.padding, 'NHWC', op.dilation), b), op.activation);
        break;
      }
      case 'depthwise': {
        const [f, b] = consts.of(op) as [TF.Tensor4D, TF.Tensor1D];
        y = fused(tf, tf.add(tf.depthwiseConv2d(a as TF.Tensor4D, f, op.strides, op.padding, 'NHWC', op.dilation), b), op.activation);
        break;
      }
      case 'maxpool':
        y = fused(tf, tf.maxPool(a as TF.Tensor4D, op.filter, op.strides, op.padding), op.activation);
        break;
      case 'avgpool':
        y = fused(tf, tf.avgPool(a as TF.Tensor4D, op.filter, op.strides, op.padding), op.activation);
        break;
      case 'reshape':
        y = tf.reshape(a, [-1, ...op.shape]);
        break;
      case 'add':
        y = fused(tf, tf.add(a, get(op.inputs[1]!)), op.activation);
        break;
      case 'relu': y = tf.relu(a); break;
      case 'relu6': y = tf.relu6(a); break;
      case 'logistic': y = tf.sigmoid(a); break;
      case 'tanh': y = tf.tanh(a); break;
      case 'softmax': y = tf.softmax(a); break;
      case 'batchnorm':
        y = tf.add(tf.mul(a, tf.tensor1d(op.scale)), tf.tensor1d(op.shift));
        break;
    }
    values.set(op.output, y);
  }
  return values;
}

function fused(tf: Tfjs, y: TF.Tensor, activation: 'none' | 'relu' | 'relu6'): TF.Tensor {
  if (activation === 'relu') return tf.relu(y);
  if (activation === 'relu6') return tf.relu6(y);
  return y;
}

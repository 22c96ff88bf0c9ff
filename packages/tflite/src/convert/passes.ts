/**
 * Graph rewrites before lowering, the ones TFLite's own converter makes: fold inference-mode
 * BatchNormalization into the weights of the op before it, and fuse relu/relu6 into the op
 * that produces their input (one kernel, and in int8 one requantisation fewer).
 */
import { userError } from '@edgeml/core';
import type { IrGraph, IrOp } from './ir.js';
import { consumers, producer } from './ir.js';

export function optimize(g: IrGraph): IrGraph {
  foldBatchNorms(g);
  fuseActivations(g);
  flattenIntoFullyConnected(g);
  return g;
}

/**
 * FULLY_CONNECTED flattens its input itself (batch = elements / input size), so a Flatten
 * feeding only Dense layers is dropped. It matters for int8: XNNPACK does not take an int8
 * RESHAPE, which would split the graph into several delegate partitions around it.
 */
function flattenIntoFullyConnected(g: IrGraph): void {
  for (const r of g.ops.filter((o) => o.kind === 'reshape')) {
    if (r.kind !== 'reshape' || r.shape.length !== 1 || r.output === g.output) continue;
    const users = consumers(g, r.output);
    if (users.length === 0 || !users.every((u) => u.kind === 'fc' && u.inputs[0] === r.output)) continue;
    for (const u of users) u.inputs[0] = r.inputs[0]!;
    g.ops.splice(g.ops.indexOf(r), 1);
  }
}

function foldBatchNorms(g: IrGraph): void {
  for (const bn of g.ops.filter((o) => o.kind === 'batchnorm')) {
    if (bn.kind !== 'batchnorm') continue;
    const x = bn.inputs[0]!;
    const p = producer(g, x);
    const foldable =
      p !== undefined &&
      (p.kind === 'fc' || p.kind === 'conv2d' || p.kind === 'depthwise') &&
      p.activation === 'none' &&
      consumers(g, x).length === 1 &&
      x !== g.output;
    if (!foldable || !p) {
      throw userError(
        'tflite-unsupported-layer',
        `cannot convert layer ${bn.layer} to TFLite: BatchNormalization can only be folded into a directly preceding ` +
          'Dense, Conv2D or DepthwiseConv2D layer with a linear activation',
      );
    }
    const { scale, shift } = bn;
    if (p.kind === 'fc') {
      const inputs = p.weights.length / p.units;
      for (let u = 0; u < p.units; u++) {
        for (let i = 0; i < inputs; i++) p.weights[u * inputs + i]! *= scale[u]!;
      }
    } else if (p.kind === 'conv2d') {
      const perOut = p.filter.length / p.filterShape[0];
      for (let o = 0; o < p.filterShape[0]; o++) {
        for (let k = 0; k < perOut; k++) p.filter[o * perOut + k]! *= scale[o]!;
      }
    } else {
      // Depthwise filters are [1, kh, kw, channels]: the channel is the fastest axis.
      const channels = p.filterShape[3];
      for (let k = 0; k < p.filter.length; k++) p.filter[k]! *= scale[k % channels]!;
    }
    for (let c = 0; c < p.bias.length; c++) p.bias[c] = p.bias[c]! * scale[c]! + shift[c]!;
    replaceOutput(g, p, bn);
  }
}

const FUSES_ACTIVATION = new Set<IrOp['kind']>(['fc', 'conv2d', 'depthwise', 'add', 'maxpool', 'avgpool']);

function fuseActivations(g: IrGraph): void {
  for (const act of g.ops.filter((o) => o.kind === 'relu' || o.kind === 'relu6')) {
    const x = act.inputs[0]!;
    const p = producer(g, x);
    if (!p || !FUSES_ACTIVATION.has(p.kind) || !('activation' in p)) continue;
    if (p.activation !== 'none' || consumers(g, x).length !== 1 || x === g.output) continue;
    p.activation = act.kind === 'relu' ? 'relu' : 'relu6';
    replaceOutput(g, p, act);
  }
}

/** `absorbed` disappears; `into` now writes absorbed's output tensor. */
function replaceOutput(g: IrGraph, into: IrOp, absorbed: IrOp): void {
  into.output = absorbed.output;
  g.ops.splice(g.ops.indexOf(absorbed), 1);
}

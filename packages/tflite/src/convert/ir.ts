/**
 * The float graph the converter works on between tfjs and the flatbuffer: TFLite's op
 * vocabulary with TFLite's weight layouts, tensor shapes with batch 1. Passes fold and fuse
 * on it; calibration evaluates it; lowering turns it into a float32 or int8 ModelSpec.
 */
import type { FusedActivation, PaddingName } from '../format/write.js';

export interface IrTensor {
  id: number;
  name: string;
  /** Shape with the batch dimension (always 1). */
  shape: number[];
}

interface OpBase {
  inputs: number[];
  output: number;
  /** "name (ClassName)" of the tfjs layer it came from, for errors and tensor names. */
  layer: string;
}

export interface FcOp extends OpBase {
  kind: 'fc';
  /** [units, inputs], TFLite's FULLY_CONNECTED layout (tfjs kernels are [inputs, units]). */
  weights: Float32Array;
  units: number;
  bias: Float32Array;
  activation: FusedActivation;
}

export interface ConvOp extends OpBase {
  kind: 'conv2d';
  /** [out, kh, kw, in] (OHWI); tfjs kernels are HWIO. */
  filter: Float32Array;
  filterShape: [number, number, number, number];
  bias: Float32Array;
  strides: [number, number];
  dilation: [number, number];
  padding: PaddingName;
  activation: FusedActivation;
}

export interface DepthwiseOp extends OpBase {
  kind: 'depthwise';
  /** [1, kh, kw, in * multiplier]; the same bytes as tfjs's [kh, kw, in, multiplier]. */
  filter: Float32Array;
  filterShape: [1, number, number, number];
  depthMultiplier: number;
  bias: Float32Array;
  strides: [number, number];
  dilation: [number, number];
  padding: PaddingName;
  activation: FusedActivation;
}

export interface PoolOp extends OpBase {
  kind: 'maxpool' | 'avgpool';
  filter: [number, number];
  strides: [number, number];
  padding: PaddingName;
  activation: FusedActivation;
}

export interface ReshapeOp extends OpBase {
  kind: 'reshape';
  /** Target shape without the batch dimension. */
  shape: number[];
}

export interface AddOp extends OpBase {
  kind: 'add';
  activation: FusedActivation;
}

export interface UnaryOp extends OpBase {
  kind: 'relu' | 'relu6' | 'logistic' | 'tanh' | 'softmax';
}

/** Only between conversion and the folding pass; never lowered. */
export interface BatchNormOp extends OpBase {
  kind: 'batchnorm';
  /** Per channel: y = x * scale + shift. */
  scale: Float32Array;
  shift: Float32Array;
}

export type IrOp = FcOp | ConvOp | DepthwiseOp | PoolOp | ReshapeOp | AddOp | UnaryOp | BatchNormOp;

export interface IrGraph {
  tensors: IrTensor[];
  ops: IrOp[];
  input: number;
  output: number;
}

export function tensorOf(g: IrGraph, id: number): IrTensor {
  const t = g.tensors[id];
  if (!t) throw new Error(`internal: no tensor ${id}`);
  return t;
}

export function consumers(g: IrGraph, id: number): IrOp[] {
  return g.ops.filter((o) => o.inputs.includes(id));
}

export function producer(g: IrGraph, id: number): IrOp | undefined {
  return g.ops.find((o) => o.output === id);
}

export const size = (shape: readonly number[]): number => shape.reduce((a, d) => a * d, 1);

/**
 * Lower the optimised float IR to a ModelSpec: float32 as is, or full-integer int8.
 *
 * int8 follows the TFLite quantisation spec and the rules the interpreter enforces:
 * - activations: int8 per tensor, asymmetric, range from calibration widened to include 0 so
 *   zero is exactly representable (padding and relu depend on it);
 * - conv and depthwise weights: int8 symmetric per output channel; fully-connected weights
 *   per tensor (per-channel FC is correct but XNNPACK does not take it, so it runs ~3x slower);
 * - bias: int32, scale = input scale x weight scale at the weights' granularity, zero point 0;
 * - pooling and reshape reuse their input's parameters (a mismatch is not refused, it is
 *   silently wrong), and so do relu/relu6; softmax and logistic output 1/256 @ -128, tanh
 *   1/128 @ 0.
 * The graph keeps float32 input and output through QUANTIZE/DEQUANTIZE (see README).
 */
import { Op, TensorType } from '@edgeml/runtime';
import type { ModelSpec, SpecOperator, SpecQuantization, SpecTensor } from '../format/write.js';
import type { Range } from './evaluate.js';
import type { IrGraph, IrOp } from './ir.js';

interface QParams {
  scale: number;
  zeroPoint: number;
}

const FIXED_OUTPUT: Partial<Record<IrOp['kind'], QParams>> = {
  softmax: { scale: 1 / 256, zeroPoint: -128 },
  logistic: { scale: 1 / 256, zeroPoint: -128 },
  tanh: { scale: 1 / 128, zeroPoint: 0 },
};
/**
 * Pooling and reshape must reuse their input's parameters. relu/relu6 do so by choice: their
 * output can hold no more information than the input grid, and sharing makes them an exact
 * clamp instead of a requantisation.
 */
const SHARES_INPUT_PARAMS = new Set<IrOp['kind']>(['maxpool', 'avgpool', 'reshape', 'relu', 'relu6']);
const INT32_MAX = 2 ** 31 - 1;

/** Op versions for int8 kernels (tensorflow/lite/tools/versioning/op_version.cc). */
const INT8_VERSIONS: Partial<Record<IrOp['kind'], number>> = {
  fc: 4, conv2d: 3, depthwise: 3, maxpool: 2, avgpool: 2, reshape: 1, add: 2, relu: 2, relu6: 2, logistic: 2, tanh: 2, softmax: 2,
};
const OPCODES: Record<Exclude<IrOp['kind'], 'batchnorm'>, number> = {
  fc: Op.FULLY_CONNECTED, conv2d: Op.CONV_2D, depthwise: Op.DEPTHWISE_CONV_2D, maxpool: Op.MAX_POOL_2D,
  avgpool: Op.AVERAGE_POOL_2D, reshape: Op.RESHAPE, add: Op.ADD, relu: Op.RELU, relu6: Op.RELU6,
  logistic: Op.LOGISTIC, tanh: Op.TANH, softmax: Op.SOFTMAX,
};

export function lowerFloat(g: IrGraph, description: string): ModelSpec {
  return new Lowering(g, description, undefined).spec();
}

export function lowerInt8(g: IrGraph, ranges: Map<number, Range>, description: string): ModelSpec {
  return new Lowering(g, description, ranges).spec();
}

/** Activation quantisation from a calibrated range (TFLite's nudged min/max scheme). */
export function activationParams(range: Range): QParams {
  const lo = Math.min(0, range.min);
  let hi = Math.max(0, range.max);
  if (!(hi > lo)) hi = lo + 1e-6;
  const scale = (hi - lo) / 255;
  const zeroPoint = Math.max(-128, Math.min(127, roundHalfAway(-128 - lo / scale)));
  return { scale, zeroPoint };
}

class Lowering {
  private readonly tensors: SpecTensor[] = [];
  private readonly operators: SpecOperator[] = [];
  /** IR tensor id -> spec tensor index. */
  private readonly index = new Map<number, number>();
  private readonly params = new Map<number, QParams>();

  constructor(
    private readonly g: IrGraph,
    private readonly description: string,
    private readonly ranges: Map<number, Range> | undefined,
  ) {}

  spec(): ModelSpec {
    const { g } = this;
    const input = g.tensors[g.input]!;
    const floatIn = this.add({ name: input.name, shape: input.shape, type: TensorType.FLOAT32 });
    if (this.ranges) {
      const p = activationParams(this.range(g.input));
      this.params.set(g.input, p);
      const q = this.add({ name: `${input.name}/int8`, shape: input.shape, type: TensorType.INT8, quantization: per(p) });
      this.operators.push({ op: Op.QUANTIZE, version: 1, inputs: [floatIn], outputs: [q], options: { kind: 'quantize' } });
      this.index.set(g.input, q);
    } else {
      this.index.set(g.input, floatIn);
    }
    for (const op of g.ops) this.lowerOp(op);

    let output = this.index.get(g.output)!;
    if (this.ranges) {
      const t = g.tensors[g.output]!;
      const f = this.add({ name: `${t.name}/float`, shape: t.shape, type: TensorType.FLOAT32 });
      this.operators.push({ op: Op.DEQUANTIZE, version: 2, inputs: [output], outputs: [f], options: { kind: 'dequantize' } });
      output = f;
    }
    return { description: this.description, tensors: this.tensors, operators: this.operators, inputs: [floatIn], outputs: [output] };
  }

  private lowerOp(op: IrOp): void {
    if (op.kind === 'batchnorm') throw new Error(`internal: unfolded batch norm ${op.layer}`);
    const int8 = this.ranges !== undefined;
    const inputs = op.inputs.map((i) => this.index.get(i)!);
    const out = this.g.tensors[op.output]!;
    let outParams: QParams | undefined;
    if (int8) {
      outParams = FIXED_OUTPUT[op.kind] ?? (SHARES_INPUT_PARAMS.has(op.kind) ? this.params.get(op.inputs[0]!)! : activationParams(this.range(op.output)));
      this.params.set(op.output, outParams);
    }
    const output = this.add({
      name: out.name,
      shape: out.shape,
      type: int8 ? TensorType.INT8 : TensorType.FLOAT32,
      ...(outParams ? { quantization: per(outParams) } : {}),
    });
    this.index.set(op.output, output);
    const inScale = int8 ? this.params.get(op.inputs[0]!)!.scale : 1;
    // Float kernels are all version 1 (dilated depthwise aside, below).
    const version = int8 ? INT8_VERSIONS[op.kind]! : 1;
    const push = (extra: number[], options: SpecOperator['options'], v = version): void => {
      const spec: SpecOperator = { op: OPCODES[op.kind], version: v, inputs: [...inputs, ...extra], outputs: [output] };
      if (options) spec.options = options;
      this.operators.push(spec);
    };

    switch (op.kind) {
      case 'fc': {
        const inputsN = op.weights.length / op.units;
        const [w, b] = this.weightsAndBias(out.name, op.weights, [op.units, inputsN], op.bias, int8 ? 'tensor' : 'float', 0, inScale);
        push([w, b], { kind: 'fc', activation: op.activation });
        break;
      }
      case 'conv2d': {
        const [w, b] = this.weightsAndBias(out.name, op.filter, op.filterShape, op.bias, int8 ? 'channel' : 'float', 0, inScale);
        push([w, b], { kind: 'conv2d', padding: op.padding, strides: op.strides, dilation: op.dilation, activation: op.activation });
        break;
      }
      case 'depthwise': {
        const [w, b] = this.weightsAndBias(out.name, op.filter, op.filterShape, op.bias, int8 ? 'channel' : 'float', 3, inScale);
        const dilated = op.dilation[0] !== 1 || op.dilation[1] !== 1;
        push(
          [w, b],
          { kind: 'depthwise', padding: op.padding, strides: op.strides, dilation: op.dilation, depthMultiplier: op.depthMultiplier, activation: op.activation },
          int8 ? version : dilated ? 2 : 1,
        );
        break;
      }
      case 'maxpool':
      case 'avgpool':
        push([], { kind: 'pool', padding: op.padding, strides: op.strides, filter: op.filter, activation: op.activation });
        break;
      case 'reshape': {
        // -1 for the batch keeps the graph valid when the runtime resizes the input batch.
        const newShape = [-1, ...op.shape];
        const shapeTensor = this.add({ name: `${out.name}/shape`, shape: [newShape.length], type: TensorType.INT32, data: int32Bytes(newShape) });
        push([shapeTensor], { kind: 'reshape', newShape });
        break;
      }
      case 'add':
        push([], { kind: 'add', activation: op.activation });
        break;
      case 'softmax':
        push([], { kind: 'softmax', beta: 1 });
        break;
      case 'relu':
      case 'relu6':
      case 'logistic':
      case 'tanh':
        push([], undefined);
        break;
    }
  }

  /**
   * Add the weight and bias constants of a conv/depthwise/fc op. `granularity` 'channel'
   * quantises per slice along `axis`; 'tensor' with one scale; 'float' leaves them float32.
   */
  private weightsAndBias(
    name: string,
    values: Float32Array,
    shape: number[],
    bias: Float32Array,
    granularity: 'float' | 'tensor' | 'channel',
    axis: number,
    inScale: number,
  ): [number, number] {
    if (granularity === 'float') {
      return [
        this.add({ name: `${name}/weights`, shape, type: TensorType.FLOAT32, data: float32Bytes(values) }),
        this.add({ name: `${name}/bias`, shape: [bias.length], type: TensorType.FLOAT32, data: float32Bytes(bias) }),
      ];
    }
    const channels = granularity === 'channel' ? shape[axis]! : 1;
    const channelOf = channelIndexer(shape, axis, granularity === 'channel');
    const maxAbs = new Float64Array(channels);
    for (let k = 0; k < values.length; k++) {
      const c = channelOf(k);
      maxAbs[c] = Math.max(maxAbs[c]!, Math.abs(values[k]!));
    }
    const maxBias = new Float64Array(channels);
    for (let c = 0; c < bias.length; c++) {
      const ch = granularity === 'channel' ? c : 0;
      maxBias[ch] = Math.max(maxBias[ch]!, Math.abs(bias[c]!));
    }
    const wScale = Array.from(maxAbs, (m, c) => {
      // Symmetric [-127, 127]; an all-zero channel still needs a positive scale, and the scale
      // must be large enough that the bias fits int32 at scale inScale x wScale.
      const s = m > 0 ? m / 127 : 1;
      // Scales are stored as float32; compute with exactly what the interpreter will read.
      return Math.fround(Math.max(s, maxBias[c]! / (inScale * INT32_MAX)));
    });
    const q = new Int8Array(values.length);
    for (let k = 0; k < values.length; k++) {
      q[k] = clamp(roundHalfAway(values[k]! / wScale[channelOf(k)]!), -127, 127);
    }
    const bScale = wScale.map((s) => Math.fround(Math.fround(inScale) * s));
    const qb = new Int32Array(bias.length);
    for (let c = 0; c < bias.length; c++) {
      qb[c] = clamp(roundHalfAway(bias[c]! / bScale[granularity === 'channel' ? c : 0]!), -INT32_MAX, INT32_MAX);
    }
    const zeros = wScale.map(() => 0);
    return [
      this.add({
        name: `${name}/weights`, shape, type: TensorType.INT8, data: new Uint8Array(q.buffer),
        quantization: { scale: wScale, zeroPoint: zeros, quantizedDimension: granularity === 'channel' ? axis : 0 },
      }),
      this.add({
        name: `${name}/bias`, shape: [bias.length], type: TensorType.INT32, data: int32Bytes(qb),
        quantization: { scale: bScale, zeroPoint: zeros, quantizedDimension: 0 },
      }),
    ];
  }

  private range(id: number): Range {
    const r = this.ranges?.get(id);
    if (!r) throw new Error(`internal: no calibration range for tensor ${this.g.tensors[id]?.name ?? id}`);
    return r;
  }

  private add(t: SpecTensor): number {
    return this.tensors.push(t) - 1;
  }
}

/** Map a flat element index to its channel along `axis` of a row-major `shape`. */
function channelIndexer(shape: number[], axis: number, perChannel: boolean): (k: number) => number {
  if (!perChannel) return () => 0;
  const inner = shape.slice(axis + 1).reduce((a, d) => a * d, 1);
  const dim = shape[axis]!;
  return (k) => Math.floor(k / inner) % dim;
}

function per(p: QParams): SpecQuantization {
  return { scale: [p.scale], zeroPoint: [p.zeroPoint] };
}

function roundHalfAway(v: number): number {
  return Math.sign(v) * Math.round(Math.abs(v));
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

function float32Bytes(v: Float32Array): Uint8Array {
  const out = new Uint8Array(v.length * 4);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < v.length; i++) dv.setFloat32(i * 4, v[i]!, true);
  return out;
}

function int32Bytes(v: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(v.length * 4);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < v.length; i++) dv.setInt32(i * 4, v[i]!, true);
  return out;
}

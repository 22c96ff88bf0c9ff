/**
 * Read a tfjs LayersModel (Sequential or a functional graph of single-input/single-output
 * layers) into the float IR, one layer at a time, in TFLite layouts. Anything we cannot
 * convert faithfully is refused with an error that names the layer and its class.
 */
import type { LayersModel } from '@tensorflow/tfjs';
import { userError } from '@edgeml/core';
import type { PaddingName } from '../format/write.js';
import type { IrGraph, IrOp, IrTensor } from './ir.js';
import { size } from './ir.js';

/** The parts of tfjs's Layer and SymbolicTensor the converter reads. */
interface SymbolicTensorLike {
  id: number;
  shape: (number | null)[];
}
interface LayerLike {
  name: string;
  getClassName(): string;
  getConfig(): Record<string, unknown>;
  inboundNodes: { inputTensors: SymbolicTensorLike[]; outputTensors: SymbolicTensorLike[] }[];
  weights: { originalName: string; read(): { dataSync(): ArrayLike<number> } }[];
}

/** An op before it has an output tensor and a source layer. */
type OpInit = IrOp extends infer O ? (O extends IrOp ? Omit<O, 'output' | 'layer'> : never) : never;

export function graphFromLayersModel(model: LayersModel): IrGraph {
  const inputs = model.inputs as unknown as SymbolicTensorLike[];
  const outputs = model.outputs as unknown as SymbolicTensorLike[];
  if (inputs.length !== 1 || outputs.length !== 1) {
    throw userError('tflite-unsupported-model', `TFLite export needs one input and one output; the model has ${inputs.length} and ${outputs.length}`);
  }
  const [input] = inputs as [SymbolicTensorLike];
  const [output] = outputs as [SymbolicTensorLike];
  const g: IrGraph = { tensors: [], ops: [], input: 0, output: 0 };
  const bySymbolic = new Map<number, number>();
  g.input = addTensor(g, 'input', batchShape(input.shape, 'the model input'));
  bySymbolic.set(input.id, g.input);

  for (const layer of model.layers as unknown as LayerLike[]) {
    const cls = layer.getClassName();
    if (cls === 'InputLayer') continue;
    if (layer.inboundNodes.length !== 1) fail(layer, 'layers shared between several calls are not supported');
    const node = layer.inboundNodes[0]!;
    if (node.outputTensors.length !== 1) fail(layer, 'layers with several outputs are not supported');
    const ins = node.inputTensors.map((t) => {
      const id = bySymbolic.get(t.id);
      if (id === undefined) fail(layer, 'its input does not come from the model input');
      return id;
    });
    const out = node.outputTensors[0]!;
    const outShape = batchShape(out.shape, `the output of ${describe(layer)}`);
    bySymbolic.set(out.id, convertLayer(g, layer, ins, outShape));
  }
  const out = bySymbolic.get(output.id);
  if (out === undefined) throw userError('tflite-unsupported-model', 'the model output is not reachable from its input');
  g.output = out;
  return g;
}

/** Emit the ops for one layer; returns the IR tensor holding its output. */
function convertLayer(g: IrGraph, layer: LayerLike, ins: number[], outShape: number[]): number {
  const cls = layer.getClassName();
  const c = layer.getConfig();
  const src = describe(layer);
  const x = ins[0]!;
  const inShape = g.tensors[x]!.shape;
  const emit = (op: OpInit, shape: number[], suffix = ''): number => {
    const output = addTensor(g, `${layer.name}${suffix}`, shape);
    g.ops.push({ ...op, output, layer: src } as IrOp);
    return output;
  };
  const single = (): void => {
    if (ins.length !== 1) fail(layer, `expected one input, got ${ins.length}`);
  };

  switch (cls) {
    case 'Dense': {
      single();
      if (inShape.length !== 2) fail(layer, `Dense on a rank-${inShape.length} input is not supported; add a Flatten first`);
      const kernel = weight(layer, 'kernel');
      const units = Number(c.units);
      const inputs = inShape[1]!;
      const weights = new Float32Array(units * inputs);
      for (let i = 0; i < inputs; i++) for (let u = 0; u < units; u++) weights[u * inputs + i] = kernel[i * units + u]!;
      const y = emit({ kind: 'fc', inputs: [x], weights, units, bias: bias(layer, c, units), activation: 'none' }, outShape, '/MatMul');
      return activation(g, layer, y, c.activation);
    }
    case 'Conv2D': {
      single();
      channelsLast(layer, c);
      const [kh, kw] = pair(c.kernelSize);
      const cin = inShape[3]!;
      const cout = Number(c.filters);
      const kernel = weight(layer, 'kernel');
      const filter = new Float32Array(cout * kh * kw * cin);
      for (let h = 0; h < kh; h++)
        for (let w = 0; w < kw; w++)
          for (let i = 0; i < cin; i++)
            for (let o = 0; o < cout; o++) filter[((o * kh + h) * kw + w) * cin + i] = kernel[((h * kw + w) * cin + i) * cout + o]!;
      const y = emit(
        {
          kind: 'conv2d', inputs: [x], filter, filterShape: [cout, kh, kw, cin], bias: bias(layer, c, cout),
          strides: pair(c.strides), dilation: pair(c.dilationRate ?? 1), padding: paddingOf(layer, c), activation: 'none',
        },
        outShape, '/Conv2D',
      );
      return activation(g, layer, y, c.activation);
    }
    case 'DepthwiseConv2D': {
      single();
      channelsLast(layer, c);
      const [kh, kw] = pair(c.kernelSize);
      const mult = Number(c.depthMultiplier ?? 1);
      const channels = inShape[3]! * mult;
      const y = emit(
        {
          kind: 'depthwise', inputs: [x], filter: weight(layer, 'depthwise_kernel'), filterShape: [1, kh, kw, channels],
          depthMultiplier: mult, bias: bias(layer, c, channels), strides: pair(c.strides), dilation: pair(c.dilationRate ?? 1),
          padding: paddingOf(layer, c), activation: 'none',
        },
        outShape, '/DepthwiseConv2D',
      );
      return activation(g, layer, y, c.activation);
    }
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      single();
      channelsLast(layer, c);
      const filter = pair(c.poolSize);
      const strides = c.strides == null ? filter : pair(c.strides);
      const kind = cls === 'MaxPooling2D' ? 'maxpool' : 'avgpool';
      return emit({ kind, inputs: [x], filter, strides, padding: paddingOf(layer, c), activation: 'none' }, outShape);
    }
    case 'GlobalAveragePooling2D': {
      single();
      channelsLast(layer, c);
      // AVERAGE_POOL_2D over the whole plane (rather than MEAN) keeps the int8 rule simple
      // (pooling shares its input's quantization) and stays inside XNNPACK.
      const [, h, w, ch] = inShape as [number, number, number, number];
      const pooled = emit({ kind: 'avgpool', inputs: [x], filter: [h, w], strides: [1, 1], padding: 'valid', activation: 'none' }, [1, 1, 1, ch], '/AvgPool');
      if (outShape.length === 4) return pooled;
      return reshape(g, src, pooled, outShape, `${layer.name}/Reshape`);
    }
    case 'Flatten':
    case 'Reshape':
      single();
      if (size(outShape) !== size(inShape)) fail(layer, `cannot reshape [${inShape.join(',')}] to [${outShape.join(',')}]`);
      return reshape(g, src, x, outShape, layer.name);
    case 'Dropout':
      // Identity at inference time.
      single();
      return x;
    case 'BatchNormalization':
      single();
      return batchNorm(g, layer, c, x, outShape);
    case 'Add': {
      if (ins.length < 2) fail(layer, 'Add needs at least two inputs');
      for (const i of ins) {
        const s = g.tensors[i]!.shape;
        if (s.join(',') !== inShape.join(',')) fail(layer, `inputs of different shapes ([${inShape.join(',')}] and [${s.join(',')}]) need broadcasting, which is not supported`);
      }
      let acc = x;
      for (let k = 1; k < ins.length; k++) {
        acc = emit({ kind: 'add', inputs: [acc, ins[k]!], activation: 'none' }, outShape, ins.length > 2 ? `/add${k}` : '');
      }
      return acc;
    }
    case 'Activation':
      single();
      return activation(g, layer, x, c.activation);
    case 'ReLU': {
      single();
      const max = c.maxValue;
      if (max == null) return activation(g, layer, x, 'relu');
      if (Number(max) === 6) return activation(g, layer, x, 'relu6');
      return fail(layer, `ReLU with maxValue ${String(max)} is not supported (only none or 6)`);
    }
    case 'Softmax': {
      single();
      const axis = Array.isArray(c.axis) ? c.axis : [c.axis ?? -1];
      if (axis.length !== 1 || (Number(axis[0]) !== -1 && Number(axis[0]) !== inShape.length - 1)) fail(layer, 'softmax is only supported over the last axis');
      return activation(g, layer, x, 'softmax');
    }
    default:
      return fail(layer, 'this layer type has no TFLite conversion here');
  }
}

const ACTIVATIONS: Record<string, IrOp['kind'] | null> = {
  linear: null, relu: 'relu', relu6: 'relu6', sigmoid: 'logistic', tanh: 'tanh', softmax: 'softmax',
};

/** Apply a tfjs activation by name as a standalone op; the fusion pass folds relu/relu6 later. */
function activation(g: IrGraph, layer: LayerLike, x: number, name: unknown): number {
  const key = name == null ? 'linear' : String(name);
  if (!(key in ACTIVATIONS)) fail(layer, `activation "${key}" is not supported (use relu, relu6, sigmoid, tanh, softmax or linear)`);
  const kind = ACTIVATIONS[key];
  if (!kind) return x;
  const shape = g.tensors[x]!.shape;
  if (kind === 'softmax' && shape.length !== 2) fail(layer, `softmax on a rank-${shape.length} tensor is not supported`);
  const output = addTensor(g, `${layer.name}/${kind}`, shape);
  g.ops.push({ kind: kind as 'relu', inputs: [x], output, layer: describe(layer) });
  return output;
}

function reshape(g: IrGraph, src: string, x: number, outShape: number[], name: string): number {
  const output = addTensor(g, name, outShape);
  g.ops.push({ kind: 'reshape', inputs: [x], output, layer: src, shape: outShape.slice(1) });
  return output;
}

function batchNorm(g: IrGraph, layer: LayerLike, c: Record<string, unknown>, x: number, outShape: number[]): number {
  const rank = outShape.length;
  const axes = Array.isArray(c.axis) ? c.axis : [c.axis ?? -1];
  if (axes.length !== 1 || (Number(axes[0]) !== -1 && Number(axes[0]) !== rank - 1)) fail(layer, 'only normalisation over the last (channel) axis is supported');
  const channels = outShape[rank - 1]!;
  const mean = weight(layer, 'moving_mean');
  const variance = weight(layer, 'moving_variance');
  const gamma = c.scale === false ? new Float32Array(channels).fill(1) : weight(layer, 'gamma');
  const beta = c.center === false ? new Float32Array(channels) : weight(layer, 'beta');
  const eps = Number(c.epsilon ?? 1e-3);
  const scale = new Float32Array(channels);
  const shift = new Float32Array(channels);
  for (let i = 0; i < channels; i++) {
    scale[i] = gamma[i]! / Math.sqrt(variance[i]! + eps);
    shift[i] = beta[i]! - mean[i]! * scale[i]!;
  }
  const output = addTensor(g, layer.name, outShape);
  g.ops.push({ kind: 'batchnorm', inputs: [x], output, layer: describe(layer), scale, shift });
  return output;
}

function addTensor(g: IrGraph, name: string, shape: number[]): number {
  const t: IrTensor = { id: g.tensors.length, name, shape };
  g.tensors.push(t);
  return t.id;
}

function batchShape(shape: (number | null)[], what: string): number[] {
  if (shape[0] !== null && shape[0] !== 1) {
    throw userError('tflite-unsupported-model', `${what} has a fixed batch size of ${String(shape[0])}; TFLite export needs a free batch dimension`);
  }
  const rest = shape.slice(1);
  if (rest.some((d) => d === null || d <= 0)) {
    throw userError('tflite-unsupported-model', `${what} has an unknown dimension ([${shape.map(String).join(',')}]); TFLite export needs static shapes`);
  }
  return [1, ...(rest as number[])];
}

function weight(layer: LayerLike, name: string): Float32Array {
  const w = layer.weights.find((v) => v.originalName.endsWith(`/${name}`) || v.originalName === name);
  if (!w) fail(layer, `it has no "${name}" weight`);
  return Float32Array.from(w.read().dataSync());
}

function bias(layer: LayerLike, c: Record<string, unknown>, n: number): Float32Array {
  return c.useBias === false ? new Float32Array(n) : weight(layer, 'bias');
}

function pair(v: unknown): [number, number] {
  if (Array.isArray(v)) return [Number(v[0]), Number(v[1] ?? v[0])];
  return [Number(v), Number(v)];
}

function paddingOf(layer: LayerLike, c: Record<string, unknown>): PaddingName {
  if (c.padding === 'same' || c.padding === 'valid') return c.padding;
  return fail(layer, `padding "${String(c.padding)}" is not supported`);
}

function channelsLast(layer: LayerLike, c: Record<string, unknown>): void {
  if (c.dataFormat !== undefined && c.dataFormat !== 'channelsLast') fail(layer, 'only channelsLast data format is supported');
}

function describe(layer: LayerLike): string {
  return `"${layer.name}" (${layer.getClassName()})`;
}

function fail(layer: LayerLike, reason: string): never {
  throw userError('tflite-unsupported-layer', `cannot convert layer ${describe(layer)} to TFLite: ${reason}`);
}


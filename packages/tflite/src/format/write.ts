/**
 * Serialise a model description into a .tflite flatbuffer with the `flatbuffers` runtime. The
 * builder calls follow schema.fbs (field ids in schema.ts); we write only the tables we need.
 * Rules the interpreter in @tensorflow/tfjs-tflite enforces: Model.version 3, identifier TFL3,
 * buffers[0] the empty sentinel, and both the byte and the int32 builtin code on every
 * OperatorCode.
 */
import { Builder } from 'flatbuffers';
import { F, FILE_IDENTIFIER, Op, Options, Padding, SCHEMA_VERSION } from '@edgeml/runtime';

type Offset = number;

export interface SpecQuantization {
  scale: number[];
  zeroPoint: number[];
  quantizedDimension?: number;
}

export interface SpecTensor {
  name: string;
  shape: number[];
  /** A TensorType code. */
  type: number;
  /** Constant data, little-endian, exactly prod(shape) x element size bytes. */
  data?: Uint8Array;
  quantization?: SpecQuantization;
}

export type FusedActivation = 'none' | 'relu' | 'relu6';
export type PaddingName = 'same' | 'valid';

export type SpecOptions =
  | { kind: 'conv2d'; padding: PaddingName; strides: [number, number]; dilation: [number, number]; activation: FusedActivation }
  | { kind: 'depthwise'; padding: PaddingName; strides: [number, number]; dilation: [number, number]; depthMultiplier: number; activation: FusedActivation }
  | { kind: 'pool'; padding: PaddingName; strides: [number, number]; filter: [number, number]; activation: FusedActivation }
  | { kind: 'fc'; activation: FusedActivation }
  | { kind: 'softmax'; beta: number }
  | { kind: 'add'; activation: FusedActivation }
  | { kind: 'reshape'; newShape: number[] }
  | { kind: 'quantize' }
  | { kind: 'dequantize' };

export interface SpecOperator {
  /** A BuiltinOperator code. */
  op: number;
  version: number;
  inputs: number[];
  outputs: number[];
  options?: SpecOptions;
}

export interface ModelSpec {
  description: string;
  tensors: SpecTensor[];
  operators: SpecOperator[];
  inputs: number[];
  outputs: number[];
}

/** Build the .tflite bytes for `spec`. */
export function writeTflite(spec: ModelSpec): Uint8Array {
  const b = new Builder(1024 + spec.tensors.reduce((n, t) => n + (t.data?.byteLength ?? 0), 0));

  // Buffers: index 0 is the empty sentinel every tensor without data points at.
  const bufferOffsets: Offset[] = [emptyTable(b)];
  const tensorBuffer: number[] = spec.tensors.map((t) => {
    if (!t.data) return 0;
    bufferOffsets.push(bufferTable(b, t.data));
    return bufferOffsets.length - 1;
  });

  const tensorOffsets = spec.tensors.map((t, i) => tensorTable(b, t, tensorBuffer[i] ?? 0));

  // One OperatorCode per (builtin, version) pair, in first-use order.
  const codeKeys: string[] = [];
  const codes: { op: number; version: number }[] = [];
  const opcodeIndex = spec.operators.map((o) => {
    const key = `${o.op}/${o.version}`;
    let ix = codeKeys.indexOf(key);
    if (ix < 0) {
      ix = codeKeys.push(key) - 1;
      codes.push({ op: o.op, version: o.version });
    }
    return ix;
  });
  const codeOffsets = codes.map((c) => {
    b.startObject(4);
    b.addFieldInt8(F.OperatorCode.deprecatedBuiltinCode, Math.min(c.op, Op.PLACEHOLDER_FOR_GREATER_OP_CODES), null);
    b.addFieldInt32(F.OperatorCode.version, c.version, null);
    b.addFieldInt32(F.OperatorCode.builtinCode, c.op, null);
    return b.endObject();
  });

  const operatorOffsets = spec.operators.map((o, i) => {
    const inputs = int32Vector(b, o.inputs);
    const outputs = int32Vector(b, o.outputs);
    const opts = o.options ? optionsTable(b, o.options) : undefined;
    b.startObject(5);
    b.addFieldInt32(F.Operator.opcodeIndex, opcodeIndex[i] ?? 0, null);
    b.addFieldOffset(F.Operator.inputs, inputs, 0);
    b.addFieldOffset(F.Operator.outputs, outputs, 0);
    if (opts) {
      b.addFieldInt8(F.Operator.builtinOptionsType, opts.type, null);
      b.addFieldOffset(F.Operator.builtinOptions, opts.offset, 0);
    }
    return b.endObject();
  });

  const sgTensors = offsetVector(b, tensorOffsets);
  const sgInputs = int32Vector(b, spec.inputs);
  const sgOutputs = int32Vector(b, spec.outputs);
  const sgOperators = offsetVector(b, operatorOffsets);
  const sgName = b.createString('main');
  b.startObject(5);
  b.addFieldOffset(F.SubGraph.tensors, sgTensors, 0);
  b.addFieldOffset(F.SubGraph.inputs, sgInputs, 0);
  b.addFieldOffset(F.SubGraph.outputs, sgOutputs, 0);
  b.addFieldOffset(F.SubGraph.operators, sgOperators, 0);
  b.addFieldOffset(F.SubGraph.name, sgName, 0);
  const subgraph = b.endObject();

  const modelCodes = offsetVector(b, codeOffsets);
  const modelSubgraphs = offsetVector(b, [subgraph]);
  const modelDescription = b.createString(spec.description);
  const modelBuffers = offsetVector(b, bufferOffsets);
  b.startObject(5);
  b.addFieldInt32(F.Model.version, SCHEMA_VERSION, null);
  b.addFieldOffset(F.Model.operatorCodes, modelCodes, 0);
  b.addFieldOffset(F.Model.subgraphs, modelSubgraphs, 0);
  b.addFieldOffset(F.Model.description, modelDescription, 0);
  b.addFieldOffset(F.Model.buffers, modelBuffers, 0);
  const model = b.endObject();
  b.finish(model, FILE_IDENTIFIER);
  // asUint8Array() is a view into the builder's oversized buffer; copy the finished part.
  return b.asUint8Array().slice();
}

function emptyTable(b: Builder): Offset {
  b.startObject(0);
  return b.endObject();
}

function bufferTable(b: Builder, data: Uint8Array): Offset {
  // schema.fbs asks for 16-byte aligned buffer data (force_align: 16) so it can be mmapped.
  b.startVector(1, data.byteLength, 16);
  for (let i = data.byteLength - 1; i >= 0; i--) b.addInt8(data[i] ?? 0);
  const vec = b.endVector();
  b.startObject(1);
  b.addFieldOffset(F.Buffer.data, vec, 0);
  return b.endObject();
}

function tensorTable(b: Builder, t: SpecTensor, buffer: number): Offset {
  const shape = int32Vector(b, t.shape);
  const name = b.createString(t.name);
  const quant = t.quantization ? quantizationTable(b, t.quantization) : undefined;
  b.startObject(5);
  b.addFieldOffset(F.Tensor.shape, shape, 0);
  b.addFieldInt8(F.Tensor.type, t.type, 0);
  b.addFieldInt32(F.Tensor.buffer, buffer, 0);
  b.addFieldOffset(F.Tensor.name, name, 0);
  if (quant !== undefined) b.addFieldOffset(F.Tensor.quantization, quant, 0);
  return b.endObject();
}

function quantizationTable(b: Builder, q: SpecQuantization): Offset {
  b.startVector(4, q.scale.length, 4);
  for (let i = q.scale.length - 1; i >= 0; i--) b.addFloat32(q.scale[i] ?? 0);
  const scale = b.endVector();
  b.startVector(8, q.zeroPoint.length, 8);
  for (let i = q.zeroPoint.length - 1; i >= 0; i--) b.addInt64(BigInt(q.zeroPoint[i] ?? 0));
  const zeroPoint = b.endVector();
  b.startObject(7);
  b.addFieldOffset(F.Quantization.scale, scale, 0);
  b.addFieldOffset(F.Quantization.zeroPoint, zeroPoint, 0);
  b.addFieldInt32(F.Quantization.quantizedDimension, q.quantizedDimension ?? 0, 0);
  return b.endObject();
}

function int32Vector(b: Builder, values: readonly number[]): Offset {
  b.startVector(4, values.length, 4);
  for (let i = values.length - 1; i >= 0; i--) b.addInt32(values[i] ?? 0);
  return b.endVector();
}

function offsetVector(b: Builder, offsets: readonly Offset[]): Offset {
  b.startVector(4, offsets.length, 4);
  for (let i = offsets.length - 1; i >= 0; i--) b.addOffset(offsets[i] ?? 0);
  return b.endVector();
}

const ACTIVATION_CODE: Record<FusedActivation, number> = { none: 0, relu: 1, relu6: 3 };
const padding = (p: PaddingName): number => (p === 'same' ? Padding.SAME : Padding.VALID);

function optionsTable(b: Builder, o: SpecOptions): { type: number; offset: Offset } {
  switch (o.kind) {
    case 'conv2d': {
      const f = F.Conv2DOptions;
      b.startObject(6);
      b.addFieldInt8(f.padding, padding(o.padding), null);
      b.addFieldInt32(f.strideW, o.strides[1], null);
      b.addFieldInt32(f.strideH, o.strides[0], null);
      b.addFieldInt8(f.activation, ACTIVATION_CODE[o.activation], null);
      b.addFieldInt32(f.dilationW, o.dilation[1], 1);
      b.addFieldInt32(f.dilationH, o.dilation[0], 1);
      return { type: Options.Conv2DOptions, offset: b.endObject() };
    }
    case 'depthwise': {
      const f = F.DepthwiseConv2DOptions;
      b.startObject(7);
      b.addFieldInt8(f.padding, padding(o.padding), null);
      b.addFieldInt32(f.strideW, o.strides[1], null);
      b.addFieldInt32(f.strideH, o.strides[0], null);
      b.addFieldInt32(f.depthMultiplier, o.depthMultiplier, null);
      b.addFieldInt8(f.activation, ACTIVATION_CODE[o.activation], null);
      b.addFieldInt32(f.dilationW, o.dilation[1], 1);
      b.addFieldInt32(f.dilationH, o.dilation[0], 1);
      return { type: Options.DepthwiseConv2DOptions, offset: b.endObject() };
    }
    case 'pool': {
      const f = F.Pool2DOptions;
      b.startObject(6);
      b.addFieldInt8(f.padding, padding(o.padding), null);
      b.addFieldInt32(f.strideW, o.strides[1], null);
      b.addFieldInt32(f.strideH, o.strides[0], null);
      b.addFieldInt32(f.filterWidth, o.filter[1], null);
      b.addFieldInt32(f.filterHeight, o.filter[0], null);
      b.addFieldInt8(f.activation, ACTIVATION_CODE[o.activation], null);
      return { type: Options.Pool2DOptions, offset: b.endObject() };
    }
    case 'fc':
      b.startObject(4);
      b.addFieldInt8(F.FullyConnectedOptions.activation, ACTIVATION_CODE[o.activation], null);
      return { type: Options.FullyConnectedOptions, offset: b.endObject() };
    case 'softmax':
      b.startObject(1);
      b.addFieldFloat32(F.SoftmaxOptions.beta, o.beta, null);
      return { type: Options.SoftmaxOptions, offset: b.endObject() };
    case 'add':
      b.startObject(2);
      b.addFieldInt8(F.AddOptions.activation, ACTIVATION_CODE[o.activation], null);
      return { type: Options.AddOptions, offset: b.endObject() };
    case 'reshape': {
      const shape = int32Vector(b, o.newShape);
      b.startObject(1);
      b.addFieldOffset(F.ReshapeOptions.newShape, shape, 0);
      return { type: Options.ReshapeOptions, offset: b.endObject() };
    }
    case 'quantize':
      return { type: Options.QuantizeOptions, offset: emptyTable(b) };
    case 'dequantize':
      return { type: Options.DequantizeOptions, offset: emptyTable(b) };
  }
}

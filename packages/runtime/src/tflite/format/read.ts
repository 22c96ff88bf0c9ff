/**
 * Parse any .tflite flatbuffer (ours or TensorFlow's converter's) into plain, JSON-safe data:
 * tensors with their quantization, operators with their options, buffers, subgraphs. Corrupt
 * or truncated input gives a `tflite-corrupt` user error, never a crash or a hang.
 */
import { userError } from '@edgeml/core';
import { CorruptFlatbufferError, FlatReader, type Table } from './flatbuf.js';
import {
  ACTIVATION_NAMES,
  F,
  FILE_IDENTIFIER,
  PADDING_NAMES,
  operatorName,
  optionsName,
  tensorTypeBytes,
  tensorTypeName,
} from './schema.js';

export interface TfliteQuantization {
  scale: number[];
  zeroPoint: number[];
  /** The axis `scale`/`zeroPoint` run along when there is more than one of them. */
  quantizedDimension: number;
  min?: number[];
  max?: number[];
}

export interface TfliteTensor {
  index: number;
  name: string;
  shape: number[];
  /** Shape with -1 for dimensions that may vary (only present when the file records it). */
  shapeSignature?: number[];
  type: string;
  buffer: number;
  /** Bytes of constant data behind this tensor (0 for activations). */
  dataBytes: number;
  quantization?: TfliteQuantization;
  isVariable: boolean;
}

export type OptionValue = number | boolean | string | number[];

export interface TfliteOperator {
  index: number;
  opcodeIndex: number;
  /** BuiltinOperator name, or the custom code for custom ops. */
  op: string;
  version: number;
  inputs: number[];
  outputs: number[];
  /** The BuiltinOptions table name, when the operator has one. */
  optionsType?: string;
  /** Decoded fields for the option tables we know; empty for the rest. */
  options: Record<string, OptionValue>;
}

export interface TfliteSubgraph {
  name: string;
  tensors: TfliteTensor[];
  operators: TfliteOperator[];
  inputs: number[];
  outputs: number[];
}

export interface TfliteBuffer {
  index: number;
  bytes: number;
  /** Where the data starts in the file (-1 when there is none); see `tensorData`. */
  fileOffset: number;
}

export interface TfliteOperatorCode {
  name: string;
  builtinCode: number;
  version: number;
  customCode?: string;
}

export interface TfliteSize {
  fileBytes: number;
  /** Bytes of constant tensor data: weights, biases, shape constants. */
  weightBytes: number;
  /** Everything else: flatbuffer tables, names, quantization parameters, alignment padding. */
  overheadBytes: number;
}

export interface TfliteModelInfo {
  schemaVersion: number;
  description: string;
  operatorCodes: TfliteOperatorCode[];
  subgraphs: TfliteSubgraph[];
  buffers: TfliteBuffer[];
  metadata: { name: string; buffer: number }[];
  signatures: { key: string; subgraph: number; inputs: string[]; outputs: string[] }[];
  size: TfliteSize;
}

/** Parse a .tflite file. Throws a `tflite-corrupt` user error on anything malformed. */
export function readTflite(bytes: Uint8Array): TfliteModelInfo {
  try {
    return parse(bytes);
  } catch (e) {
    if (e instanceof CorruptFlatbufferError || e instanceof RangeError) {
      throw userError('tflite-corrupt', `not a valid TFLite model: ${e.message}`, e);
    }
    throw e;
  }
}

function parse(bytes: Uint8Array): TfliteModelInfo {
  if (bytes.byteLength < 16) throw new CorruptFlatbufferError(`file is only ${bytes.byteLength} bytes, too short for a TFLite model`);
  const r = new FlatReader(bytes);
  const ident = r.fileIdentifier();
  if (ident !== FILE_IDENTIFIER) {
    throw new CorruptFlatbufferError(`missing the "${FILE_IDENTIFIER}" file identifier (found ${JSON.stringify(ident)})`);
  }
  const model = r.root();
  const schemaVersion = model.u32(F.Model.version);
  if (schemaVersion !== 3) throw new CorruptFlatbufferError(`schema version ${schemaVersion}, expected 3`);

  const buffers: TfliteBuffer[] = model.tables(F.Model.buffers, 'buffers').map((b, index) => {
    const data = b.vector(F.Buffer.data, 1, 'buffer data');
    if (data && data.length > 0) return { index, bytes: data.length, fileOffset: data.start };
    // Models over 2 GB keep buffers after the flatbuffer and point at them by offset/size.
    const offset = b.u64(F.Buffer.offset);
    const size = b.u64(F.Buffer.size);
    if (offset > 1 && size > 0) {
      if (offset + size > bytes.byteLength) throw new CorruptFlatbufferError(`buffer ${index} points past the end of the file`);
      return { index, bytes: size, fileOffset: offset };
    }
    return { index, bytes: 0, fileOffset: -1 };
  });

  const operatorCodes: TfliteOperatorCode[] = model.tables(F.Model.operatorCodes, 'operator_codes').map((c) => {
    // Old files only have the byte field; newer ones put codes >= 127 in builtin_code.
    const deprecated = c.i8(F.OperatorCode.deprecatedBuiltinCode);
    const extended = c.i32(F.OperatorCode.builtinCode);
    const builtinCode = Math.max(deprecated, extended);
    const customCode = c.string(F.OperatorCode.customCode);
    const name = builtinCode === 32 && customCode ? customCode : operatorName(builtinCode);
    const code: TfliteOperatorCode = { name, builtinCode, version: c.i32(F.OperatorCode.version, 1) };
    if (customCode !== undefined) code.customCode = customCode;
    return code;
  });

  const subgraphs = model.tables(F.Model.subgraphs, 'subgraphs').map((sg, i) => readSubgraph(sg, i, buffers, operatorCodes));
  if (subgraphs.length === 0) throw new CorruptFlatbufferError('the model has no subgraphs');

  const metadata = model.tables(F.Model.metadata, 'metadata').map((m) => ({
    name: m.string(F.Metadata.name) ?? '',
    buffer: m.u32(F.Metadata.buffer),
  }));
  const signatures = model.tables(F.Model.signatureDefs, 'signature_defs').map((s) => ({
    key: s.string(F.SignatureDef.signatureKey) ?? '',
    subgraph: s.u32(F.SignatureDef.subgraphIndex),
    inputs: s.tables(F.SignatureDef.inputs, 'signature inputs').map((t) => t.string(0) ?? ''),
    outputs: s.tables(F.SignatureDef.outputs, 'signature outputs').map((t) => t.string(0) ?? ''),
  }));

  const weightBytes = buffers.reduce((sum, b) => sum + b.bytes, 0);
  return {
    schemaVersion,
    description: model.string(F.Model.description) ?? '',
    operatorCodes,
    subgraphs,
    buffers,
    metadata,
    signatures,
    size: { fileBytes: bytes.byteLength, weightBytes, overheadBytes: bytes.byteLength - weightBytes },
  };
}

function readSubgraph(sg: Table, index: number, buffers: TfliteBuffer[], codes: TfliteOperatorCode[]): TfliteSubgraph {
  const where = `subgraph ${index}`;
  const tensors = sg.tables(F.SubGraph.tensors, `${where} tensors`).map((t, i) => readTensor(t, i, buffers));
  const checkIndex = (list: number[], what: string, allowOptional: boolean): number[] => {
    for (const ix of list) {
      if (allowOptional && ix === -1) continue;
      if (ix < 0 || ix >= tensors.length) throw new CorruptFlatbufferError(`${where}: ${what} refers to tensor ${ix}, but there are ${tensors.length}`);
    }
    return list;
  };
  const operators = sg.tables(F.SubGraph.operators, `${where} operators`).map((o, i): TfliteOperator => {
    const opcodeIndex = o.u32(F.Operator.opcodeIndex);
    const code = codes[opcodeIndex];
    if (!code) throw new CorruptFlatbufferError(`${where}: operator ${i} uses opcode ${opcodeIndex}, but there are ${codes.length}`);
    const optionsTypeByte = o.u8(F.Operator.builtinOptionsType);
    const optionsType = optionsName(optionsTypeByte);
    const optionsTable = optionsType ? o.table(F.Operator.builtinOptions, `${optionsType} of operator ${i}`) : undefined;
    const op: TfliteOperator = {
      index: i,
      opcodeIndex,
      op: code.name,
      version: code.version,
      inputs: checkIndex(o.i32s(F.Operator.inputs, 'operator inputs'), `operator ${i} input`, true),
      outputs: checkIndex(o.i32s(F.Operator.outputs, 'operator outputs'), `operator ${i} output`, false),
      options: optionsTable && optionsType ? decodeOptions(optionsType, optionsTable) : {},
    };
    if (optionsType) op.optionsType = optionsType;
    return op;
  });
  return {
    name: sg.string(F.SubGraph.name) ?? '',
    tensors,
    operators,
    inputs: checkIndex(sg.i32s(F.SubGraph.inputs, 'subgraph inputs'), 'subgraph input', false),
    outputs: checkIndex(sg.i32s(F.SubGraph.outputs, 'subgraph outputs'), 'subgraph output', false),
  };
}

function readTensor(t: Table, index: number, buffers: TfliteBuffer[]): TfliteTensor {
  const buffer = t.u32(F.Tensor.buffer);
  const typeCode = t.i8(F.Tensor.type);
  const shape = t.i32s(F.Tensor.shape, 'tensor shape');
  const buf = buffers[buffer];
  if (buffer !== 0 && !buf) throw new CorruptFlatbufferError(`tensor ${index} uses buffer ${buffer}, but there are ${buffers.length}`);
  const dataBytes = buf?.bytes ?? 0;
  const width = tensorTypeBytes(typeCode);
  if (dataBytes > 0 && width > 0 && shape.every((d) => d >= 0)) {
    const expected = shape.reduce((a, d) => a * d, 1) * width;
    if (expected !== dataBytes) {
      throw new CorruptFlatbufferError(`tensor ${index} has shape [${shape.join(',')}] (${expected} bytes) but its buffer holds ${dataBytes}`);
    }
  }
  const tensor: TfliteTensor = {
    index,
    name: t.string(F.Tensor.name) ?? '',
    shape,
    type: tensorTypeName(typeCode),
    buffer,
    dataBytes,
    isVariable: t.bool(F.Tensor.isVariable),
  };
  if (t.has(F.Tensor.shapeSignature)) tensor.shapeSignature = t.i32s(F.Tensor.shapeSignature, 'shape signature');
  const q = t.table(F.Tensor.quantization, `quantization of tensor ${index}`);
  if (q) {
    const scale = q.f32s(F.Quantization.scale, 'quantization scale');
    const zeroPoint = q.i64s(F.Quantization.zeroPoint, 'quantization zero point');
    const min = q.f32s(F.Quantization.min, 'quantization min');
    const max = q.f32s(F.Quantization.max, 'quantization max');
    // Converters write an empty table on float tensors; only report real parameters.
    if (scale.length > 0 || min.length > 0) {
      const quant: TfliteQuantization = { scale, zeroPoint, quantizedDimension: q.i32(F.Quantization.quantizedDimension) };
      if (min.length > 0) quant.min = min;
      if (max.length > 0) quant.max = max;
      tensor.quantization = quant;
    }
  }
  return tensor;
}

function decodeOptions(type: string, t: Table): Record<string, OptionValue> {
  const act = (id: number): string => ACTIVATION_NAMES[t.i8(id)] ?? `UNKNOWN_${t.i8(id)}`;
  const pad = (id: number): string => PADDING_NAMES[t.i8(id)] ?? `UNKNOWN_${t.i8(id)}`;
  switch (type) {
    case 'Conv2DOptions': {
      const f = F.Conv2DOptions;
      return {
        padding: pad(f.padding), strideW: t.i32(f.strideW), strideH: t.i32(f.strideH),
        activation: act(f.activation), dilationW: t.i32(f.dilationW, 1), dilationH: t.i32(f.dilationH, 1),
      };
    }
    case 'DepthwiseConv2DOptions': {
      const f = F.DepthwiseConv2DOptions;
      return {
        padding: pad(f.padding), strideW: t.i32(f.strideW), strideH: t.i32(f.strideH),
        depthMultiplier: t.i32(f.depthMultiplier), activation: act(f.activation),
        dilationW: t.i32(f.dilationW, 1), dilationH: t.i32(f.dilationH, 1),
      };
    }
    case 'Pool2DOptions': {
      const f = F.Pool2DOptions;
      return {
        padding: pad(f.padding), strideW: t.i32(f.strideW), strideH: t.i32(f.strideH),
        filterWidth: t.i32(f.filterWidth), filterHeight: t.i32(f.filterHeight), activation: act(f.activation),
      };
    }
    case 'FullyConnectedOptions': {
      const f = F.FullyConnectedOptions;
      return {
        activation: act(f.activation), weightsFormat: t.i8(f.weightsFormat),
        keepNumDims: t.bool(f.keepNumDims), asymmetricQuantizeInputs: t.bool(f.asymmetricQuantizeInputs),
      };
    }
    case 'SoftmaxOptions':
      return { beta: t.f32(F.SoftmaxOptions.beta) };
    case 'AddOptions':
      return { activation: act(F.AddOptions.activation), potScaleInt16: t.bool(F.AddOptions.potScaleInt16, true) };
    case 'MulOptions': case 'SubOptions': case 'DivOptions': case 'L2NormOptions':
      return { activation: act(F.ActivationOnly.activation) };
    case 'ReshapeOptions':
      return { newShape: t.i32s(F.ReshapeOptions.newShape, 'reshape new_shape') };
    case 'ConcatenationOptions':
      return { axis: t.i32(F.ConcatenationOptions.axis), activation: act(F.ConcatenationOptions.activation) };
    case 'ReducerOptions':
      return { keepDims: t.bool(F.ReducerOptions.keepDims) };
    default:
      return {};
  }
}

export type TensorValues = Float32Array | Int8Array | Uint8Array | Int16Array | Int32Array | BigInt64Array;

/**
 * The constant values of a tensor, copied out of the file (so the result is aligned and owned
 * by the caller). Undefined for activation tensors and types without a typed array.
 */
export function tensorData(bytes: Uint8Array, info: TfliteModelInfo, tensor: TfliteTensor): TensorValues | undefined {
  const buf = info.buffers[tensor.buffer];
  if (!buf || buf.bytes === 0 || buf.fileOffset < 0) return undefined;
  const copy = bytes.slice(buf.fileOffset, buf.fileOffset + buf.bytes);
  switch (tensor.type) {
    case 'FLOAT32': return new Float32Array(copy.buffer, 0, buf.bytes / 4);
    case 'INT8': return new Int8Array(copy.buffer, 0, buf.bytes);
    case 'UINT8': return copy;
    case 'INT16': return new Int16Array(copy.buffer, 0, buf.bytes / 2);
    case 'INT32': return new Int32Array(copy.buffer, 0, buf.bytes / 4);
    case 'INT64': return new BigInt64Array(copy.buffer, 0, buf.bytes / 8);
    default: return undefined;
  }
}

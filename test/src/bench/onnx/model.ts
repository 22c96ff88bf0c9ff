/**
 * A small ONNX model description and its encoder to ModelProto bytes: enough for float32
 * feed-forward graphs (initializers, nodes with int/ints/float/string attributes, tensor
 * inputs and outputs with fixed or named dimensions). Field numbers are those of onnx.proto
 * (onnx/onnx, IR version 8); nothing here is generated code.
 */
import { concat, float32Bytes, floatField, intField, messageField, packedIntsField, bytesField, stringField } from './protobuf.js';

/** TensorProto.DataType.FLOAT */
const FLOAT = 1;

/** AttributeProto.AttributeType */
const ATTR = { FLOAT: 1, INT: 2, STRING: 3, INTS: 7 } as const;

export type Attribute =
  | { name: string; kind: 'int'; value: number }
  | { name: string; kind: 'ints'; value: number[] }
  | { name: string; kind: 'float'; value: number }
  | { name: string; kind: 'string'; value: string };

export const attr = {
  int: (name: string, value: number): Attribute => ({ name, kind: 'int', value }),
  ints: (name: string, value: number[]): Attribute => ({ name, kind: 'ints', value }),
  float: (name: string, value: number): Attribute => ({ name, kind: 'float', value }),
  string: (name: string, value: string): Attribute => ({ name, kind: 'string', value }),
};

export interface OnnxNode {
  op: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attributes?: Attribute[];
}

/** A float32 constant (weights, biases), row-major. */
export interface OnnxInitializer {
  name: string;
  dims: number[];
  data: Float32Array;
}

/** A float32 graph input or output; a string dimension is symbolic (e.g. the batch "N"). */
export interface OnnxValue {
  name: string;
  shape: (number | string)[];
}

export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  initializers: OnnxInitializer[];
  inputs: OnnxValue[];
  outputs: OnnxValue[];
}

export interface OnnxModel {
  irVersion: number;
  /** Version of the default ("ai.onnx") operator set. */
  opset: number;
  producer: string;
  graph: OnnxGraph;
}

function attributeProto(a: Attribute): Uint8Array[] {
  // AttributeProto: name = 1, f = 2, i = 3, s = 4, ints = 8, type = 20.
  const fields = [stringField(1, a.name)];
  switch (a.kind) {
    case 'int':
      fields.push(intField(3, a.value), intField(20, ATTR.INT));
      break;
    case 'ints':
      fields.push(packedIntsField(8, a.value), intField(20, ATTR.INTS));
      break;
    case 'float':
      fields.push(floatField(2, a.value), intField(20, ATTR.FLOAT));
      break;
    case 'string':
      fields.push(bytesField(4, new TextEncoder().encode(a.value)), intField(20, ATTR.STRING));
      break;
  }
  return fields;
}

function nodeProto(n: OnnxNode): Uint8Array[] {
  // NodeProto: input = 1, output = 2, name = 3, op_type = 4, attribute = 5.
  return [
    ...n.inputs.map((i) => stringField(1, i)),
    ...n.outputs.map((o) => stringField(2, o)),
    stringField(3, n.name),
    stringField(4, n.op),
    ...(n.attributes ?? []).map((a) => messageField(5, attributeProto(a))),
  ];
}

function tensorProto(t: OnnxInitializer): Uint8Array[] {
  const count = t.dims.reduce((a, d) => a * d, 1);
  if (count !== t.data.length) throw new Error(`initializer ${t.name}: dims ${t.dims.join('x')} hold ${count} values, data has ${t.data.length}`);
  // TensorProto: dims = 1, data_type = 2, name = 8, raw_data = 9.
  return [packedIntsField(1, t.dims), intField(2, FLOAT), stringField(8, t.name), bytesField(9, float32Bytes(t.data))];
}

function valueInfoProto(v: OnnxValue): Uint8Array[] {
  // TensorShapeProto.Dimension: dim_value = 1, dim_param = 2; TensorShapeProto: dim = 1.
  const dims = v.shape.map((d) => messageField(1, [typeof d === 'number' ? intField(1, d) : stringField(2, d)]));
  // TypeProto.Tensor: elem_type = 1, shape = 2; TypeProto: tensor_type = 1.
  const tensorType = messageField(1, [intField(1, FLOAT), messageField(2, dims)]);
  // ValueInfoProto: name = 1, type = 2.
  return [stringField(1, v.name), messageField(2, [tensorType])];
}

function graphProto(g: OnnxGraph): Uint8Array[] {
  // GraphProto: node = 1, name = 2, initializer = 5, input = 11, output = 12.
  return [
    ...g.nodes.map((n) => messageField(1, nodeProto(n))),
    stringField(2, g.name),
    ...g.initializers.map((t) => messageField(5, tensorProto(t))),
    ...g.inputs.map((v) => messageField(11, valueInfoProto(v))),
    ...g.outputs.map((v) => messageField(12, valueInfoProto(v))),
  ];
}

/** ModelProto bytes, ready for `ort.InferenceSession.create(bytes)`. */
export function encodeModel(m: OnnxModel): Uint8Array {
  // ModelProto: ir_version = 1, producer_name = 2, graph = 7, opset_import = 8
  // (OperatorSetIdProto: domain = 1, empty for ai.onnx; version = 2).
  return concat([intField(1, m.irVersion), stringField(2, m.producer), messageField(7, graphProto(m.graph)), messageField(8, [intField(2, m.opset)])]);
}

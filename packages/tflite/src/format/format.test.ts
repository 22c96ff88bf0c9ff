/**
 * Writer and reader: a round trip that compares every tensor, operator and buffer with what
 * was written; a file with the converter-only features our writer never emits; and corrupt or
 * truncated input, which must give a `tflite-corrupt` error and nothing else.
 */
import * as tf from '@tensorflow/tfjs';
import { Builder } from 'flatbuffers';
import { beforeAll, describe, expect, it } from 'vitest';
import { isEdgemlError } from '@edgeml/core';
import { calibrationRanges } from '../convert/evaluate.js';
import { tfliteGraph } from '../convert/export.js';
import { lowerFloat, lowerInt8 } from '../convert/lower.js';
import { formatTfliteInfo } from './inspect.js';
import { Op, operatorName, optionsName, Options, readTflite, tensorData, tensorTypeName } from '@edgeml/runtime';
import { writeTflite, type ModelSpec } from './write.js';

function model(): tf.LayersModel {
  const m = tf.sequential();
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  m.add(tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(1) }));
  m.add(tf.layers.depthwiseConv2d({ kernelSize: 3, activation: 'relu6', depthwiseInitializer: init(2) }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tf.layers.reshape({ targetShape: [3, 3, 4] }));
  m.add(tf.layers.averagePooling2d({ poolSize: 3 }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dropout({ rate: 0.3 }));
  m.add(tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: init(3) }));
  return m;
}

const rows = 32;
const calibration = Float32Array.from({ length: rows * 64 }, (_, i) => Math.sin(i * 0.731) * 1.5);

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function specs(): Record<'float32' | 'int8', ModelSpec> {
  const g = tfliteGraph(model());
  return { float32: lowerFloat(g, 'round trip float'), int8: lowerInt8(g, calibrationRanges(tf, g, calibration, rows), 'round trip int8') };
}

describe('round trip', () => {
  it.each(['float32', 'int8'] as const)('reads back every %s tensor, operator and buffer as written', (kind) => {
    const spec = specs()[kind];
    const bytes = writeTflite(spec);
    expect(new TextDecoder().decode(bytes.subarray(4, 8))).toBe('TFL3');
    const info = readTflite(bytes);
    expect(info.schemaVersion).toBe(3);
    expect(info.description).toBe(spec.description);
    expect(info.buffers[0]!.bytes).toBe(0);
    const sg = info.subgraphs[0]!;
    expect(sg.inputs).toEqual(spec.inputs);
    expect(sg.outputs).toEqual(spec.outputs);
    expect(sg.tensors).toHaveLength(spec.tensors.length);
    spec.tensors.forEach((want, i) => {
      const got = sg.tensors[i]!;
      expect(got.name).toBe(want.name);
      expect(got.shape).toEqual(want.shape);
      expect(got.type).toBe(tensorTypeName(want.type));
      expect(got.dataBytes).toBe(want.data?.byteLength ?? 0);
      if (want.data) expect(new Uint8Array(tensorData(bytes, info, got)!.buffer)).toEqual(want.data);
      if (want.quantization) {
        expect(got.quantization?.scale).toEqual(want.quantization.scale.map(Math.fround));
        expect(got.quantization?.zeroPoint).toEqual(want.quantization.zeroPoint);
        expect(got.quantization?.quantizedDimension).toBe(want.quantization.quantizedDimension ?? 0);
      } else {
        expect(got.quantization).toBeUndefined();
      }
    });
    expect(sg.operators.map((o) => [o.op, o.version, o.inputs, o.outputs])).toEqual(
      spec.operators.map((o) => [operatorName(o.op), o.version, o.inputs, o.outputs]),
    );
    expect(info.size.weightBytes).toBe(spec.tensors.reduce((n, t) => n + (t.data?.byteLength ?? 0), 0));
    expect(info.size.weightBytes + info.size.overheadBytes).toBe(bytes.byteLength);
  });

  it('keeps the interpreter rules: int8 softmax at 1/256 and -128, pooling and reshape on their input grid, per-channel conv', () => {
    const info = readTflite(writeTflite(specs().int8));
    const sg = info.subgraphs[0]!;
    const q = (i: number) => sg.tensors[i]!.quantization!;
    for (const op of sg.operators) {
      if (op.op === 'SOFTMAX') expect([q(op.outputs[0]!).scale[0], q(op.outputs[0]!).zeroPoint[0]]).toEqual([1 / 256, -128]);
      if (['MAX_POOL_2D', 'AVERAGE_POOL_2D', 'RESHAPE'].includes(op.op)) expect(q(op.outputs[0]!)).toEqual(q(op.inputs[0]!));
      if (op.op === 'CONV_2D' || op.op === 'DEPTHWISE_CONV_2D') {
        const w = q(op.inputs[1]!);
        const bias = q(op.inputs[2]!);
        const channels = sg.tensors[op.inputs[1]!]!.shape[op.op === 'CONV_2D' ? 0 : 3]!;
        expect(w.scale).toHaveLength(channels);
        expect(w.quantizedDimension).toBe(op.op === 'CONV_2D' ? 0 : 3);
        // Bias scale = input scale x weight scale, per channel (float32 in the file).
        bias.scale.forEach((s, c) => expect(Math.abs(s / (q(op.inputs[0]!).scale[0]! * w.scale[c]!) - 1)).toBeLessThan(1e-6));
        expect(sg.tensors[op.inputs[2]!]!.type).toBe('INT32');
      }
      if (op.op === 'FULLY_CONNECTED') expect(q(op.inputs[1]!).scale).toHaveLength(1);
    }
    // Zero is exactly representable: every activation zero point is an integer in range.
    for (const t of sg.tensors) if (t.type === 'INT8' && t.buffer === 0) expect(Number.isInteger(t.quantization!.zeroPoint[0])).toBe(true);
  });

  it('folds BatchNormalization, fuses relu/relu6, drops Dropout and the Flatten before Dense', () => {
    const g = tfliteGraph((() => {
      const m = tf.sequential();
      m.add(tf.layers.conv2d({ inputShape: [6, 6, 1], filters: 2, kernelSize: 3 }));
      m.add(tf.layers.batchNormalization({}));
      m.add(tf.layers.activation({ activation: 'relu' }));
      m.add(tf.layers.flatten());
      m.add(tf.layers.dropout({ rate: 0.5 }));
      m.add(tf.layers.dense({ units: 3, activation: 'relu6' }));
      return m;
    })());
    expect(g.ops.map((o) => [o.kind, 'activation' in o ? o.activation : ''])).toEqual([['conv2d', 'relu'], ['fc', 'relu6']]);
  });
});

describe('files from other writers', () => {
  it('reads converter features: old and extended op codes, custom ops, shape signatures, empty quantization, metadata, signatures', () => {
    const bytes = converterStyleFile();
    const info = readTflite(bytes);
    expect(info.operatorCodes.map((c) => [c.name, c.version])).toEqual([['FULLY_CONNECTED', 9], ['GELU', 1], ['MyCustomOp', 1]]);
    const sg = info.subgraphs[0]!;
    expect(sg.name).toBe('serving');
    expect(sg.tensors[0]!).toMatchObject({ name: 'serving_default_x:0', shape: [1, 4], shapeSignature: [-1, 4], type: 'FLOAT32' });
    expect(sg.tensors[0]!.quantization).toBeUndefined();
    expect(sg.tensors[1]!.quantization).toEqual({ scale: [0.5, 0.25], zeroPoint: [0, 0], quantizedDimension: 0, min: [-1, -2], max: [1, 2] });
    expect(sg.operators[0]!).toMatchObject({ op: 'FULLY_CONNECTED', optionsType: 'FullyConnectedOptions', options: { activation: 'RELU', keepNumDims: true } });
    expect(sg.operators[1]!.op).toBe('GELU');
    expect(sg.operators[2]!).toMatchObject({ op: 'MyCustomOp', inputs: [2, -1] });
    expect(info.metadata).toEqual([{ name: 'min_runtime_version', buffer: 2 }]);
    expect(info.signatures).toEqual([{ key: 'serving_default', subgraph: 0, inputs: ['x'], outputs: ['y'] }]);
    const text = formatTfliteInfo(info);
    expect(text).toContain('MyCustomOp v1');
    expect(text).toContain('2 scales on axis 0');
    expect(text).toContain('metadata "min_runtime_version"');
  });

  it('names the schema enums the way schema.fbs does', () => {
    expect(operatorName(Op.QUANTIZE)).toBe('QUANTIZE');
    expect(operatorName(150)).toBe('GELU');
    expect(operatorName(205)).toBe('REDUCE_WINDOW');
    expect(optionsName(Options.QuantizeOptions)).toBe('QuantizeOptions');
    expect(optionsName(Options.DequantizeOptions)).toBe('DequantizeOptions');
    expect(optionsName(Options.ReshapeOptions)).toBe('ReshapeOptions');
    expect(optionsName(Options.FullyConnectedOptions)).toBe('FullyConnectedOptions');
  });
});

describe('corrupt input', () => {
  const good = writeTflite(specs().int8);
  const expectCorrupt = (bytes: Uint8Array): void => {
    try {
      readTflite(bytes);
    } catch (e) {
      expect(isEdgemlError(e) && e.code).toBe('tflite-corrupt');
      return;
    }
  };

  it('refuses empty, tiny, and non-TFLite input with a clear error', () => {
    for (const bytes of [new Uint8Array(0), new Uint8Array(7), new TextEncoder().encode('this is not a model, just some text')]) {
      expect(() => readTflite(bytes)).toThrow(/not a valid TFLite model/);
    }
  });

  it('refuses every truncation with tflite-corrupt', () => {
    for (let cut = 0; cut < good.length; cut += 7) {
      expect(() => readTflite(good.subarray(0, cut)), `cut at ${cut}`).toThrow(expect.objectContaining({ code: 'tflite-corrupt' }));
    }
  });

  it('either parses or says tflite-corrupt for randomly damaged files, never anything else', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let trial = 0; trial < 2000; trial++) {
      const bad = good.slice();
      for (let f = 0; f < 1 + Math.floor(rnd() * 3); f++) bad[Math.floor(rnd() * bad.length)] = Math.floor(rnd() * 256);
      expectCorrupt(bad);
    }
  });
});

/** A file shaped like TensorFlow's converter output, built by hand with the flatbuffers runtime. */
function converterStyleFile(): Uint8Array {
  const b = new Builder(1024);
  const ivec = (v: number[]) => {
    b.startVector(4, v.length, 4);
    for (let i = v.length - 1; i >= 0; i--) b.addInt32(v[i]!);
    return b.endVector();
  };
  const fvec = (v: number[]) => {
    b.startVector(4, v.length, 4);
    for (let i = v.length - 1; i >= 0; i--) b.addFloat32(v[i]!);
    return b.endVector();
  };
  const lvec = (v: number[]) => {
    b.startVector(8, v.length, 8);
    for (let i = v.length - 1; i >= 0; i--) b.addInt64(BigInt(v[i]!));
    return b.endVector();
  };
  const ovec = (v: number[]) => {
    b.startVector(4, v.length, 4);
    for (let i = v.length - 1; i >= 0; i--) b.addOffset(v[i]!);
    return b.endVector();
  };
  const table = (fields: [number, (id: number) => void][]) => {
    b.startObject(16);
    for (const [id, add] of fields) add(id);
    return b.endObject();
  };
  const off = (o: number) => (id: number) => b.addFieldOffset(id, o, 0);
  const i8 = (v: number) => (id: number) => b.addFieldInt8(id, v, null);
  const i32 = (v: number) => (id: number) => b.addFieldInt32(id, v, null);

  const emptyQuant = table([]);
  const quant = table([[0, off(fvec([-1, -2]))], [1, off(fvec([1, 2]))], [2, off(fvec([0.5, 0.25]))], [3, off(lvec([0, 0]))]]);
  const tensors = [
    table([[0, off(ivec([1, 4]))], [3, off(b.createString('serving_default_x:0'))], [4, off(emptyQuant)], [7, off(ivec([-1, 4]))]]),
    table([[0, off(ivec([2, 4]))], [1, i8(9)], [2, i32(1)], [3, off(b.createString('w'))], [4, off(quant)]]),
    table([[0, off(ivec([1, 2]))], [3, off(b.createString('y'))]]),
  ];
  const fcOptions = table([[0, i8(1)], [2, i8(1)]]);
  const ops = [
    table([[0, i32(0)], [1, off(ivec([0, 1]))], [2, off(ivec([2]))], [3, i8(Options.FullyConnectedOptions)], [4, off(fcOptions)]]),
    table([[0, i32(1)], [1, off(ivec([2]))], [2, off(ivec([2]))]]),
    table([[0, i32(2)], [1, off(ivec([2, -1]))], [2, off(ivec([2]))], [5, off(b.createByteVector(new Uint8Array([1, 2, 3])))]]),
  ];
  const subgraph = table([[0, off(ovec(tensors))], [1, off(ivec([0]))], [2, off(ivec([2]))], [3, off(ovec(ops))], [4, off(b.createString('serving'))]]);
  // An old converter wrote only the byte code; a new one puts codes past 127 in builtin_code.
  const codes = [
    table([[0, i8(9)], [2, i32(9)]]),
    table([[0, i8(127)], [3, i32(150)]]),
    table([[0, i8(32)], [1, off(b.createString('MyCustomOp'))], [3, i32(32)]]),
  ];
  const buffers = [table([]), table([[0, off(b.createByteVector(new Uint8Array(8).fill(1)))]]), table([[0, off(b.createByteVector(new TextEncoder().encode('2.3.0')))]])];
  const metadata = [table([[0, off(b.createString('min_runtime_version'))], [1, i32(2)]])];
  const tmap = (name: string, ix: number) => table([[0, off(b.createString(name))], [1, i32(ix)]]);
  const signature = table([[0, off(ovec([tmap('x', 0)]))], [1, off(ovec([tmap('y', 2)]))], [2, off(b.createString('serving_default'))], [4, i32(0)]]);
  const root = table([
    [0, i32(3)], [1, off(ovec(codes))], [2, off(ovec([subgraph]))], [3, off(b.createString('MLIR Converted.'))],
    [4, off(ovec(buffers))], [6, off(ovec(metadata))], [7, off(ovec([signature]))],
  ]);
  b.finish(root, 'TFL3');
  return b.asUint8Array().slice();
}

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { attr, encodeModel } from './model.js';
import { floatField, intField, packedIntsField, stringField, varint } from './protobuf.js';

describe('protobuf wire format', () => {
  it('writes varints as protobuf does, negative int64 as ten bytes', () => {
    expect([...varint(1)]).toEqual([0x01]);
    expect([...varint(300)]).toEqual([0xac, 0x02]);
    expect([...varint(-1)]).toEqual([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
  });

  it('tags fields with their number and wire type', () => {
    expect([...intField(1, 150)]).toEqual([0x08, 0x96, 0x01]);
    expect([...stringField(2, 'testing')]).toEqual([0x12, 0x07, ...new TextEncoder().encode('testing')]);
    expect([...packedIntsField(4, [3, 270, 86942])]).toEqual([0x22, 0x06, 0x03, 0x8e, 0x02, 0x9e, 0xa7, 0x05]);
    expect([...floatField(2, 1)]).toEqual([0x15, 0x00, 0x00, 0x80, 0x3f]);
  });
});

describe('ONNX encoder', () => {
  it('writes a model onnxruntime loads and runs to the expected values', async () => {
    // y = softmax(relu(x W + b)) with W = [[1, -1], [2, 0]], b = [0.5, 0.25].
    const bytes = encodeModel({
      irVersion: 8,
      opset: 13,
      producer: 'test',
      graph: {
        name: 'tiny',
        nodes: [
          { op: 'Gemm', name: 'gemm', inputs: ['x', 'W', 'b'], outputs: ['h'] },
          { op: 'Relu', name: 'relu', inputs: ['h'], outputs: ['r'] },
          { op: 'Softmax', name: 'softmax', inputs: ['r'], outputs: ['y'], attributes: [attr.int('axis', -1)] },
        ],
        initializers: [
          { name: 'W', dims: [2, 2], data: Float32Array.from([1, -1, 2, 0]) },
          { name: 'b', dims: [2], data: Float32Array.from([0.5, 0.25]) },
        ],
        inputs: [{ name: 'x', shape: ['N', 2] }],
        outputs: [{ name: 'y', shape: ['N', 2] }],
      },
    });
    const session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
    try {
      const out = await session.run({ x: new ort.Tensor('float32', Float32Array.from([1, 1, -1, 0]), [2, 2]) });
      const y = out.y!.data as Float32Array;
      // Row 1: h = [3.5, -0.75] -> relu [3.5, 0]; row 2: h = [-0.5, 1.25] -> relu [0, 1.25].
      const softmax = (a: number, b: number) => [Math.exp(a) / (Math.exp(a) + Math.exp(b)), Math.exp(b) / (Math.exp(a) + Math.exp(b))];
      const expected = [...softmax(3.5, 0), ...softmax(0, 1.25)];
      expected.forEach((v, i) => expect(y[i]).toBeCloseTo(v, 6));
    } finally {
      await session.release();
    }
  });
});

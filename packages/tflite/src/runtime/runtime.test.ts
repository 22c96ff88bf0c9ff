/**
 * The TFLite runtime on the real interpreter: clear errors for bad artifacts (with the
 * interpreter's own reason), batching, int8 IO, disposal, and a process left as it was found.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { calibrationRanges } from '../convert/evaluate.js';
import { exportTflite, tfliteGraph } from '../convert/export.js';
import { lowerFloat, lowerInt8 } from '../convert/lower.js';
import { createTfliteRuntime, loadTfliteRuntime, readTflite, TensorType } from '@edgeml/runtime';
import { writeTflite, type ModelSpec } from '../format/write.js';

const originals = { fetch: globalThis.fetch, MessageChannel: globalThis.MessageChannel, self: 'self' in globalThis, location: 'location' in globalThis };

const N = 37; // not a multiple of the batch size: exercises the batched and the row path
const x = Float32Array.from({ length: N * 64 }, (_, i) => Math.sin(i * 0.917) * 2);

function cnn(): tf.LayersModel {
  const m = tf.sequential();
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  m.add(tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3, activation: 'relu', kernelInitializer: init(11) }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: init(12) }));
  return m;
}

let int8: Uint8Array;
let float32: Uint8Array;
let int8Spec: ModelSpec;

beforeAll(async () => {
  await tf.setBackend('cpu');
  const m = cnn();
  int8 = await exportTflite(m, { quantization: 'int8', calibration: x });
  float32 = await exportTflite(m, { quantization: 'float32' });
  const g = tfliteGraph(m);
  int8Spec = lowerInt8(g, calibrationRanges(tf, g, x, N), 'int8');
});

describe('loading', () => {
  it('describes the model through the runtime interface and detects the format', async () => {
    for (const [bytes, format] of [[int8, 'tflite-int8'], [float32, 'tflite-float32']] as const) {
      const rt = await loadTfliteRuntime(bytes);
      expect(rt.info).toEqual({ runtime: 'tflite-xnnpack', format, inputShape: [8, 8, 1], outputSize: 10 });
      rt.dispose();
    }
  });

  it('refuses garbage and truncated artifacts with tflite-corrupt', async () => {
    for (const bytes of [new Uint8Array(0), new TextEncoder().encode('#!/bin/sh\necho not a model\n'), int8.subarray(0, int8.length - 40), int8.subarray(0, 100)]) {
      await expect(createTfliteRuntime(bytes)).rejects.toThrow(expect.objectContaining({ code: 'tflite-corrupt', message: expect.stringMatching(/not a valid TFLite model/) }));
    }
  });

  it("quotes the interpreter's own reason when it refuses a model", async () => {
    const spec = lowerFloat(tfliteGraph(cnn()), 'too new');
    spec.operators[0]!.version = 99;
    await expect(createTfliteRuntime(writeTflite(spec))).rejects.toThrow(
      expect.objectContaining({ code: 'tflite-load-failed', message: expect.stringMatching(/Didn't find op for builtin opcode 'CONV_2D' version '99'/) }),
    );
  });

  it('gives a clear error for damaged models and stays usable afterwards', async () => {
    let seed = 3;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const codes = new Set<string>();
    for (let trial = 0; trial < 150; trial++) {
      const bad = int8.slice();
      for (let f = 0; f < 2; f++) bad[Math.floor(rnd() * bad.length)] = Math.floor(rnd() * 256);
      try {
        const rt = await createTfliteRuntime(bad);
        try {
          rt.predict(new Float32Array(rt.info.inputShape.reduce((a, d) => a * d, 1)), 1);
        } finally {
          rt.dispose();
        }
      } catch (e) {
        codes.add((e as { code?: string }).code ?? `uncoded ${String(e)}`);
      }
    }
    expect([...codes].every((c) => c.startsWith('tflite-'))).toBe(true);
    const rt = await createTfliteRuntime(int8);
    expect(rt.predict(x, N)).toHaveLength(N * 10);
    rt.dispose();
  });
});

describe('predict', () => {
  it('gives the same rows batched and one at a time', async () => {
    for (const bytes of [int8, float32]) {
      const batched = await createTfliteRuntime(bytes, { batchSize: 16 });
      const single = await createTfliteRuntime(bytes, { batchSize: 1 });
      expect([batched.batchSize, single.batchSize]).toEqual([16, 1]);
      const a = batched.predict(x, N);
      const b = single.predict(x, N);
      for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThanOrEqual(1e-6);
      batched.dispose();
      single.dispose();
    }
  });

  it('falls back to the row loop when the graph cannot be re-batched', async () => {
    // A RESHAPE to a fixed [1, ...] shape, as some converters write, breaks a larger batch.
    const spec = lowerFloat(tfliteGraph((() => {
      const m = tf.sequential();
      m.add(tf.layers.dense({ units: 12, inputShape: [6], kernelInitializer: tf.initializers.glorotUniform({ seed: 5 }) }));
      m.add(tf.layers.reshape({ targetShape: [3, 4] }));
      return m;
    })()), 'fixed reshape');
    const reshape = spec.operators.find((o) => o.options?.kind === 'reshape')!;
    spec.tensors[reshape.inputs[1]!]!.data = new Uint8Array(new Int32Array([1, 3, 4]).buffer);
    if (reshape.options?.kind === 'reshape') reshape.options.newShape = [1, 3, 4];
    const rt = await createTfliteRuntime(writeTflite(spec), { batchSize: 8 });
    expect(rt.batchSize).toBe(1);
    expect(rt.predict(new Float32Array(20 * 6).fill(0.5), 20)).toHaveLength(20 * 12);
    rt.dispose();
  });

  it('serves int8 input and output by quantising in JS, within one output step of float IO', async () => {
    const spec = structuredClone(int8Spec);
    const quantize = spec.operators.shift()!;
    const dequantize = spec.operators.pop()!;
    spec.inputs = quantize.outputs;
    spec.outputs = dequantize.inputs;
    const integerIo = await createTfliteRuntime(writeTflite(spec));
    const floatIo = await createTfliteRuntime(writeTflite(int8Spec));
    const info = readTflite(writeTflite(spec));
    expect(info.subgraphs[0]!.tensors[spec.inputs[0]!]!.type).toBe('INT8');
    expect(integerIo.info.format).toBe('tflite-int8');
    const step = spec.tensors[spec.outputs[0]!]!.quantization!.scale[0]!;
    const a = integerIo.predict(x, N);
    const b = floatIo.predict(x, N);
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThanOrEqual(step * 1.0001);
    integerIo.dispose();
    floatIo.dispose();
    expect(spec.tensors[spec.inputs[0]!]!.type).toBe(TensorType.INT8);
  });

  it('refuses input of the wrong length, and any call after dispose', async () => {
    const rt = await createTfliteRuntime(int8);
    expect(() => rt.predict(new Float32Array(63), 1)).toThrow(expect.objectContaining({ code: 'tflite-bad-input' }));
    rt.dispose();
    expect(() => rt.predict(new Float32Array(64), 1)).toThrow(expect.objectContaining({ code: 'tflite-disposed' }));
    rt.dispose();
  });

  it('runs the whole graph inside XNNPACK except the int8 softmax', async () => {
    const rt = await createTfliteRuntime(int8, { enableProfiling: true, batchSize: 1 });
    rt.predict(x.subarray(0, 4 * 64), 4);
    const profile = rt.profile();
    expect(profile).toContain('TfLiteXNNPackDelegate');
    expect(profile).not.toMatch(/\bCONV_2D\b|\bFULLY_CONNECTED\b|\bMAX_POOL_2D\b/);
    rt.dispose();
  });
});

describe('the environment shim', () => {
  it('puts back every global it touched once the interpreter is loaded', async () => {
    const rt = await createTfliteRuntime(float32);
    rt.dispose();
    expect(globalThis.fetch).toBe(originals.fetch);
    expect(globalThis.MessageChannel).toBe(originals.MessageChannel);
    expect('self' in globalThis).toBe(originals.self);
    expect('location' in globalThis).toBe(originals.location);
    expect('importScripts' in globalThis).toBe(false);
    const channel = new MessageChannel();
    channel.port1.close();
  });
});

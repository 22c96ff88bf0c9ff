/**
 * The runtime on models TensorFlow's converter made (data/models): recurrent state does not
 * leak from one row into the next, and loading a model never rewrites the caller's bytes.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readTflite } from '../format/read.js';
import { createTfliteRuntime } from './runtime.js';

const model = (name: string) => readFile(join(import.meta.dirname, '../../../../../data/models', name));

const row = (size: number, seed: number) => Float32Array.from({ length: size }, (_, i) => ((i * seed) % 255) / 255);

describe('the TFLite runtime on converted models', () => {
  for (const name of ['trained_lstm.tflite', 'trained_lstm_int8.tflite']) {
    it(`gives a row the same answer whatever ran before it (${name})`, async () => {
      const rt = await createTfliteRuntime(await model(name));
      try {
        const a = row(784, 7919);
        const b = row(784, 104729);
        const first = Array.from(rt.predict(a, 1));
        rt.predict(b, 1);
        expect(Array.from(rt.predict(a, 1))).toEqual(first);
        // Several rows in one call run one after another through the same interpreter.
        const both = new Float32Array(784 * 3);
        both.set(a, 0);
        both.set(b, 784);
        both.set(a, 784 * 2);
        const out = rt.predict(both, 3);
        expect(Array.from(out.subarray(0, 10))).toEqual(first);
        expect(Array.from(out.subarray(20, 30))).toEqual(first);
      } finally {
        rt.dispose();
      }
    });
  }

  it('leaves the model bytes it was given as they were, even a Node Buffer', async () => {
    const bytes = await model('micro_speech_quantized.tflite');
    const before = Buffer.from(bytes);
    const rt = await createTfliteRuntime(bytes);
    rt.dispose();
    expect(rt.batchSize).toBe(16);
    expect(Buffer.compare(bytes, before)).toBe(0);
  });

  it('keeps the sha256 and the input shape of bytes that are a view into a larger buffer', async () => {
    // A Buffer inside a shared ArrayBuffer at an offset: where a `slice()` that is a view, or a
    // copy of the whole backing buffer, would go wrong.
    // A model without recurrent state: its bytes reach the re-batching unchanged.
    const file = await model('micro_speech_quantized.tflite');
    const pool = Buffer.alloc(file.length + 64, 0xaa);
    file.copy(pool, 24);
    const bytes = pool.subarray(24, 24 + file.length);
    const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
    const before = { bytes: sha(bytes), pool: sha(pool), shape: readTflite(bytes).subgraphs[0]!.tensors[readTflite(bytes).subgraphs[0]!.inputs[0]!]!.shape };
    for (const batchSize of [1, 16]) {
      const rt = await createTfliteRuntime(bytes, { batchSize });
      rt.predict(row(rt.info.inputShape.reduce((a, d) => a * d, 1), 3), 1);
      rt.dispose();
    }
    const shape = readTflite(bytes).subgraphs[0]!.tensors[readTflite(bytes).subgraphs[0]!.inputs[0]!]!.shape;
    expect({ bytes: sha(bytes), pool: sha(pool), shape }).toEqual(before);
    expect(before.shape[0]).toBe(1);
  });
});

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EdgemlError } from '@edgeml/core';
import { describeTflite, type ImportDescription } from './describe.js';

const model = (name: string) => readFile(join(import.meta.dirname, '../../../../data/models', name));

function refusal(bytes: Uint8Array, d: ImportDescription): EdgemlError {
  try {
    describeTflite(bytes, d);
  } catch (e) {
    return e as EdgemlError;
  }
  throw new Error('expected a refusal');
}

describe('describeTflite', () => {
  it('reads the int8 tensors with their scale and zero point, and names features and labels by default', async () => {
    const d = describeTflite(await model('micro_speech_quantized.tflite'), { task: 'classification', target: 'word' });
    expect(d.input).toEqual({ name: 'Reshape_1', type: 'INT8', shape: [1960], quantization: { scale: expect.closeTo(0.101716, 6), zeroPoint: -128 } });
    expect(d.output).toEqual({ name: 'labels_softmax', type: 'INT8', shape: [4], quantization: { scale: 1 / 256, zeroPoint: -128 } });
    expect(d.spec.features.slice(0, 2)).toEqual(['x0', 'x1']);
    expect(d.spec.features).toHaveLength(1960);
    expect(d.spec.labels).toEqual(['0', '1', '2', '3']);
    expect(d.spec.inputShape).toEqual([1960]);
    // Identity preprocessing: the file carries its own normalisation.
    expect(new Set(d.spec.preprocessing.mean)).toEqual(new Set([0]));
    expect(new Set(d.spec.preprocessing.std)).toEqual(new Set([1]));
  });

  it('keeps the model shape for image-like inputs and takes named features in order', async () => {
    const bytes = await model('trained_lstm.tflite');
    expect(describeTflite(bytes, { task: 'classification', target: 'digit', inputShape: [28, 28] }).spec.inputShape).toEqual([28, 28]);
    const features = Array.from({ length: 784 }, (_, i) => `p${i}`);
    expect(describeTflite(bytes, { task: 'classification', target: 'digit', features }).spec.features).toEqual(features);
  });

  it('refuses each mismatch with one error naming the tensor, exit code 2', async () => {
    const bytes = await model('trained_lstm_int8.tflite');
    const input = 'the model input "serving_default_fixed_input:0" (int8 28x28, 784 values)';
    const cases: [ImportDescription, string][] = [
      [{ task: 'classification', target: 'd', inputShape: [784] }, `--input-shape 784 does not match ${input}`],
      [{ task: 'classification', target: 'd', features: ['a', 'b'] }, `--features names 2 features; ${input} takes 784`],
      [{ task: 'regression', target: 'd' }, 'a regression model gives one value; the model output "StatefulPartitionedCall:0" (int8 10, 10 values)'],
      [{ task: 'classification', target: 'd', labels: ['a', 'b', 'c'] }, '--labels names 3 classes; the model output "StatefulPartitionedCall:0" (int8 10, 10 values) scores 10'],
      [{ task: 'classification', target: 'x3' }, 'the target "x3" is also named as a feature'],
    ];
    for (const [d, message] of cases) {
      const e = refusal(bytes, d);
      expect(e).toBeInstanceOf(EdgemlError);
      expect(e.message).toBe(message);
      expect(e.exitCode).toBe(2);
    }
  });

  it('refuses a file that is not a TFLite model as corrupt', () => {
    expect(refusal(new Uint8Array(64), { task: 'regression', target: 'y' }).code).toBe('tflite-corrupt');
  });
});

/** What the exporter refuses, and that it says which layer and why. */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { exportTflite } from './export.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const refuses = async (model: tf.LayersModel, code: string, message: RegExp, options: Parameters<typeof exportTflite>[1] = { quantization: 'float32' }) => {
  await expect(exportTflite(model, options)).rejects.toThrow(expect.objectContaining({ code, message: expect.stringMatching(message) }));
};

describe('exportTflite refuses', () => {
  it('an LSTM layer, naming the layer and its class', async () => {
    const m = tf.sequential();
    m.add(tf.layers.lstm({ units: 4, inputShape: [5, 3], name: 'my_lstm' }));
    m.add(tf.layers.dense({ units: 2 }));
    await refuses(m, 'tflite-unsupported-layer', /layer "my_lstm" \(LSTM\)/);
  });

  it('an activation TFLite export does not cover', async () => {
    const m = tf.sequential();
    m.add(tf.layers.dense({ units: 4, inputShape: [3], activation: 'elu', name: 'hidden' }));
    await refuses(m, 'tflite-unsupported-layer', /"hidden" \(Dense\).*activation "elu"/);
  });

  it('a BatchNormalization that cannot be folded into the layer before it', async () => {
    const m = tf.sequential();
    m.add(tf.layers.dense({ units: 4, inputShape: [3], activation: 'relu' }));
    m.add(tf.layers.batchNormalization({ name: 'bn_after_relu' }));
    await refuses(m, 'tflite-unsupported-layer', /"bn_after_relu" \(BatchNormalization\).*folded/);
  });

  it('a model with two outputs', async () => {
    const input = tf.input({ shape: [3] });
    const a = tf.layers.dense({ units: 2 }).apply(input) as tf.SymbolicTensor;
    const b = tf.layers.dense({ units: 1 }).apply(input) as tf.SymbolicTensor;
    await refuses(tf.model({ inputs: input, outputs: [a, b] }), 'tflite-unsupported-model', /one input and one output/);
  });

  it('int8 without calibration rows, or with rows of the wrong size, or with NaN', async () => {
    const m = tf.sequential();
    m.add(tf.layers.dense({ units: 2, inputShape: [3] }));
    await refuses(m, 'tflite-calibration-required', /calibration/, { quantization: 'int8' });
    await refuses(m, 'tflite-bad-calibration', /whole number of rows of 3/, { quantization: 'int8', calibration: new Float32Array(4) });
    await refuses(m, 'tflite-bad-calibration', /not a finite number/, { quantization: 'int8', calibration: new Float32Array([1, NaN, 2]) });
  });
});

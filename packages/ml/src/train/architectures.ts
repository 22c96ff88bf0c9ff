import { userError } from '@edgeml/core';
import { loadTf, type tf } from './backend.js';

export type Architecture = 'mlp' | 'cnn';

export interface ArchitectureOptions {
  arch: Architecture;
  inputShape: number[];
  outputs: number;
  task: 'classification' | 'regression';
  seed: number;
  hidden?: number[];
}

/**
 * The built-in architectures. Initialisers take explicit seeds so the same seed gives the same
 * model; no dropout, because tfjs dropout with a fixed seed repeats one mask and without a
 * seed is not reproducible. L2 keeps the small models from overfitting instead.
 */
export async function buildModel(o: ArchitectureOptions): Promise<tf.LayersModel> {
  const tf = await loadTf();
  let s = o.seed;
  const init = () => tf.initializers.glorotUniform({ seed: s++ });
  const l2 = tf.regularizers.l2({ l2: 1e-4 });
  const head =
    o.task === 'classification'
      ? tf.layers.dense({ units: o.outputs, activation: 'softmax', kernelInitializer: init(), name: 'output' })
      : tf.layers.dense({ units: 1, activation: 'linear', kernelInitializer: init(), name: 'output' });
  const model = tf.sequential();
  if (o.arch === 'mlp') {
    const hidden = o.hidden ?? [64, 32];
    const flat = o.inputShape.reduce((a, b) => a * b, 1);
    hidden.forEach((units, i) =>
      model.add(
        tf.layers.dense({
          ...(i === 0 ? { inputShape: [flat] } : {}),
          units,
          activation: 'relu',
          kernelInitializer: init(),
          kernelRegularizer: l2,
          name: `dense_${i}`,
        }),
      ),
    );
  } else {
    if (o.inputShape.length !== 3) {
      throw userError('bad-input-shape', `the cnn architecture needs an image shape HxWxC (e.g. --input-shape 8x8x1), got ${o.inputShape.join('x')}`);
    }
    model.add(tf.layers.conv2d({ inputShape: o.inputShape, filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(), name: 'conv_0' }));
    model.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'pool_0' }));
    model.add(tf.layers.conv2d({ filters: 16, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(), name: 'conv_1' }));
    model.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'pool_1' }));
    model.add(tf.layers.flatten({ name: 'flatten' }));
    model.add(tf.layers.dense({ units: 32, activation: 'relu', kernelInitializer: init(), kernelRegularizer: l2, name: 'dense_0' }));
  }
  model.add(head);
  return model;
}

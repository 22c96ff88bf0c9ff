import { userError } from '@edgeml/core';
import { loadTf, type tf } from './backend.js';

export type Architecture = 'mlp' | 'cnn';

export interface ArchitectureOptions {
  arch: Architecture;
  inputShape: number[];
  outputs: number;
  task: 'classification' | 'regression';
  seed: number;
  /** mlp: units of each hidden layer (its length is the depth). Default [64, 32]. */
  hidden?: number[];
  /** cnn: filters of each conv + 2x2 max-pool block. Default [8, 16]. */
  filters?: number[];
  /** cnn: units of the dense layer after the conv blocks. Default 32. */
  dense?: number;
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
    const filters = o.filters ?? [8, 16];
    // Each block halves height and width; a block past 1x1 would leave nothing to pool.
    const smallest = Math.min(o.inputShape[0]!, o.inputShape[1]!);
    if (filters.length === 0 || smallest >> filters.length < 1) {
      throw userError('bad-architecture', `a ${o.inputShape.join('x')} input allows 1 to ${Math.floor(Math.log2(smallest))} conv blocks, not ${filters.length}`);
    }
    filters.forEach((n, i) => {
      model.add(
        tf.layers.conv2d({ ...(i === 0 ? { inputShape: o.inputShape } : {}), filters: n, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(), name: `conv_${i}` }),
      );
      model.add(tf.layers.maxPooling2d({ poolSize: 2, name: `pool_${i}` }));
    });
    model.add(tf.layers.flatten({ name: 'flatten' }));
    model.add(tf.layers.dense({ units: o.dense ?? 32, activation: 'relu', kernelInitializer: init(), kernelRegularizer: l2, name: 'dense_0' }));
  }
  model.add(head);
  return model;
}

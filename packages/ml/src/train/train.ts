/**
 * Seeded, reproducible training with early stopping on validation loss. Each epoch's shuffle
 * comes from our own seeded generator (tfjs' own shuffle uses Math.random), and the weights of
 * the best validation epoch are restored at the end.
 */
import type { ModelSpec, Task } from '@edgeml/core';
import type { Splits } from '../data/split.js';
import type { Dataset } from '../data/dataset.js';
import { seededRandom, shuffleInPlace } from '../data/rng.js';
import { applyPreprocessing, fitPreprocessing, scaleTargets } from '@edgeml/runtime';
import { buildModel, type Architecture } from './architectures.js';
import { loadTf, useTrainingBackend, type tf, type Tfjs, type TrainingBackend, type TrainingBackendChoice } from './backend.js';

export interface EpochLog {
  epoch: number;
  loss: number;
  valLoss: number;
}

export interface TrainOptions {
  arch: Architecture;
  /** One row's shape; defaults to [features]. */
  inputShape?: number[];
  seed: number;
  epochs?: number;
  batchSize?: number;
  /** Stop after this many epochs without a better validation loss. */
  patience?: number;
  learningRate?: number;
  hidden?: number[];
  /** cnn conv filters per block and dense units; see architectures.ts. */
  filters?: number[];
  dense?: number;
  /** A user's own tfjs model to start from instead of a built-in architecture. */
  baseModel?: tf.LayersModel;
  /** Which tfjs backend trains; `cpu` is the slower reference path. Default `auto`. */
  backend?: TrainingBackendChoice;
  onEpoch?: (log: EpochLog, maxEpochs: number) => void;
}

export interface TrainResult {
  model: tf.LayersModel;
  spec: ModelSpec;
  history: EpochLog[];
  bestEpoch: number;
  stoppedEarly: boolean;
  backend: TrainingBackend;
  durationMs: number;
}

function tensors(tf: Tfjs, ds: Dataset, spec: ModelSpec, task: Task): { x: tf.Tensor; y: tf.Tensor } {
  const x = applyPreprocessing(spec.preprocessing, ds.x);
  const y =
    task === 'classification'
      ? tf.oneHot(tf.tensor1d(Int32Array.from(ds.y), 'int32'), spec.labels!.length)
      : tf.tensor2d(scaleTargets(spec.preprocessing, ds.y), [ds.n, 1]);
  return { x: tf.tensor(x, [ds.n, ...spec.inputShape]), y };
}

export async function trainModel(splits: Splits, opts: TrainOptions): Promise<TrainResult> {
  const started = Date.now();
  const backend = await useTrainingBackend(opts.backend);
  const tf = await loadTf();
  const { train, validation } = splits;
  const inputShape = opts.inputShape ?? [train.features.length];
  const spec: ModelSpec = {
    task: train.task,
    target: train.target,
    features: train.features,
    inputShape,
    preprocessing: fitPreprocessing(train),
  };
  if (train.labels) spec.labels = train.labels;
  const outputs = train.task === 'classification' ? train.labels!.length : 1;

  const model =
    opts.baseModel ??
    (await buildModel({
      arch: opts.arch,
      inputShape,
      outputs,
      task: train.task,
      seed: opts.seed,
      ...(opts.hidden ? { hidden: opts.hidden } : {}),
      ...(opts.filters ? { filters: opts.filters } : {}),
      ...(opts.dense ? { dense: opts.dense } : {}),
    }));
  model.compile({
    optimizer: tf.train.adam(opts.learningRate ?? 0.003),
    loss: train.task === 'classification' ? 'categoricalCrossentropy' : 'meanSquaredError',
  });

  const tr = tensors(tf, train, spec, train.task);
  const va = tensors(tf, validation, spec, train.task);
  const random = seededRandom(opts.seed ^ 0x5eed);
  const order = Array.from({ length: train.n }, (_, i) => i);
  const maxEpochs = opts.epochs ?? 100;
  const patience = opts.patience ?? 8;
  const history: EpochLog[] = [];
  let best = { loss: Infinity, epoch: 0, weights: [] as tf.Tensor[] };
  try {
    for (let epoch = 1; epoch <= maxEpochs; epoch++) {
      const idx = tf.tensor1d(Int32Array.from(shuffleInPlace(order, random)), 'int32');
      const xs = tf.gather(tr.x, idx);
      const ys = tf.gather(tr.y, idx);
      const fit = await model.fit(xs, ys, { epochs: 1, batchSize: opts.batchSize ?? 32, shuffle: false, verbose: 0 });
      tf.dispose([idx, xs, ys]);
      const lossTensor = model.evaluate(va.x, va.y, { batchSize: 256 }) as tf.Scalar;
      const valLoss = (await lossTensor.data())[0]!;
      lossTensor.dispose();
      const log = { epoch, loss: Number(fit.history.loss?.[0]), valLoss };
      history.push(log);
      opts.onEpoch?.(log, maxEpochs);
      if (valLoss < best.loss - 1e-6) {
        tf.dispose(best.weights);
        best = { loss: valLoss, epoch, weights: model.getWeights().map((w) => w.clone()) };
      } else if (epoch - best.epoch >= patience) {
        break;
      }
    }
    if (best.weights.length) model.setWeights(best.weights);
  } finally {
    tf.dispose([tr.x, tr.y, va.x, va.y, ...best.weights]);
  }
  return {
    model,
    spec,
    history,
    bestEpoch: best.epoch,
    stoppedEarly: history.length < maxEpochs,
    backend,
    durationMs: Date.now() - started,
  };
}

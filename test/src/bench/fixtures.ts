/**
 * Models and data the sections share. Training on the tfjs cpu backend is the slow part of a
 * bench run, so each model is trained once, on first use, with a fixed seed, and kept as the
 * artifact bytes a device would receive: sections load those bytes into whichever runtime they
 * measure, which is how the same model is compared across runtimes.
 */
import { fileURLToPath } from 'node:url';
import type { ModelSpec } from '@edgeml/core';
import { applyPreprocessing, buildDataset, loadBundle, readCsvFile, saveBundle, splitDataset, subset, trainModel, type Architecture, type Dataset } from '@edgeml/ml';
import { exportTflite, type TfliteQuantization } from '@edgeml/tflite';

export interface TrainedModel {
  name: string;
  arch: Architecture;
  /** The tfjs-layers bundle, as shipped to devices. */
  bundle: Uint8Array;
  spec: ModelSpec;
  /** The held-out test split, raw, for accuracy checks through a runtime. */
  test: Dataset;
  /** The test split's rows already preprocessed, so timing measures the runtime alone. */
  testInput: Float32Array;
  /**
   * Representative rows for int8 calibration, preprocessed: the first CALIBRATION_ROWS rows of
   * the training split, as the hub's release pipeline takes them, so the benchmarked int8
   * model is the one a release would ship.
   */
  calibration: Float32Array;
  training: { backend: string; epochs: number; bestEpoch: number; durationMs: number };
}

export interface FixtureOptions {
  seed: number;
  /** Epoch cap for the CNN: on tfjs cpu an epoch takes seconds, and speed does not need the best weights. */
  cnnEpochs: number;
  progress(line: string): void;
}

export interface Fixtures {
  readonly seed: number;
  digits(arch: Architecture): Promise<TrainedModel>;
  /** The trained digits model exported to .tflite (int8 calibrated on `calibration`). */
  tflite(arch: Architecture, quantization: TfliteQuantization): Promise<Uint8Array>;
}

// hub/src/release/pipeline.ts calibrates on this many training rows.
const CALIBRATION_ROWS = 256;

// From test/dist/bench/ (and test/src/bench/) up to the repository root.
const DIGITS_CSV = fileURLToPath(new URL('../../../data/digits.csv', import.meta.url));

export function createFixtures(opts: FixtureOptions): Fixtures {
  // Promises, not values, are cached: two sections asking at once still train once.
  const cache = new Map<Architecture, Promise<TrainedModel>>();
  const tfliteCache = new Map<string, Promise<Uint8Array>>();
  let digitsData: Promise<Dataset> | undefined;

  const loadDigits = () =>
    (digitsData ??= readCsvFile(DIGITS_CSV).then((table) => buildDataset(table, { target: 'digit', task: 'classification' }).dataset));

  async function train(arch: Architecture): Promise<TrainedModel> {
    const dataset = await loadDigits();
    const splits = splitDataset(dataset, { seed: opts.seed });
    const maxEpochs = arch === 'cnn' ? opts.cnnEpochs : undefined;
    opts.progress(`training digits ${arch} (seed ${opts.seed}${maxEpochs ? `, at most ${maxEpochs} epochs` : ''})`);
    const result = await trainModel(splits, {
      arch,
      seed: opts.seed,
      ...(arch === 'cnn' ? { inputShape: [8, 8, 1] } : {}),
      ...(maxEpochs ? { epochs: maxEpochs } : {}),
    });
    const bundle = await saveBundle(result.model);
    // The bundle holds everything; the training-time model would only pin backend memory.
    result.model.dispose();
    opts.progress(`trained digits ${arch}: ${result.history.length} epochs in ${(result.durationMs / 1000).toFixed(1)} s on tfjs-${result.backend}`);
    return {
      name: `digits-${arch}`,
      arch,
      bundle,
      spec: result.spec,
      test: splits.test,
      testInput: applyPreprocessing(result.spec.preprocessing, splits.test.x),
      calibration: applyPreprocessing(result.spec.preprocessing, subset(splits.train, Array.from({ length: Math.min(CALIBRATION_ROWS, splits.train.n) }, (_, i) => i)).x),
      training: { backend: result.backend, epochs: result.history.length, bestEpoch: result.bestEpoch, durationMs: result.durationMs },
    };
  }

  async function toTflite(arch: Architecture, quantization: TfliteQuantization): Promise<Uint8Array> {
    const trained = await digits(arch);
    // From the shipped bundle, as the hub's release path exports it from the trained model.
    const model = await loadBundle(trained.bundle);
    try {
      return await exportTflite(model, quantization === 'int8' ? { quantization, calibration: trained.calibration } : { quantization });
    } finally {
      model.dispose();
    }
  }

  function digits(arch: Architecture): Promise<TrainedModel> {
    let p = cache.get(arch);
    if (!p) cache.set(arch, (p = train(arch)));
    return p;
  }

  return {
    seed: opts.seed,
    digits,
    tflite(arch, quantization) {
      const key = `${arch}/${quantization}`;
      let p = tfliteCache.get(key);
      if (!p) tfliteCache.set(key, (p = toTflite(arch, quantization)));
      return p;
    },
  };
}

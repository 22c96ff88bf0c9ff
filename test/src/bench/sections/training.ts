/**
 * Training speed (issue 14): the digits CNN (and MLP) trained on today's default path, the
 * wasm backend with the im2col + BatchMatMul filter-gradient kernel, against the path before
 * it, the pure-JS cpu backend. Paired rounds in this process, alternating which backend goes
 * first; each round trains a few epochs from the same seed and times the epochs after the
 * first (model building and the first epoch's kernel set-up are not training speed). Then one
 * full training (early stopping) on the wasm path for its test accuracy; the cpu path's full
 * training takes tens of minutes on a loaded machine and runs only with
 * EDGEML_BENCH_TRAINING_FULL=1.
 */
import { buildDataset, readCsvFile, splitDataset, trainModel, loadTf, applyPreprocessing, type Architecture, type Splits, type TrainingBackendChoice } from '@edgeml/ml';
import { fileURLToPath } from 'node:url';
import type { BenchContext, Section, SectionResult, Table } from '../section.js';
import { pairedRatio, summarize, type Target } from '../stats.js';

const DIGITS_CSV = fileURLToPath(new URL('../../../../data/digits.csv', import.meta.url));
const SPEEDUP_TARGET: Target = { op: '>=', value: 4, source: 'issue 14' };
/** Epochs per timed round: the first is set-up, the rest are timed. */
const EPOCHS = 3;
/** cpu CNN epochs take 10-30 s on a loaded machine: rounds are capped to keep the section near 5 minutes. */
const MAX_ROUNDS = 3;

const shapeOf = (arch: Architecture) => (arch === 'cnn' ? { inputShape: [8, 8, 1] } : {});

/** ms per epoch after the first, for one seeded training of `epochs` epochs. */
async function epochMs(splits: Splits, arch: Architecture, backend: TrainingBackendChoice, seed: number): Promise<number> {
  const ends: number[] = [];
  const r = await trainModel(splits, { arch, seed, backend, epochs: EPOCHS, patience: EPOCHS, ...shapeOf(arch), onEpoch: () => ends.push(performance.now()) });
  r.model.dispose();
  return (ends[ends.length - 1]! - ends[0]!) / (ends.length - 1);
}

async function fullTraining(splits: Splits, backend: TrainingBackendChoice, seed: number) {
  const tf = await loadTf();
  const r = await trainModel(splits, { arch: 'cnn', seed, backend, inputShape: [8, 8, 1] });
  try {
    const x = tf.tensor(applyPreprocessing(r.spec.preprocessing, splits.test.x), [splits.test.n, 8, 8, 1]);
    const predicted = tf.tidy(() => (r.model.predict(x) as ReturnType<typeof tf.tensor>).argMax(-1).dataSync());
    x.dispose();
    let right = 0;
    for (let i = 0; i < splits.test.n; i++) if (predicted[i] === splits.test.y[i]) right++;
    return { backend: r.backend, epochs: r.history.length, seconds: r.durationMs / 1000, accuracy: right / splits.test.n };
  } finally {
    r.model.dispose();
  }
}

export const trainingSection: Section = {
  name: 'training',
  title: 'Training speed: wasm backend with the conv filter-gradient kernel vs the cpu backend',
  async run(ctx: BenchContext): Promise<SectionResult> {
    const seed = ctx.fixtures.seed;
    const { dataset } = buildDataset(await readCsvFile(DIGITS_CSV), { target: 'digit', task: 'classification' });
    const splits = splitDataset(dataset, { seed });
    const rounds = Math.min(ctx.rounds, MAX_ROUNDS);
    const figures: Record<`${Architecture}-${'cpu' | 'wasm'}`, number[]> = { 'cnn-cpu': [], 'cnn-wasm': [], 'mlp-cpu': [], 'mlp-wasm': [] };
    for (let round = 0; round < rounds; round++) {
      const order: ('cpu' | 'wasm')[] = round % 2 === 0 ? ['cpu', 'wasm'] : ['wasm', 'cpu'];
      for (const arch of ['cnn', 'mlp'] as const) {
        for (const backend of order) {
          ctx.progress(`round ${round + 1}/${rounds}: digits ${arch} on ${backend}, ${EPOCHS} epochs`);
          figures[`${arch}-${backend}`].push(await epochMs(splits, arch, backend, seed));
        }
      }
    }
    ctx.progress('full digits CNN training on wasm (early stopping)');
    const full = [await fullTraining(splits, 'wasm', seed)];
    if (process.env.EDGEML_BENCH_TRAINING_FULL === '1') {
      ctx.progress('full digits CNN training on cpu (EDGEML_BENCH_TRAINING_FULL=1)');
      full.push(await fullTraining(splits, 'cpu', seed));
    }

    const perEpoch: Table = {
      title: `digits (${splits.train.n} training rows, batch 32): ms per epoch, epochs 2-${EPOCHS} of a seeded run; median (p25-p75) of ${rounds} rounds`,
      columns: [{ key: 'model', header: 'model' }, { key: 'backend', header: 'backend' }, { key: 'ms', header: 'ms/epoch', digits: 0 }],
      rows: (['cnn', 'mlp'] as const).flatMap((arch) => (['cpu', 'wasm'] as const).map((backend) => ({ model: arch, backend, ms: summarize(figures[`${arch}-${backend}`]) }))),
    };
    const accuracy: Table = {
      title: 'digits CNN trained to early stopping (patience 8, at most 100 epochs), test split accuracy in tfjs',
      columns: [{ key: 'backend', header: 'backend' }, { key: 'epochs', header: 'epochs', digits: 0 }, { key: 'seconds', header: 'seconds', digits: 1 }, { key: 'accuracy', header: 'test acc', digits: 4 }],
      rows: full.map((f) => ({ ...f })),
    };
    return {
      tables: [perEpoch, accuracy],
      ratios: [
        pairedRatio('digits CNN training speed-up per epoch, wasm + im2col kernel vs cpu', { label: 'cpu ms/epoch', values: figures['cnn-cpu'] }, { label: 'wasm ms/epoch', values: figures['cnn-wasm'] }, SPEEDUP_TARGET),
        pairedRatio('digits MLP training speed-up per epoch, wasm vs cpu', { label: 'cpu ms/epoch', values: figures['mlp-cpu'] }, { label: 'wasm ms/epoch', values: figures['mlp-wasm'] }),
      ],
      notes: [
        `the ratio is per epoch (epochs 2-${EPOCHS} of ${rounds} paired rounds, same seed, same batches); a full training runs the same number of epochs on either path when their losses agree, which they do to float rounding (see the gradient test in packages/ml/src/train/conv-grad.test.ts)`,
        'cpu: tfjs-backend-cpu, the path before this kernel; wasm: tfjs-backend-wasm (SIMD, one thread) with Conv2DBackpropFilter as im2col in JS + the backend\'s BatchMatMul (packages/ml/src/train/conv-grad.ts)',
        process.env.EDGEML_BENCH_TRAINING_FULL === '1' ? 'both paths trained to early stopping above' : 'set EDGEML_BENCH_TRAINING_FULL=1 to also train the cpu path to early stopping (tens of minutes on a loaded machine) and compare accuracy',
      ],
      details: { rounds: figures, full, epochsPerRound: EPOCHS },
    };
  },
};

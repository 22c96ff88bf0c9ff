import { userError } from '@edgeml/core';
import { subset, type Dataset } from './dataset.js';
import { seededRandom, shuffleInPlace } from './rng.js';

export interface Splits {
  train: Dataset;
  validation: Dataset;
  test: Dataset;
  seed: number;
}

export interface SplitOptions {
  seed: number;
  validation?: number;
  test?: number;
}

/**
 * Seeded train/validation/test split. Classification splits are stratified, so every class
 * with enough rows (four or more) lands in each split and the test accuracy means the same
 * thing from one seed to the next.
 */
export function splitDataset(ds: Dataset, opts: SplitOptions): Splits {
  const valShare = opts.validation ?? 0.15;
  const testShare = opts.test ?? 0.15;
  const random = seededRandom(opts.seed);
  const groups = new Map<number, number[]>();
  for (let r = 0; r < ds.n; r++) {
    const key = ds.task === 'classification' ? ds.y[r]! : 0;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = []));
    g.push(r);
  }
  const train: number[] = [];
  const validation: number[] = [];
  const test: number[] = [];
  for (const key of [...groups.keys()].sort((a, b) => a - b)) {
    const rows = shuffleInPlace(groups.get(key)!, random);
    const nTest = Math.round(rows.length * testShare);
    const nVal = Math.round(rows.length * valShare);
    test.push(...rows.slice(0, nTest));
    validation.push(...rows.slice(nTest, nTest + nVal));
    train.push(...rows.slice(nTest + nVal));
  }
  const minimum = 10;
  if (train.length < minimum || validation.length < 2 || test.length < 2) {
    throw userError(
      'too-few-rows',
      `${ds.file ?? '<data>'}: ${ds.n} rows give ${train.length} train, ${validation.length} validation and ${test.length} test rows; at least ${minimum + 4} rows are needed`,
    );
  }
  shuffleInPlace(train, random);
  return { train: subset(ds, train), validation: subset(ds, validation), test: subset(ds, test), seed: opts.seed };
}

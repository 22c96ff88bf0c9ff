/**
 * Which training rows calibrate int8 quantization, and how far the calibration reaches. Every
 * training row when there are at most CALIBRATION_MAX_ROWS; beyond that a stratified sample
 * (by class, or by target order for regression) that also keeps, for every feature, the rows
 * holding its smallest and largest value, so the sample's input ranges are the training split's.
 */
import { subset, type Dataset } from '../data/dataset.js';
import { seededRandom, shuffleInPlace } from '../data/rng.js';

export const CALIBRATION_MAX_ROWS = 4000;

export interface CalibrationSample {
  dataset: Dataset;
  /** How the rows were chosen, for reports. */
  rule: string;
}

export function calibrationSample(train: Dataset, maxRows = CALIBRATION_MAX_ROWS, seed = 42): CalibrationSample {
  if (train.n <= maxRows) return { dataset: train, rule: `all ${train.n} training rows` };
  const f = train.features.length;
  const keep = new Set<number>();
  for (let j = 0; j < f; j++) {
    let lo = 0;
    let hi = 0;
    for (let r = 1; r < train.n; r++) {
      const v = train.x[r * f + j]!;
      if (v < train.x[lo * f + j]!) lo = r;
      if (v > train.x[hi * f + j]!) hi = r;
    }
    keep.add(lo).add(hi);
  }
  const strata = new Map<number, number[]>();
  if (train.task === 'classification') {
    for (let r = 0; r < train.n; r++) {
      const k = train.y[r]!;
      let s = strata.get(k);
      if (!s) strata.set(k, (s = []));
      s.push(r);
    }
  } else {
    // Ten bands of the target, so the extremes of the target are sampled as often as the middle.
    const order = Array.from({ length: train.n }, (_, r) => r).sort((a, b) => train.y[a]! - train.y[b]!);
    for (let b = 0; b < 10; b++) strata.set(b, order.slice(Math.floor((b * train.n) / 10), Math.floor(((b + 1) * train.n) / 10)));
  }
  const random = seededRandom(seed);
  const room = Math.max(0, maxRows - keep.size);
  const rest: number[] = [];
  for (const stratum of strata.values()) {
    const take = Math.max(1, Math.round((stratum.length / train.n) * room));
    let added = 0;
    for (const r of shuffleInPlace(stratum.filter((r) => !keep.has(r)), random)) {
      if (added < take) {
        keep.add(r);
        added++;
      } else rest.push(r);
    }
  }
  // Rounding the strata's shares can leave the sample a row or two short: fill it from the rest.
  for (const r of shuffleInPlace(rest, random)) {
    if (keep.size >= maxRows) break;
    keep.add(r);
  }
  const rows = [...keep].sort((a, b) => a - b);
  return {
    dataset: subset(train, rows),
    rule: `a stratified sample of ${rows.length} of ${train.n} training rows (by ${train.task === 'classification' ? 'class' : 'target band'}, with each feature's extreme rows)`,
  };
}

/** Smallest and largest value of each feature over `ds`. */
export function featureRanges(ds: Dataset): { min: Float32Array; max: Float32Array } {
  const f = ds.features.length;
  const min = new Float32Array(f).fill(Infinity);
  const max = new Float32Array(f).fill(-Infinity);
  for (let r = 0; r < ds.n; r++) {
    for (let j = 0; j < f; j++) {
      const v = ds.x[r * f + j]!;
      if (v < min[j]!) min[j] = v;
      if (v > max[j]!) max[j] = v;
    }
  }
  return { min, max };
}

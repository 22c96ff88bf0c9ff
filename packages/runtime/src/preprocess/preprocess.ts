/**
 * Preprocessing fitted on the training split only and stored in the model's manifest. This is
 * the one implementation: the hub applies it before training and evaluation, the agent before
 * every prediction, so the device sees exactly what the model was trained on.
 */
import type { ModelSpec, Preprocessing } from '@edgeml/core';
import type { Dataset } from '../data/dataset.js';

export function fitPreprocessing(train: Dataset): Preprocessing {
  const f = train.features.length;
  const mean = new Array<number>(f).fill(0);
  const m2 = new Array<number>(f).fill(0);
  for (let r = 0; r < train.n; r++) {
    for (let j = 0; j < f; j++) mean[j]! += train.x[r * f + j]!;
  }
  for (let j = 0; j < f; j++) mean[j]! /= train.n;
  for (let r = 0; r < train.n; r++) {
    for (let j = 0; j < f; j++) m2[j]! += (train.x[r * f + j]! - mean[j]!) ** 2;
  }
  // A constant feature keeps std 1: it becomes 0 after centring instead of a division by zero.
  const std = m2.map((s) => Math.sqrt(s / train.n) || 1);
  const spec: Preprocessing = { kind: 'standardize', mean, std };
  if (train.columns) spec.columns = train.columns;
  if (train.task === 'regression') {
    let tm = 0;
    for (let r = 0; r < train.n; r++) tm += train.y[r]!;
    tm /= train.n;
    let tv = 0;
    for (let r = 0; r < train.n; r++) tv += (train.y[r]! - tm) ** 2;
    spec.target = { mean: tm, std: Math.sqrt(tv / train.n) || 1 };
  }
  return spec;
}

/**
 * Standardise `n` raw rows into `out` (allocated when not given). Uses precomputed
 * reciprocals: this runs on every prediction.
 */
export function applyPreprocessing(spec: Preprocessing, raw: Float32Array, out: Float32Array = new Float32Array(raw.length)): Float32Array {
  const f = spec.mean.length;
  const mean = Float32Array.from(spec.mean);
  const inv = Float32Array.from(spec.std, (s) => 1 / s);
  for (let i = 0; i < raw.length; i += f) {
    for (let j = 0; j < f; j++) out[i + j] = (raw[i + j]! - mean[j]!) * inv[j]!;
  }
  return out;
}

/** Standardised regression targets for training, or class indices untouched. */
export function scaleTargets(spec: Preprocessing, y: Float32Array): Float32Array {
  const t = spec.target;
  return t ? Float32Array.from(y, (v) => (v - t.mean) / t.std) : y;
}

export type Prediction = { label: string; index: number; probabilities: number[] } | { value: number };

/** Turn raw model outputs into what a user reads: a label with probabilities, or a value. */
export function decodeOutputs(spec: ModelSpec, outputs: Float32Array, n: number): Prediction[] {
  const k = outputs.length / n;
  const result: Prediction[] = new Array(n);
  for (let r = 0; r < n; r++) {
    if (spec.task === 'regression') {
      const t = spec.preprocessing.target;
      const v = outputs[r * k]!;
      result[r] = { value: t ? v * t.std + t.mean : v };
      continue;
    }
    let best = 0;
    const probabilities = new Array<number>(k);
    for (let c = 0; c < k; c++) {
      probabilities[c] = outputs[r * k + c]!;
      if (probabilities[c]! > probabilities[best]!) best = c;
    }
    result[r] = { label: spec.labels![best]!, index: best, probabilities };
  }
  return result;
}

/** The class index (classification) or value (regression) of each row, for metrics. */
export function outputsToTargets(spec: ModelSpec, outputs: Float32Array, n: number): Float32Array {
  const k = outputs.length / n;
  const y = new Float32Array(n);
  const t = spec.preprocessing.target;
  for (let r = 0; r < n; r++) {
    if (spec.task === 'regression') {
      y[r] = t ? outputs[r * k]! * t.std + t.mean : outputs[r * k]!;
      continue;
    }
    let best = 0;
    for (let c = 1; c < k; c++) if (outputs[r * k + c]! > outputs[r * k + best]!) best = c;
    y[r] = best;
  }
  return y;
}

/**
 * What quantization did to a model, measured on the test split against the float model: the
 * headline figure of each, how many rows changed their answer, the largest change, and how many
 * rows reach outside what the calibration covered (int8 clips there, silently, so say it).
 */
import type { ModelSpec } from '@edgeml/core';
import type { Dataset } from '../data/dataset.js';
import type { Evaluation } from '../evaluate/evaluate.js';
import { featureRanges } from './calibration.js';

/** A regression row disagrees when its values differ by more than this share of the target's spread. */
export const REGRESSION_DISAGREEMENT = 0.1;

export interface QuantizationReport {
  calibration: { rows: number; sample: string; rangeRule: string };
  test: {
    rows: number;
    figure: 'accuracy' | 'r2';
    float: number;
    quantized: number;
    /** Share of rows whose answer changed (class, or value beyond the regression tolerance). */
    disagreement: number;
    disagreementRule: string;
    /** Largest change of a probability (classification) or value (regression), and its row. */
    maxDifference: number;
    maxDifferenceRow: number;
    /** Share of rows with an input outside the calibration rows' range. */
    outsideCalibration: number;
    /** Share of rows with an input beyond what the int8 input tensor represents (clipped). */
    clippedInputs?: number;
    /** Regression rows whose quantized value sits at the edge of the output's int8 range. */
    clippedOutputs?: number;
  };
  warnings: string[];
}

export interface CompareOptions {
  calibration: Dataset;
  sample: string;
  rangeRule: string;
  /** What the int8 input represents, per feature in raw units, to find clipped inputs. */
  inputLimits?: { min: Float32Array; max: Float32Array };
  /** The quantized model's output range in target units (regression), to find clipped values. */
  outputLimits?: { min: number; max: number; step: number };
}

const show = (v: number) => String(Number(v.toPrecision(6)));

const headline = (e: Evaluation) => (e.metrics.task === 'classification' ? e.metrics.accuracy : e.metrics.r2);

/** Share of rows whose answer changed between two evaluations of the same rows. */
export function disagreement(spec: ModelSpec, a: Evaluation, b: Evaluation): number {
  const n = a.predicted.length;
  if (n === 0) return 0;
  const tolerance = REGRESSION_DISAGREEMENT * (spec.preprocessing.target?.std ?? 1);
  let differ = 0;
  for (let r = 0; r < n; r++) {
    const x = a.predicted[r]!;
    const y = b.predicted[r]!;
    if (spec.task === 'classification' ? x !== y : Math.abs(x - y) > tolerance) differ++;
  }
  return differ / n;
}

export function disagreementRule(spec: ModelSpec): string {
  return spec.task === 'classification'
    ? 'rows whose predicted class differs'
    : `rows whose values differ by more than ${REGRESSION_DISAGREEMENT} x the training target's std (${Number(((spec.preprocessing.target?.std ?? 1) * REGRESSION_DISAGREEMENT).toPrecision(4))})`;
}

export function compareQuantized(spec: ModelSpec, test: Dataset, float: Evaluation, quantized: Evaluation, o: CompareOptions): QuantizationReport {
  const n = test.n;
  const f = spec.features.length;
  const warnings: string[] = [];
  const k = n ? float.outputs.length / n : 0;
  let maxDifference = 0;
  let maxDifferenceRow = -1;
  for (let r = 0; r < n; r++) {
    let d = 0;
    if (spec.task === 'classification') for (let c = 0; c < k; c++) d = Math.max(d, Math.abs(float.outputs[r * k + c]! - quantized.outputs[r * k + c]!));
    else d = Math.abs(float.predicted[r]! - quantized.predicted[r]!);
    if (d > maxDifference) [maxDifference, maxDifferenceRow] = [d, r];
  }

  const { min, max } = featureRanges(o.calibration);
  const beyond = (lo: ArrayLike<number>, hi: ArrayLike<number>) => {
    let rows = 0;
    let first: string | undefined;
    for (let r = 0; r < n; r++) {
      for (let j = 0; j < f; j++) {
        const v = test.x[r * f + j]!;
        if (v < lo[j]! || v > hi[j]!) {
          rows++;
          first ??= `test row ${r + 1}: ${spec.features[j]} = ${show(v)} against [${show(lo[j]!)}, ${show(hi[j]!)}]`;
          break;
        }
      }
    }
    return { rows, first };
  };
  const outside = o.calibration.n > 0 ? beyond(min, max) : { rows: 0, first: undefined };
  const clipped = o.inputLimits ? beyond(o.inputLimits.min, o.inputLimits.max) : undefined;
  if (outside.rows > 0) {
    warnings.push(
      `${outside.rows} of ${n} test rows have an input outside the calibration range (first: ${outside.first})` +
        (clipped ? (clipped.rows > 0 ? `; ${clipped.rows} beyond what the int8 input represents, where int8 clips (first: ${clipped.first})` : '; none beyond what the int8 input represents') : ''),
    );
  }

  let clippedOutputs: number | undefined;
  if (spec.task === 'regression' && o.outputLimits) {
    const { min: lo, max: hi, step } = o.outputLimits;
    const rows: number[] = [];
    for (let r = 0; r < n; r++) {
      const v = quantized.predicted[r]!;
      if (v <= lo + step / 2 || v >= hi - step / 2) rows.push(r);
    }
    clippedOutputs = rows.length;
    if (rows.length > 0) {
      warnings.push(
        `${rows.length} of ${n} test rows came out at the edge of the int8 output range [${show(lo)}, ${show(hi)}], so their values are clipped (first: test row ${rows[0]! + 1}, float ${show(float.predicted[rows[0]!]!)}, int8 ${show(quantized.predicted[rows[0]!]!)}); ship the float model or calibrate on data that covers such rows`,
      );
    }
  }

  return {
    calibration: { rows: o.calibration.n, sample: o.sample, rangeRule: o.rangeRule },
    test: {
      rows: n,
      figure: spec.task === 'classification' ? 'accuracy' : 'r2',
      float: headline(float),
      quantized: headline(quantized),
      disagreement: disagreement(spec, float, quantized),
      disagreementRule: disagreementRule(spec),
      maxDifference,
      maxDifferenceRow: maxDifferenceRow + 1,
      outsideCalibration: n ? outside.rows / n : 0,
      ...(clipped ? { clippedInputs: n ? clipped.rows / n : 0 } : {}),
      ...(clippedOutputs !== undefined ? { clippedOutputs } : {}),
    },
    warnings,
  };
}

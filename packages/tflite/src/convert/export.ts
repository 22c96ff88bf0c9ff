/**
 * tfjs LayersModel -> .tflite bytes, float32 or full-integer int8 (post-training, calibrated
 * on representative rows of the training split).
 */
import type { LayersModel } from '@tensorflow/tfjs';
import { userError } from '@edgeml/core';
import { writeTflite } from '../format/write.js';
import { calibrationRanges, type Range, type Tfjs } from './evaluate.js';
import { graphFromLayersModel } from './from-tfjs.js';
import type { IrGraph } from './ir.js';
import { size } from './ir.js';
import { lowerFloat, lowerInt8 } from './lower.js';
import { optimize } from './passes.js';

export type TfliteQuantization = 'float32' | 'int8';

export interface ExportTfliteOptions {
  quantization: TfliteQuantization;
  /**
   * Representative rows, already preprocessed, row-major (n x prod(input shape)). Required
   * for int8: every activation's range comes from running these through the float graph.
   */
  calibration?: Float32Array;
  /** Written into Model.description. */
  description?: string;
  /**
   * Each calibrated range is widened by this share of its span at both ends (default
   * DEFAULT_RANGE_MARGIN), so rows a little beyond the calibration rows are not clipped.
   */
  rangeMargin?: number;
  /** Values the output must represent whatever the calibration rows gave (a regression's training targets). */
  outputRange?: Range;
}

/** 10% each side costs int8 a tenth of its resolution and keeps near-range rows unclipped. */
export const DEFAULT_RANGE_MARGIN = 0.1;

/** The range rule in words, for quantization reports. */
export function rangeRuleText(rows: number, margin = DEFAULT_RANGE_MARGIN, outputCovers?: string): string {
  return `min-max of every tensor over ${rows} calibration rows, widened by ${Math.round(margin * 100)}% of the span at each end${outputCovers ? `; the output also covers ${outputCovers}` : ''}`;
}

/** Convert a trained tfjs model to a .tflite flatbuffer. */
export async function exportTflite(model: LayersModel, options: ExportTfliteOptions): Promise<Uint8Array> {
  const graph = tfliteGraph(model);
  const description = options.description ?? `edgeml ${options.quantization}`;
  if (options.quantization === 'float32') return writeTflite(lowerFloat(graph, description));
  if (options.quantization !== 'int8') {
    throw userError('tflite-bad-option', `unknown TFLite quantization "${String(options.quantization)}" (use float32 or int8)`);
  }
  const rows = options.calibration;
  const rowSize = size(graph.tensors[graph.input]!.shape);
  if (!rows || rows.length === 0) {
    throw userError('tflite-calibration-required', 'int8 export needs calibration rows (a sample of the preprocessed training split)');
  }
  if (rows.length % rowSize !== 0) {
    throw userError('tflite-bad-calibration', `calibration holds ${rows.length} values, not a whole number of rows of ${rowSize}`);
  }
  for (let i = 0; i < rows.length; i++) {
    if (!Number.isFinite(rows[i])) throw userError('tflite-bad-calibration', `calibration value ${i} is not a finite number`);
  }
  // Loaded here, not at the top: the device runtime imports this package without tfjs.
  const tf: Tfjs = await import('@tensorflow/tfjs');
  const ranges = calibrationRanges(tf, graph, rows, rows.length / rowSize);
  const margin = options.rangeMargin ?? DEFAULT_RANGE_MARGIN;
  if (!(margin >= 0 && margin <= 1)) throw userError('tflite-bad-option', `rangeMargin ${margin} is not between 0 and 1`);
  for (const r of ranges.values()) {
    const pad = (r.max - r.min) * margin;
    r.min -= pad;
    r.max += pad;
  }
  const out = ranges.get(graph.output);
  if (out && options.outputRange) {
    out.min = Math.min(out.min, options.outputRange.min);
    out.max = Math.max(out.max, options.outputRange.max);
  }
  return writeTflite(lowerInt8(graph, ranges, description));
}

/** The optimised float graph exportTflite lowers (exposed for tests and reports). */
export function tfliteGraph(model: LayersModel): IrGraph {
  return optimize(graphFromLayersModel(model));
}

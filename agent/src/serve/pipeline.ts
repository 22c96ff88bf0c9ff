/**
 * The predict path of one model, prepared once when the model is loaded: input checks against
 * the spec, standardisation with precomputed reciprocals, the runtime call, decoding. The HTTP
 * API, `edgeml predict` and the batch runner all go through it, so a row gets the same answer
 * whichever way it arrives.
 */
import type { ModelSpec } from '@edgeml/core';
import { decodeOutputs, encodeRow, InputError, type ModelRuntime, type Prediction } from '@edgeml/ml';

export interface ModelPipeline {
  readonly spec: ModelSpec;
  readonly runtime: ModelRuntime;
  /** Values per row. */
  readonly width: number;
  /**
   * Check and encode `rows` into `x` starting at row `at`; throws InputError naming the row
   * (counted from 0 within `rows`) and the feature.
   */
  encode(rows: readonly unknown[], x: Float32Array, at: number): void;
  /** Standardise `n` raw rows of `x` in place, run the model and decode its outputs. */
  run(x: Float32Array, n: number): Prediction[];
}

export function createPipeline(spec: ModelSpec, runtime: ModelRuntime): ModelPipeline {
  const width = spec.features.length;
  const mean = Float32Array.from(spec.preprocessing.mean);
  const inv = Float32Array.from(spec.preprocessing.std, (s) => 1 / s);
  const nested = spec.inputShape.length > 1;
  return {
    spec,
    runtime,
    width,
    encode(rows, x, at) {
      for (let r = 0; r < rows.length; r++) {
        const row = rows[r];
        // An image row may come as nested arrays in the model's shape (e.g. 8x8x1).
        const flat = Array.isArray(row) && row.length !== width && Array.isArray(row[0]) ? flatten(spec, row, r, nested) : row;
        encodeRow(spec, flat, r, x, (at + r) * width);
      }
    },
    run(x, n) {
      const len = n * width;
      for (let i = 0; i < len; i += width) {
        for (let j = 0; j < width; j++) x[i + j] = (x[i + j]! - mean[j]!) * inv[j]!;
      }
      // Runtimes take exactly n rows; a copy is safer than trusting every one with a view.
      const outputs = runtime.predict(x.length === len ? x : x.slice(0, len), n);
      return decodeOutputs(spec, outputs, n);
    },
  };
}

/** Nested arrays must have exactly the model's input shape; anything else is named as it is. */
function flatten(spec: ModelSpec, row: unknown[], r: number, nested: boolean): unknown[] {
  const shape = spec.inputShape;
  const want = `the model takes ${spec.features.length} numbers${nested ? ` or nested arrays of shape [${shape.join(', ')}]` : ''}`;
  const got = shapeOf(row);
  if (!nested || got.length !== shape.length || got.some((d, i) => d !== shape[i])) {
    const hint = !nested && got.length === 2 ? '; send several rows as {"rows": [...]}' : '';
    throw new InputError(`row ${r}: nested arrays of shape [${got.join(', ')}]; ${want}${hint}`);
  }
  const out: unknown[] = [];
  const walk = (v: unknown, depth: number): void => {
    if (depth === shape.length) {
      out.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[depth]) {
      throw new InputError(`row ${r}: ragged nested arrays; every level must match the model's input shape [${shape.join(', ')}]`);
    }
    for (const item of v) walk(item, depth + 1);
  };
  walk(row, 0);
  return out;
}

/** The shape along the first element of each level. */
function shapeOf(v: unknown): number[] {
  const shape: number[] = [];
  while (Array.isArray(v)) {
    shape.push(v.length);
    v = v[0];
  }
  return shape;
}

/** A batch of raw predictions with no ids: what batch inference and `edgeml predict` print. */
export function predictRows(p: ModelPipeline, rows: readonly unknown[]): Prediction[] {
  const x = new Float32Array(rows.length * p.width);
  p.encode(rows, x, 0);
  return p.run(x, rows.length);
}

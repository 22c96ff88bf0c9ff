/**
 * The predict path of one model, prepared once when the model is loaded: input checks against
 * the spec fused with standardisation (precomputed reciprocals, one pass over the values), the
 * runtime call, decoding. The HTTP API, `edgeml predict` and the batch runner all go through
 * the same arithmetic, so a row gets the same answer whichever way it arrives.
 *
 * This runs on every request: the common row (an array of finite numbers in feature order) takes
 * a loop with no allocation and no closures; anything else takes the general path, which names
 * the row and the feature that is wrong.
 */
import { randomUUID } from 'node:crypto';
import { FLOAT32_MAX, type ModelSpec } from '@edgeml/core';
import { encodeInputRow, InputError, type ModelRuntime, type Prediction } from '@edgeml/runtime';

export type IdentifiedPrediction = Prediction & { id: string };

export interface ModelPipeline {
  readonly spec: ModelSpec;
  readonly runtime: ModelRuntime;
  /** Values per row. */
  readonly width: number;
  /**
   * A buffer for `n` rows' inputs. Up to SCRATCH_ROWS rows it is the same memory every call
   * (valid until the next call): a request does not allocate its input matrix.
   */
  input(n: number): Float32Array;
  /**
   * Check `rows` and write them, standardised, into `x` from row `at` on; throws InputError
   * naming the row (counted from 0 within `rows`) and the feature.
   */
  encode(rows: readonly unknown[], x: Float32Array, at: number): void;
  /**
   * Standardise the first `n` rows of raw float32 values in `x`, in place, checking each value
   * finite in the same pass. Returns -1, or the index of the first value that is NaN or infinite
   * (left as it was; the values before it are already standardised).
   */
  standardise(x: Float32Array, n: number): number;
  /** Run the first `n` standardised rows of `x` and decode the model's outputs. */
  run(x: Float32Array, n: number): Prediction[];
  /** `run`, with a fresh prediction id on each prediction. */
  runWithIds(x: Float32Array, n: number): IdentifiedPrediction[];
}

export function createPipeline(spec: ModelSpec, runtime: ModelRuntime): ModelPipeline {
  const width = spec.features.length;
  // Float32, as the hub's applyPreprocessing holds them: the device computes what the hub tested.
  const mean = Float32Array.from(spec.preprocessing.mean);
  const inv = Float32Array.from(spec.preprocessing.std, (s) => 1 / s);
  const scratch = new Float32Array(SCRATCH_ROWS * width);
  const labels = spec.labels ?? [];
  const target = spec.preprocessing.target;
  const classify = spec.task === 'classification';
  // Numbers in feature order may skip the column rules only when every column is a number.
  const numbersOnly = !spec.preprocessing.columns?.some((c) => c.kind !== 'numeric');

  /** The general path: any row shape, exact error messages; standardises what it wrote. */
  const encodeSlow = (row: unknown, r: number, x: Float32Array, o: number) => {
    encodeRaw(spec, row, r, x, o);
    for (let j = 0; j < width; j++) x[o + j] = (x[o + j]! - mean[j]!) * inv[j]!;
  };

  // Outputs are decoded into plain arrays at once, so one buffer serves every call (see
  // ModelRuntime.predict's `out`).
  const outScratch = new Float32Array(SCRATCH_ROWS * runtime.info.outputSize);
  // Runtimes take exactly n rows; a copy is safer than trusting every one with a view.
  const runtimeOutputs = (x: Float32Array, n: number) =>
    runtime.predict(x.length === n * width ? x : x.slice(0, n * width), n, n > 1 && n <= SCRATCH_ROWS ? outScratch.subarray(0, n * runtime.info.outputSize) : undefined);

  function decode<T extends Prediction>(outputs: Float32Array, n: number, id: ((r: number) => string) | undefined): T[] {
    const k = outputs.length / n;
    const out = new Array<T>(n);
    for (let r = 0; r < n; r++) {
      const o = r * k;
      let p: Prediction;
      if (!classify) {
        const v = outputs[o]!;
        p = id ? { value: target ? v * target.std + target.mean : v, id: id(r) } as IdentifiedPrediction : { value: target ? v * target.std + target.mean : v };
      } else {
        let best = 0;
        const probabilities = new Array<number>(k);
        for (let c = 0; c < k; c++) {
          const v = outputs[o + c]!;
          probabilities[c] = v;
          if (v > probabilities[best]!) best = c;
        }
        // Built whole, in the order the API has always written its fields.
        p = id ? ({ label: labels[best]!, index: best, probabilities, id: id(r) } as IdentifiedPrediction) : { label: labels[best]!, index: best, probabilities };
      }
      out[r] = p as T;
    }
    return out;
  }


  return {
    spec,
    runtime,
    width,
    input: (n) => (n <= SCRATCH_ROWS ? scratch.subarray(0, n * width) : new Float32Array(n * width)),
    encode(rows, x, at) {
      const m = mean;
      const s = inv;
      const w = width;
      for (let r = 0; r < rows.length; r++) {
        const row = rows[r];
        const o = (at + r) * w;
        if (numbersOnly && Array.isArray(row) && row.length === w) {
          let j = 0;
          for (; j < w; j++) {
            const v: unknown = row[j];
            // Within float32's range (which also rules out NaN and the infinities); anything else
            // takes the general path, which names the row and feature.
            if (typeof v !== 'number' || !(v >= -FLOAT32_MAX && v <= FLOAT32_MAX)) break;
            // Rounded to float32 first, as the hub's data was: the device computes what it tested.
            x[o + j] = (Math.fround(v) - m[j]!) * s[j]!;
          }
          if (j === w) continue;
        }
        encodeSlow(row, r, x, o);
      }
    },
    standardise(x, n) {
      for (let o = 0; o < n * width; o += width) {
        for (let j = 0; j < width; j++) {
          const v = x[o + j]!;
          // v - v is NaN for NaN and the infinities, 0 for every finite value.
          if (v - v !== 0) return o + j;
          x[o + j] = (v - mean[j]!) * inv[j]!;
        }
      }
      return -1;
    },
    run: (x, n) => decode<Prediction>(runtimeOutputs(x, n), n, undefined),
    runWithIds: (x, n) => decode<IdentifiedPrediction>(runtimeOutputs(x, n), n, predictionIds(n)),
  };
}

/** Rows a pipeline keeps an input buffer for (the adaptive batcher merges up to 256). */
const SCRATCH_ROWS = 256;

const HEX3 = Array.from({ length: 4096 }, (_, i) => i.toString(16).padStart(3, '0'));

/**
 * Ids for the `n` predictions of one call: random version-4 UUIDs. A call of many rows draws
 * one UUID per 4,096 rows and counts its rows up in the last three hex digits: ids stay unique
 * and unguessable from outside the call, at a few nanoseconds a row instead of ~90 ns each.
 */
function predictionIds(n: number): (r: number) => string {
  if (n === 1) return () => randomUUID();
  let block = -1;
  let stem = '';
  let low = 0;
  return (r) => {
    if (r >> 12 !== block) {
      block = r >> 12;
      const u = randomUUID();
      stem = u.slice(0, 33);
      low = parseInt(u.slice(33), 16);
    }
    return stem + HEX3[(low + r) & 0xfff]!;
  };
}

/**
 * One row, checked, into `x` at offset `o` as raw (unstandardised) float32 values: an array in
 * feature order, nested arrays in the model's input shape, or an object of named features; for
 * a spec with column rules, the original values (text, gaps) by column. Throws InputError
 * naming row `r` and the feature or column. `extraKeys`: what to do with keys that name nothing.
 */
export function encodeRaw(spec: ModelSpec, row: unknown, r: number, x: Float32Array, o: number, extraKeys: 'ignore' | 'refuse' = 'refuse'): void {
  if (spec.preprocessing.columns) {
    encodeInputRow(spec, row, r, x, o, extraKeys);
    return;
  }
  // An image row may come as nested arrays in the model's shape (e.g. 8x8x1).
  const flat = Array.isArray(row) && row.length !== spec.features.length && Array.isArray(row[0]) ? flatten(spec, row, r, spec.inputShape.length > 1) : row;
  encodeInputRow(spec, flat, r, x, o);
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
  const x = p.input(rows.length);
  p.encode(rows, x, 0);
  return p.run(x, rows.length);
}

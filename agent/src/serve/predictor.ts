/**
 * The in-process predict path: input checks, preprocessing, runtime, postprocessing. Holds the
 * active model; a new one is swapped in only once it is loaded and tested, so requests never
 * see a half-installed model.
 */
import { randomUUID } from 'node:crypto';
import type { Release } from '@edgeml/core';
import { applyPreprocessing, decodeOutputs, encodeRows, InputError, type ModelRuntime, type Prediction } from '@edgeml/ml';

export interface LoadedModel {
  release: Release;
  runtime: ModelRuntime;
}

export interface PredictResult {
  model: string;
  version: number;
  predictions: (Prediction & { id: string })[];
}

/** One served request, as probation and metrics see it. */
export interface Served {
  version: number;
  rows: number;
  latencyMs: number;
  /** False when the model itself failed; bad input is the caller's error and not counted. */
  ok: boolean;
}

export class Predictor {
  private current: LoadedModel | null = null;
  private readonly observers = new Set<(s: Served) => void>();

  /** Watch every request the model serves; returns the function that stops watching. */
  observe(fn: (s: Served) => void): () => void {
    this.observers.add(fn);
    return () => this.observers.delete(fn);
  }

  get active(): LoadedModel | null {
    return this.current;
  }

  /** Make `next` the serving model; returns the one it replaces (still loaded). */
  swap(next: LoadedModel | null): LoadedModel | null {
    const prev = this.current;
    this.current = next;
    return prev;
  }

  predict(rows: readonly unknown[]): PredictResult {
    const m = this.current;
    if (!m) throw new NoModelError();
    if (this.observers.size === 0) return runModel(m, rows);
    const t0 = performance.now();
    let ok = false;
    try {
      const result = runModel(m, rows);
      ok = true;
      return result;
    } catch (e) {
      if (e instanceof InputError) ok = true;
      throw e;
    } finally {
      const served: Served = { version: m.release.version, rows: rows.length, latencyMs: performance.now() - t0, ok };
      for (const fn of this.observers) fn(served);
    }
  }
}

export class NoModelError extends Error {
  readonly code = 'no-model';
  constructor() {
    super('no model is installed yet');
  }
}

export function runModel(m: LoadedModel, rows: readonly unknown[]): PredictResult {
  const { spec } = m.release;
  const raw = encodeRows(spec, rows);
  const outputs = m.runtime.predict(applyPreprocessing(spec.preprocessing, raw, raw), rows.length);
  const predictions = decodeOutputs(spec, outputs, rows.length).map((p) => ({ ...p, id: randomUUID() }));
  return { model: m.release.model, version: m.release.version, predictions };
}

/** Run the signed self-test rows and compare with the outputs the hub recorded. */
export function selfTest(m: LoadedModel): { ok: true } | { ok: false; reason: string } {
  const { rows, expected, tolerance } = m.release.selfTest;
  if (rows.length === 0) return { ok: true };
  const spec = m.release.spec;
  let outputs: Float32Array;
  try {
    outputs = m.runtime.predict(applyPreprocessing(spec.preprocessing, encodeRows(spec, rows)), rows.length);
  } catch (e) {
    return { ok: false, reason: `self-test: the model failed to run: ${(e as Error).message}` };
  }
  const k = outputs.length / rows.length;
  for (let r = 0; r < rows.length; r++) {
    for (let c = 0; c < k; c++) {
      const got = outputs[r * k + c]!;
      const want = expected[r]?.[c];
      if (want === undefined || !(Math.abs(got - want) <= tolerance)) {
        return { ok: false, reason: `self-test: row ${r} output ${c} is ${got}, the release expects ${want} (tolerance ${tolerance})` };
      }
    }
  }
  return { ok: true };
}

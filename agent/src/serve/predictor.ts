/**
 * The in-process predict path: input checks, preprocessing, runtime, postprocessing. Holds the
 * active model; a new one is swapped in only once it is loaded and tested, so requests never
 * see a half-installed model.
 */
import type { Release } from '@edgeml/core';
import { applyPreprocessing, encodeRows, InputError, type ModelRuntime, type Prediction } from '@edgeml/runtime';
import { createPipeline, type IdentifiedPrediction, type ModelPipeline } from './pipeline.js';

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
  /**
   * Time the model path took for this request. A request merged with others into one runtime
   * call is charged its share of that call (by rows), so latency per row stays the model's.
   */
  latencyMs: number;
  /** False when the model itself failed; bad input is the caller's error and not counted. */
  ok: boolean;
  /** True when the input was refused before it reached the model (then `ok` is true). */
  rejected?: boolean;
  /**
   * The standardised inputs of the rows served (a view, valid only during the callback) and
   * their predictions: telemetry's input statistics and feedback's memory come from here.
   */
  inputs?: Float32Array;
  predictions?: readonly (Prediction & { id: string })[];
}

/** What predictValues made of float32 rows: the model's outputs, or where a value was not finite. */
export type ValuesOutcome = { ok: true; model: LoadedModel; outputs: Float32Array } | { ok: false; notFinite: number };

/** What one request of a merged call got: its result, or the error that is its alone. */
export type Outcome = { ok: true; result: PredictResult } | { ok: false; error: Error };

interface Active {
  model: LoadedModel;
  pipe: ModelPipeline;
}

export class Predictor {
  private current: Active | null = null;
  private readonly observers = new Set<(s: Served) => void>();

  /** Watch every request the model serves; returns the function that stops watching. */
  observe(fn: (s: Served) => void): () => void {
    this.observers.add(fn);
    return () => this.observers.delete(fn);
  }

  get active(): LoadedModel | null {
    return this.current?.model ?? null;
  }

  /** Make `next` the serving model; returns the one it replaces (still loaded). */
  swap(next: LoadedModel | null): LoadedModel | null {
    const prev = this.current?.model ?? null;
    this.current = next ? { model: next, pipe: createPipeline(next.release.spec, next.runtime) } : null;
    return prev;
  }

  predict(rows: readonly unknown[]): PredictResult {
    const a = this.current;
    if (!a) throw new NoModelError();
    if (this.observers.size === 0) return runActive(a, rows).result;
    const t0 = performance.now();
    let ok = false;
    let rejected = false;
    let served: { result: PredictResult; x: Float32Array } | undefined;
    try {
      served = runActive(a, rows);
      ok = true;
      return served.result;
    } catch (e) {
      if (e instanceof InputError) ok = rejected = true;
      throw e;
    } finally {
      this.notify({
        version: a.model.release.version,
        rows: rows.length,
        latencyMs: performance.now() - t0,
        ok,
        rejected,
        ...(served ? { inputs: served.x, predictions: served.result.predictions } : {}),
      });
    }
  }

  /**
   * Several requests in one runtime call. Each request is checked on its own: a bad row fails
   * only the request that sent it. Throws (for every request) only when there is no model or
   * the model itself fails. Observers see one `Served` per request.
   */
  predictMany(requests: readonly (readonly unknown[])[]): Outcome[] {
    const a = this.current;
    if (!a) throw new NoModelError();
    const t0 = performance.now();
    const { pipe, model } = a;
    const version = model.release.version;
    let total = 0;
    for (const rows of requests) total += rows.length;
    let x = pipe.input(total);
    const outcomes: (Outcome | undefined)[] = new Array(requests.length);
    const starts = new Array<number>(requests.length);
    let filled = 0;
    for (let i = 0; i < requests.length; i++) {
      const rows = requests[i]!;
      try {
        pipe.encode(rows, x, filled);
        starts[i] = filled;
        filled += rows.length;
      } catch (e) {
        if (!(e instanceof InputError)) throw e;
        outcomes[i] = { ok: false, error: e };
      }
    }
    if (filled < total) x = x.subarray(0, filled * pipe.width);
    let predictions: IdentifiedPrediction[] = [];
    let failure: Error | undefined;
    try {
      if (filled > 0) predictions = pipe.runWithIds(x, filled);
    } catch (e) {
      failure = e as Error;
    }
    const elapsed = performance.now() - t0;
    for (let i = 0; i < requests.length; i++) {
      const rows = requests[i]!;
      if (outcomes[i]) {
        this.notify({ version, rows: rows.length, latencyMs: 0, ok: true, rejected: true });
        continue;
      }
      if (failure) outcomes[i] = { ok: false, error: failure };
      else {
        const start = starts[i]!;
        const mine = predictions.slice(start, start + rows.length);
        outcomes[i] = { ok: true, result: { model: model.release.model, version, predictions: mine } };
      }
      const done = outcomes[i]!;
      this.notify({
        version,
        rows: rows.length,
        latencyMs: filled > 0 ? (elapsed * rows.length) / filled : elapsed,
        ok: !failure,
        ...(done.ok ? { inputs: x.subarray(starts[i]! * pipe.width, (starts[i]! + rows.length) * pipe.width), predictions: done.result.predictions } : {}),
      });
    }
    return outcomes as Outcome[];
  }

  /**
   * Rows that arrive as float32 already (the compact HTTP body): `x` holds n rows of raw feature
   * values and is checked finite and standardised in place, in one pass. Returns the model's raw
   * outputs, in `out` when the runtime takes it; or, for a value that is NaN or infinite, its
   * index (the rows never reach the model and observers hear nothing of them). Observers see the
   * rows served without predictions: no prediction ids are made, so feedback needs the JSON path.
   */
  predictValues(x: Float32Array, n: number, out?: Float32Array): ValuesOutcome {
    const a = this.current;
    if (!a) throw new NoModelError();
    const t0 = performance.now();
    const bad = a.pipe.standardise(x, n);
    if (bad >= 0) return { ok: false, notFinite: bad };
    let ok = false;
    try {
      const outputs = a.pipe.runtime.predict(x, n, out);
      ok = true;
      return { ok: true, model: a.model, outputs };
    } finally {
      if (this.observers.size > 0) this.notify({ version: a.model.release.version, rows: n, latencyMs: performance.now() - t0, ok, inputs: x });
    }
  }

  private notify(s: Served): void {
    for (const fn of this.observers) fn(s);
  }
}

export class NoModelError extends Error {
  readonly code = 'no-model';
  constructor() {
    super('no model is installed yet');
  }
}

function runActive(a: Active, rows: readonly unknown[]): { result: PredictResult; x: Float32Array } {
  const { pipe, model } = a;
  const x = pipe.input(rows.length);
  pipe.encode(rows, x, 0);
  const predictions = pipe.runWithIds(x, rows.length);
  return { result: { model: model.release.model, version: model.release.version, predictions }, x };
}

/** One call through a model's whole predict path, without a Predictor (benchmarks, tools). */
export function runModel(m: LoadedModel, rows: readonly unknown[]): PredictResult {
  return runActive({ model: m, pipe: createPipeline(m.release.spec, m.runtime) }, rows).result;
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

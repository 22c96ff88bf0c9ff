/**
 * Latency and throughput of a runtime, measured the way a device serves: single rows one at a
 * time, and full batches. Used by release gates, benchmarks and device-side benchmarks alike.
 */
import type { ModelRuntime } from '../runtime/types.js';

export interface LatencyFigures {
  /** Single-row latency percentiles in milliseconds. */
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  singleRuns: number;
  /** Rows per second at `batchSize`, the median of several rounds. */
  throughput: number;
  batchSize: number;
}

export interface MeasureOptions {
  /** Timed single-row runs (after warm-up). */
  runs?: number;
  warmup?: number;
  batchSize?: number;
  /** Rounds of batched runs; the median round is reported. */
  batchRounds?: number;
  /** Stop early once this much time is spent on single rows. */
  maxSingleMs?: number;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export const median = (values: number[]): number => percentile([...values].sort((a, b) => a - b), 50);

/**
 * `rows` holds preprocessed rows (n * rowSize); single-row runs cycle through them so the
 * model does not see one cached input.
 */
export function measureRuntime(runtime: ModelRuntime, rows: Float32Array, opts: MeasureOptions = {}): LatencyFigures {
  const rowSize = runtime.info.inputShape.reduce((a, b) => a * b, 1);
  const n = Math.floor(rows.length / rowSize);
  if (n === 0) throw new Error('measureRuntime needs at least one row');
  const runs = opts.runs ?? 1000;
  const warmup = opts.warmup ?? 200;
  const batchSize = opts.batchSize ?? 256;
  const maxSingleMs = opts.maxSingleMs ?? 10_000;
  const row = (i: number) => rows.subarray((i % n) * rowSize, ((i % n) + 1) * rowSize);

  for (let i = 0; i < warmup; i++) runtime.predict(row(i), 1);
  const times: number[] = [];
  const started = performance.now();
  for (let i = 0; i < runs && performance.now() - started < maxSingleMs; i++) {
    const t0 = performance.now();
    runtime.predict(row(i), 1);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);

  const batch = new Float32Array(batchSize * rowSize);
  for (let i = 0; i < batchSize; i++) batch.set(row(i), i * rowSize);
  runtime.predict(batch, batchSize);
  const rounds: number[] = [];
  for (let r = 0; r < (opts.batchRounds ?? 7); r++) {
    let done = 0;
    const t0 = performance.now();
    // Each round runs at least ~50 ms so timer resolution does not dominate.
    while (performance.now() - t0 < 50 || done === 0) {
      runtime.predict(batch, batchSize);
      done += batchSize;
    }
    rounds.push(done / ((performance.now() - t0) / 1000));
  }
  return { p50Ms: percentile(times, 50), p95Ms: percentile(times, 95), p99Ms: percentile(times, 99), singleRuns: times.length, throughput: median(rounds), batchSize };
}

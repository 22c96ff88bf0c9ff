/**
 * Timing and summary statistics for the benchmark. The machine is shared and noisy, so no
 * figure comes from one run: a function is timed over many iterations (a round), rounds are
 * repeated, and what we report is the median of the per-round figures with p25/p75 as spread.
 */

export interface Summary {
  median: number;
  p25: number;
  p75: number;
  min: number;
  max: number;
  /** Number of values (rounds) summarised. */
  n: number;
}

/** Linear-interpolated quantile of sorted values (the same definition as numpy's default). */
function quantileSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a + (b - a) * (pos - lo);
}

export function quantile(values: readonly number[], q: number): number {
  return quantileSorted([...values].sort((a, b) => a - b), q);
}

export function summarize(values: readonly number[]): Summary {
  const s = [...values].sort((a, b) => a - b);
  return {
    median: quantileSorted(s, 0.5),
    p25: quantileSorted(s, 0.25),
    p75: quantileSorted(s, 0.75),
    min: s[0] ?? Number.NaN,
    max: s[s.length - 1] ?? Number.NaN,
    n: s.length,
  };
}

export interface TimeOptions {
  /** Untimed calls first, so JIT compilation and allocator growth are not measured. */
  warmup?: number;
  /** Keep calling until at least this long has passed... */
  minTimeMs?: number;
  /** ...and at least this many calls were made. */
  minIterations?: number;
  /** Hard cap on calls, so a very fast function does not spin for the whole budget. */
  maxIterations?: number;
  /**
   * Time each call on its own as well, for within-round percentiles (tail latency). Costs one
   * hrtime read per call (~50 ns): fine for calls of microseconds and up.
   */
  perCall?: boolean;
}

/** One round of timing. */
export interface Round {
  iterations: number;
  totalMs: number;
  /** Mean wall time per call: total / iterations. */
  msPerCall: number;
  /** Within-round per-call percentiles, when `perCall` was asked for. */
  callP50Ms?: number;
  callP99Ms?: number;
}

const nsToMs = (ns: bigint): number => Number(ns) / 1e6;

/**
 * Time `fn` for one round. The iteration count adapts to the function's speed (time budget, not
 * a fixed count), so a slow runtime and a fast one are each timed long enough to be stable.
 */
export function timeRound(fn: (i: number) => void, opts: TimeOptions = {}): Round {
  const warmup = opts.warmup ?? 20;
  const minNs = BigInt(Math.round((opts.minTimeMs ?? 200) * 1e6));
  const minIterations = opts.minIterations ?? 10;
  const maxIterations = opts.maxIterations ?? 1_000_000;
  for (let i = 0; i < warmup; i++) fn(i);
  const calls: number[] = [];
  const start = process.hrtime.bigint();
  let now = start;
  let i = 0;
  while (i < maxIterations && (i < minIterations || now - start < minNs)) {
    if (opts.perCall) {
      const t0 = process.hrtime.bigint();
      fn(warmup + i);
      now = process.hrtime.bigint();
      calls.push(nsToMs(now - t0));
    } else {
      fn(warmup + i);
      // Reading the clock every call would add its cost to sub-microsecond functions; every
      // 16th call is enough to stop within a few calls of the budget.
      if ((i & 15) === 15) now = process.hrtime.bigint();
    }
    i++;
  }
  const totalMs = nsToMs(process.hrtime.bigint() - start);
  const round: Round = { iterations: i, totalMs, msPerCall: totalMs / i };
  if (opts.perCall) {
    calls.sort((a, b) => a - b);
    round.callP50Ms = quantileSorted(calls, 0.5);
    round.callP99Ms = quantileSorted(calls, 0.99);
  }
  return round;
}

/**
 * `timeRound` for functions that return a promise (onnxruntime-node's `session.run`): each call
 * is awaited before the next, so the figure is latency as a caller sees it, promise hops
 * included. Same budget and warm-up rules as `timeRound`.
 */
export async function timeRoundAsync(fn: (i: number) => Promise<unknown>, opts: TimeOptions = {}): Promise<Round> {
  const warmup = opts.warmup ?? 20;
  const minNs = BigInt(Math.round((opts.minTimeMs ?? 200) * 1e6));
  const minIterations = opts.minIterations ?? 10;
  const maxIterations = opts.maxIterations ?? 1_000_000;
  for (let i = 0; i < warmup; i++) await fn(i);
  const calls: number[] = [];
  const start = process.hrtime.bigint();
  let now = start;
  let i = 0;
  while (i < maxIterations && (i < minIterations || now - start < minNs)) {
    const t0 = process.hrtime.bigint();
    await fn(warmup + i);
    now = process.hrtime.bigint();
    // A clock read costs nothing next to a promise round trip, so every call is timed.
    if (opts.perCall) calls.push(nsToMs(now - t0));
    i++;
  }
  const totalMs = nsToMs(process.hrtime.bigint() - start);
  const round: Round = { iterations: i, totalMs, msPerCall: totalMs / i };
  if (opts.perCall) {
    calls.sort((a, b) => a - b);
    round.callP50Ms = quantileSorted(calls, 0.5);
    round.callP99Ms = quantileSorted(calls, 0.99);
  }
  return round;
}

/** A bound an issue sets on a figure, e.g. `{ op: '<=', value: 0.1 }` (in the figure's unit). */
export interface Target {
  op: '<=' | '>=';
  value: number;
  /** Where the target comes from, e.g. "issue 4". */
  source?: string;
}

export function meetsTarget(value: number, target: Target): boolean {
  return target.op === '<=' ? value <= target.value : value >= target.value;
}

/**
 * A ratio between two figures measured side by side in the same run. `value` is the ratio of
 * the medians (the headline); `rounds` summarises the per-round ratios of paired rounds, whose
 * spread says how much the headline can be trusted on this machine.
 */
export interface Ratio {
  name: string;
  value: number;
  rounds: Summary;
  numerator: string;
  denominator: string;
  /** The bound the headline is held to, when an issue names one. */
  target?: Target;
  /**
   * What the figure is: a ratio (the default, unit "x"), a difference numerator - denominator,
   * or a plain value (no denominator); the latter two carry their unit (ms, MB, s).
   */
  kind?: 'ratio' | 'difference' | 'value';
  unit?: string;
}

export function pairedRatio(
  name: string,
  numerator: { label: string; values: readonly number[] },
  denominator: { label: string; values: readonly number[] },
  target?: Target,
): Ratio {
  if (numerator.values.length !== denominator.values.length) {
    throw new Error(`ratio ${name}: ${numerator.values.length} rounds against ${denominator.values.length}; a ratio needs paired rounds`);
  }
  const perRound = numerator.values.map((v, i) => v / denominator.values[i]!);
  return {
    name,
    value: summarize(numerator.values).median / summarize(denominator.values).median,
    rounds: summarize(perRound),
    numerator: numerator.label,
    denominator: denominator.label,
    ...(target ? { target } : {}),
  };
}

/**
 * A difference between two figures measured side by side, numerator - denominator (e.g. HTTP
 * p50 - runtime p50): the headline is the difference of the medians, the spread that of the
 * per-round differences.
 */
export function pairedDifference(
  name: string,
  numerator: { label: string; values: readonly number[] },
  denominator: { label: string; values: readonly number[] },
  unit: string,
  target?: Target,
): Ratio {
  if (numerator.values.length !== denominator.values.length) {
    throw new Error(`difference ${name}: ${numerator.values.length} rounds against ${denominator.values.length}; a difference needs paired rounds`);
  }
  const perRound = numerator.values.map((v, i) => v - denominator.values[i]!);
  return {
    name,
    value: summarize(numerator.values).median - summarize(denominator.values).median,
    rounds: summarize(perRound),
    numerator: numerator.label,
    denominator: denominator.label,
    kind: 'difference',
    unit,
    ...(target ? { target } : {}),
  };
}

/** A figure held to an absolute bound (idle RSS, cold start): the median of its rounds. */
export function measuredValue(name: string, figure: { label: string; values: readonly number[] }, unit: string, target?: Target): Ratio {
  const rounds = summarize(figure.values);
  return { name, value: rounds.median, rounds, numerator: figure.label, denominator: '', kind: 'value', unit, ...(target ? { target } : {}) };
}

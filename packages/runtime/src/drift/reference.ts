/**
 * Drift: how far the inputs a device sees have moved from the training data. The release
 * carries, per feature, bin edges at the training split's quantiles (in standardised units) and
 * the share of training rows per bin; devices count their inputs into the same bins and the hub
 * compares the two with the population stability index.
 */
import type { DriftReference } from '@edgeml/core';

/** Fit the reference on standardised training rows (n * f values). */
export function fitDriftReference(x: Float32Array, f: number, bins = 10): DriftReference {
  const n = x.length / f;
  const edges: number[][] = [];
  const expected: number[][] = [];
  const column = new Float32Array(n);
  for (let j = 0; j < f; j++) {
    for (let r = 0; r < n; r++) column[r] = x[r * f + j]!;
    column.sort();
    // Interior edges at quantiles; repeated values (e.g. a pixel that is mostly 0) merge bins.
    const e: number[] = [];
    for (let b = 1; b < bins; b++) {
      const q = column[Math.min(n - 1, Math.floor((b * n) / bins))]!;
      if (e.length === 0 || q > e[e.length - 1]!) e.push(Number(q.toFixed(6)));
    }
    const counts = new Array<number>(e.length + 1).fill(0);
    for (let r = 0; r < n; r++) counts[binOf(e, column[r]!)]!++;
    edges.push(e);
    expected.push(counts.map((c) => c / n));
  }
  return { edges, expected };
}

/** Index of the bin `v` falls in: bin i holds values in (edges[i-1], edges[i]]. */
export function binOf(edges: readonly number[], v: number): number {
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (v <= edges[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * Population stability index between expected shares and observed counts. Empty bins get a
 * small floor so one unseen bin does not make the index infinite. Rule of thumb: < 0.1 stable,
 * 0.1-0.25 moderate shift, > 0.25 significant drift.
 */
export function psi(expected: readonly number[], observed: readonly number[]): number {
  const total = observed.reduce((a, b) => a + b, 0);
  if (total === 0) return 0;
  const floor = 1e-4;
  let sum = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.max(expected[i]!, floor);
    const o = Math.max((observed[i] ?? 0) / total, floor);
    sum += (o - e) * Math.log(o / e);
  }
  return sum;
}

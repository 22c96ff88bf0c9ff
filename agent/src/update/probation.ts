/**
 * Probation on real traffic: after the self-test, the new version serves while the agent
 * watches its latency and failures. Only requests the model served count: input refused at the
 * door says nothing about the model. Latencies go into fixed log-spaced buckets (constant memory
 * and constant cost per request) and the verdict is judged on a timer, not on every request.
 * A breach ends probation at the next check; otherwise the window runs out and the version is
 * committed.
 */
import type { Predictor } from '../serve/predictor.js';

export interface ProbationPolicy {
  windowMs: number;
  minRequests: number;
  maxErrorRate: number;
  p95Ms?: number;
}

export type ProbationVerdict = { ok: true; requests: number; p95Ms: number | null } | { ok: false; reason: string };

/** Buckets 5% apart from 1 µs up: a p95 read from them is at most 5% above the true one. */
const RATIO = 1.05;
const FLOOR_MS = 0.001;
const BUCKETS = 400;
const LOG_RATIO = Math.log(RATIO);

export class LatencyBuckets {
  private readonly counts = new Uint32Array(BUCKETS);
  count = 0;

  add(ms: number): void {
    const i = ms <= FLOOR_MS ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(ms / FLOOR_MS) / LOG_RATIO));
    this.counts[i]!++;
    this.count++;
  }

  /** The upper bound of the bucket holding the q-th percentile, or null with no samples. */
  percentile(q: number): number | null {
    if (this.count === 0) return null;
    const rank = Math.ceil((q / 100) * this.count);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return FLOOR_MS * RATIO ** i;
    }
    return FLOOR_MS * RATIO ** (BUCKETS - 1);
  }
}

export function judgeProbation(policy: ProbationPolicy, requests: number, errors: number, latencies: LatencyBuckets, final: boolean): ProbationVerdict | undefined {
  if (requests < policy.minRequests) return final ? { ok: true, requests, p95Ms: latencies.percentile(95) } : undefined;
  const rate = errors / requests;
  if (rate > policy.maxErrorRate) {
    return { ok: false, reason: `probation: ${errors} of ${requests} requests failed (${(rate * 100).toFixed(1)}%, budget ${(policy.maxErrorRate * 100).toFixed(1)}%)` };
  }
  const p95 = latencies.percentile(95);
  if (policy.p95Ms !== undefined && p95 !== null && p95 > policy.p95Ms) {
    return { ok: false, reason: `probation: p95 latency ${p95.toFixed(3)} ms over ${latencies.count} requests exceeds the budget of ${policy.p95Ms} ms` };
  }
  return final ? { ok: true, requests, p95Ms: p95 } : undefined;
}

export function watchProbation(predictor: Predictor, version: number, policy: ProbationPolicy, signal: AbortSignal, checkEveryMs = 250): Promise<ProbationVerdict> {
  if (policy.windowMs === 0) return Promise.resolve({ ok: true, requests: 0, p95Ms: null });
  return new Promise((resolve, reject) => {
    const latencies = new LatencyBuckets();
    let requests = 0;
    let errors = 0;
    const finish = (v: ProbationVerdict) => {
      clearTimeout(timer);
      clearInterval(check);
      stop();
      signal.removeEventListener('abort', onAbort);
      resolve(v);
    };
    const stop = predictor.observe((s) => {
      if (s.version !== version || s.rejected) return;
      requests++;
      if (!s.ok) errors++;
      // Batches are judged per row, so a large batch is not mistaken for a slow model.
      else latencies.add(s.latencyMs / Math.max(1, s.rows));
    });
    const check = setInterval(() => {
      const early = judgeProbation(policy, requests, errors, latencies, false);
      if (early) finish(early);
    }, Math.max(10, Math.min(checkEveryMs, policy.windowMs)));
    const timer = setTimeout(() => finish(judgeProbation(policy, requests, errors, latencies, true)!), policy.windowMs);
    const onAbort = () => {
      clearTimeout(timer);
      clearInterval(check);
      stop();
      reject(signal.reason ?? new Error('aborted'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

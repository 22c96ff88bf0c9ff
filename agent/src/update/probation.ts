/**
 * Probation on real traffic: after the self-test, the new version serves while the agent
 * watches its latency and failures. A breach ends probation at once; otherwise the window
 * runs out and the version is committed.
 */
import { percentile } from '@edgeml/ml';
import type { Predictor } from '../serve/predictor.js';

export interface ProbationPolicy {
  windowMs: number;
  minRequests: number;
  maxErrorRate: number;
  p95Ms?: number;
}

export type ProbationVerdict = { ok: true; requests: number; p95Ms: number | null } | { ok: false; reason: string };

export function watchProbation(predictor: Predictor, version: number, policy: ProbationPolicy, signal: AbortSignal): Promise<ProbationVerdict> {
  if (policy.windowMs === 0) return Promise.resolve({ ok: true, requests: 0, p95Ms: null });
  return new Promise((resolve, reject) => {
    const latencies: number[] = [];
    let requests = 0;
    let errors = 0;
    const judge = (final: boolean): ProbationVerdict | undefined => {
      if (requests < policy.minRequests) return final ? { ok: true, requests, p95Ms: null } : undefined;
      const rate = errors / requests;
      if (rate > policy.maxErrorRate) {
        return { ok: false, reason: `probation: ${errors} of ${requests} requests failed (${(rate * 100).toFixed(1)}%, budget ${(policy.maxErrorRate * 100).toFixed(1)}%)` };
      }
      const p95 = percentile([...latencies].sort((a, b) => a - b), 95);
      if (policy.p95Ms !== undefined && p95 > policy.p95Ms) {
        return { ok: false, reason: `probation: p95 latency ${p95.toFixed(3)} ms over ${latencies.length} requests exceeds the budget of ${policy.p95Ms} ms` };
      }
      return final ? { ok: true, requests, p95Ms: p95 } : undefined;
    };
    const finish = (v: ProbationVerdict) => {
      clearTimeout(timer);
      stop();
      signal.removeEventListener('abort', onAbort);
      resolve(v);
    };
    const stop = predictor.observe((s) => {
      if (s.version !== version) return;
      requests++;
      if (!s.ok) errors++;
      // Batches are judged per row, so a large batch is not mistaken for a slow model.
      else latencies.push(s.latencyMs / s.rows);
      const early = judge(false);
      if (early) finish(early);
    });
    const timer = setTimeout(() => finish(judge(true)!), policy.windowMs);
    const onAbort = () => {
      clearTimeout(timer);
      stop();
      reject(signal.reason ?? new Error('aborted'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

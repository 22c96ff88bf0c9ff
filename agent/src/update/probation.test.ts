import { describe, expect, it } from 'vitest';
import { trainIris } from '../serve/iris.fixture.js';
import { Predictor } from '../serve/predictor.js';
import { LatencyBuckets, judgeProbation, watchProbation } from './probation.js';

describe('probation', () => {
  it('reads a p95 within 5% above the true one from fixed buckets', () => {
    const b = new LatencyBuckets();
    for (let i = 1; i <= 1000; i++) b.add(i / 100);
    const p95 = b.percentile(95)!;
    expect(p95).toBeGreaterThanOrEqual(9.5);
    expect(p95).toBeLessThanOrEqual(9.5 * 1.05);
  });

  it('fails a slow model even when many refused bad-input requests come with it', () => {
    const b = new LatencyBuckets();
    for (let i = 0; i < 10; i++) b.add(50);
    // 200 refused requests are not counted at all: only the 10 served ones are judged.
    const v = judgeProbation({ windowMs: 1000, minRequests: 5, maxErrorRate: 0.05, p95Ms: 5 }, 10, 0, b, true);
    expect(v?.ok).toBe(false);
  });

  it('counts only requests the model served, on a real model', async () => {
    const iris = await trainIris();
    const p = new Predictor();
    p.swap(await iris.load(2));
    const ctl = new AbortController();
    // Any served request is above this budget; refused ones (latency 0) must not hide them.
    const verdict = watchProbation(p, 2, { windowMs: 500, minRequests: 5, maxErrorRate: 0.05, p95Ms: 1e-9 }, ctl.signal, 20);
    for (let i = 0; i < 200; i++) expect(() => p.predict([[1, 2]])).toThrow();
    for (let i = 0; i < 10; i++) p.predict([iris.rows[i]!]);
    const v = await verdict;
    expect(v.ok).toBe(false);
    expect(v.ok ? '' : v.reason).toContain('over 10 requests');
    p.swap(null)?.runtime.dispose();
  }, 60_000);
});

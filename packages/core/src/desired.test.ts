import { describe, expect, it } from 'vitest';
import { LATENCY_BUCKETS_MS, convergence, p95FromBuckets } from './index.js';

const buckets = (counts: Record<number, number>) => Array.from({ length: LATENCY_BUCKETS_MS.length + 1 }, (_, i) => counts[i] ?? 0);

describe('p95 from latency buckets', () => {
  it('interpolates within the bucket instead of reporting its upper edge', () => {
    // 100 rows between 1 and 2.5 ms (bucket 7): the 95th is 95% of the way through it.
    const p95 = p95FromBuckets(buckets({ 7: 100 }))!;
    expect(p95).toBeCloseTo(1 + 0.95 * 1.5, 9);
    expect(p95).toBeLessThan(2.5);
  });

  it('passes a 2 ms limit when most rows take just over 1 ms', () => {
    // 90 rows under 1 ms, 10 rows between 1 and 2.5 ms: p95 is half-way through that bucket.
    expect(p95FromBuckets(buckets({ 6: 90, 7: 10 }))).toBeCloseTo(1.75, 9);
  });

  it('skips empty buckets and reports the open last bucket by its lower edge', () => {
    expect(p95FromBuckets(buckets({ [LATENCY_BUCKETS_MS.length]: 5 }))).toBe(1000);
    expect(p95FromBuckets(buckets({ 0: 100 }))).toBeCloseTo(0.0095, 9);
    expect(p95FromBuckets(buckets({}))).toBeNull();
  });
});

describe('convergence', () => {
  it('is converged on the desired version with no update under way', () => {
    expect(convergence({ version: 1, state: 'active', failedVersion: null }, 1)).toBe('converged');
    expect(convergence({ version: 1, state: 'rolled-back', failedVersion: 2 }, 1)).toBe('converged');
    expect(convergence({ version: 1, state: 'offline', failedVersion: null }, 1)).toBe('converged');
  });

  it('is pending while the device is elsewhere or updating', () => {
    expect(convergence({ version: 2, state: 'active', failedVersion: null }, 1)).toBe('pending');
    expect(convergence({ version: 1, state: 'downloading', failedVersion: null }, 1)).toBe('pending');
    expect(convergence({ version: null, state: 'idle', failedVersion: null }, 1)).toBe('pending');
  });

  it('is failed when the desired version is the one that failed on the device', () => {
    expect(convergence({ version: 1, state: 'rolled-back', failedVersion: 2 }, 2)).toBe('failed');
  });
});

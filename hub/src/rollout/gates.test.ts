import { describe, expect, it } from 'vitest';
import type { Health } from '../registry/fleet-store.js';
import { RolloutPlanSchema } from '../registry/rollout-store.js';
import { judgeHealth, pickCanary } from './gates.js';

const health = (over: Partial<Health>): Health => ({
  requests: 0,
  rows: 0,
  errors: 0,
  errorRate: null,
  p95Ms: null,
  labels: 0,
  liveAccuracy: null,
  drift: null,
  driftByFeature: [],
  evicted: 0,
  telemetryRecords: 1,
  skippedRecords: 0,
  ...over,
});

const gates = RolloutPlanSchema.parse({ gates: { maxDrift: 0.2, maxP95Ms: 2, maxErrorRate: 0.1 } }).gates;

describe('rollout gates', () => {
  it('does not judge drift on one prediction', () => {
    expect(judgeHealth(health({ requests: 1, rows: 1, drift: 10, driftByFeature: [10] }), gates, undefined)).toBeUndefined();
  });

  it('judges drift, p95 and error rate once enough rows were served', () => {
    expect(judgeHealth(health({ requests: 50, rows: 50, drift: 10, driftByFeature: [10] }), gates, undefined)).toMatch(/input drift PSI 10.000 .* over 50 rows/);
    expect(judgeHealth(health({ requests: 50, rows: 50, p95Ms: 3 }), gates, undefined)).toMatch(/p95 latency 3.000 ms/);
    expect(judgeHealth(health({ requests: 50, rows: 0, errors: 50, errorRate: 1 }), gates, undefined)).toMatch(/error rate 100.00%/);
    expect(judgeHealth(health({ requests: 5, rows: 5, errors: 5, errorRate: 1 }), gates, undefined)).toBeUndefined();
  });

  it('refuses canaries by tag when no device carries the tag', () => {
    const devices = [{ id: 'a', tags: [] }, { id: 'b', tags: ['edge'] }];
    expect(() => pickCanary(devices, { tags: ['canary'] })).toThrow(/no online device carries the canary tag canary/);
    expect(pickCanary(devices, { tags: ['edge'] })).toEqual(['b']);
  });
});

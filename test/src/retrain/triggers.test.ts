import { describe, expect, it } from 'vitest';
import { RetrainPolicySchema, evaluateTriggers, type TriggerFigures } from '@edgeml/hub';

const quiet: TriggerFigures = { labels: 0, liveAccuracy: null, drift: null, samples: 0, newLabels: 0, lastRunAt: 0, now: 1_000 };
const triggers = RetrainPolicySchema.parse({
  triggers: { accuracy: { below: 0.8, minLabels: 40 }, drift: { above: 0.25, minSamples: 100 }, newLabels: { atLeast: 500 }, schedule: { everyMs: 86_400_000 } },
}).triggers;

describe('retrain triggers', () => {
  it('fires on live accuracy below the threshold once there are enough labels, with the figures', () => {
    const f = evaluateTriggers(triggers, { ...quiet, labels: 40, liveAccuracy: 0.62, newLabels: 40 });
    expect(f).toEqual({ reason: 'accuracy', figures: { liveAccuracy: 0.62, below: 0.8, labels: 40, minLabels: 40 }, summary: 'live accuracy 0.62 below 0.8 over 40 labels' });
  });

  it('waits for the minimum label count before judging accuracy', () => {
    expect(evaluateTriggers(triggers, { ...quiet, labels: 39, liveAccuracy: 0.1, newLabels: 39 })).toBeUndefined();
  });

  it('fires on drift above the threshold over enough samples, and not on fewer', () => {
    expect(evaluateTriggers(triggers, { ...quiet, drift: 0.4, samples: 100, newLabels: 1 })?.reason).toBe('drift');
    expect(evaluateTriggers(triggers, { ...quiet, drift: 0.4, samples: 99, newLabels: 1 })).toBeUndefined();
    expect(evaluateTriggers(triggers, { ...quiet, drift: 0.2, samples: 1000, newLabels: 1 })).toBeUndefined();
  });

  it('fires on enough new labels, and on the schedule', () => {
    expect(evaluateTriggers(triggers, { ...quiet, newLabels: 500 })?.reason).toBe('new-labels');
    expect(evaluateTriggers(triggers, { ...quiet, newLabels: 1, lastRunAt: 0, now: 86_400_000 })?.reason).toBe('schedule');
    expect(evaluateTriggers(triggers, { ...quiet, newLabels: 1, lastRunAt: 1, now: 86_400_000 })).toBeUndefined();
  });

  it('never fires without a new label since the last run: the same data cannot give another answer', () => {
    expect(evaluateTriggers(triggers, { ...quiet, labels: 100, liveAccuracy: 0.1, drift: 9, samples: 1e6, newLabels: 0, now: 1e12 })).toBeUndefined();
  });

  it('judges accuracy first when several would fire', () => {
    expect(evaluateTriggers(triggers, { ...quiet, labels: 600, liveAccuracy: 0.5, drift: 1, samples: 1000, newLabels: 600, now: 1e12 })?.reason).toBe('accuracy');
  });

  it('fires nothing with no triggers configured', () => {
    expect(evaluateTriggers(RetrainPolicySchema.parse({ triggers: {} }).triggers, { ...quiet, labels: 1000, liveAccuracy: 0, newLabels: 1000, now: 1e12 })).toBeUndefined();
  });

  it('refuses a policy with an unknown trigger or a share out of range', () => {
    expect(RetrainPolicySchema.safeParse({ triggers: { accuracyy: { below: 0.8 } } }).success).toBe(false);
    expect(RetrainPolicySchema.safeParse({ triggers: { accuracy: { below: 1.5 } } }).success).toBe(false);
    expect(RetrainPolicySchema.safeParse({ triggers: {}, holdoutShare: 1 }).success).toBe(false);
  });
});

/**
 * When a model is retrained. A pure function of the figures the hub keeps (live accuracy and
 * drift of the production version since the last run, new labels, time), so the rule can be
 * tested without a hub and each firing carries the figures that made it fire.
 */
import type { RetrainTriggers } from './policy.js';

export type TriggerReason = 'accuracy' | 'drift' | 'schedule' | 'new-labels' | 'manual';

export interface TriggerFiring {
  reason: TriggerReason;
  /** The figures that fired it, and the limits they crossed. */
  figures: Record<string, number | null>;
  summary: string;
}

export interface TriggerFigures {
  /** Labels on the production version since the last run (or since it went out). */
  labels: number;
  /** Their accuracy; null without labels (or for regression). */
  liveAccuracy: number | null;
  /** Largest PSI over the features, production version, since the last run; null when unknown. */
  drift: number | null;
  /** Rows production served in that window. */
  samples: number;
  /** Valid-looking labels of any version of the model since the last run. */
  newLabels: number;
  /** When the last run started (ms), or when the loop started watching the model. */
  lastRunAt: number;
  now: number;
}

const f4 = (v: number) => Number(v.toFixed(4));

/** The first trigger that fires, in a fixed order (the most specific evidence first), or undefined. */
export function evaluateTriggers(t: RetrainTriggers, x: TriggerFigures): TriggerFiring | undefined {
  // Nothing new since the last run: retraining on the same data cannot give another answer.
  if (x.newLabels === 0) return undefined;
  if (t.accuracy && x.liveAccuracy !== null && x.labels >= t.accuracy.minLabels && x.liveAccuracy < t.accuracy.below) {
    return {
      reason: 'accuracy',
      figures: { liveAccuracy: f4(x.liveAccuracy), below: t.accuracy.below, labels: x.labels, minLabels: t.accuracy.minLabels },
      summary: `live accuracy ${f4(x.liveAccuracy)} below ${t.accuracy.below} over ${x.labels} labels`,
    };
  }
  if (t.drift && x.drift !== null && x.samples >= t.drift.minSamples && x.drift > t.drift.above) {
    return {
      reason: 'drift',
      figures: { psi: f4(x.drift), above: t.drift.above, samples: x.samples, minSamples: t.drift.minSamples },
      summary: `drift (PSI ${f4(x.drift)}) above ${t.drift.above} over ${x.samples} rows`,
    };
  }
  if (t.newLabels && x.newLabels >= t.newLabels.atLeast) {
    return { reason: 'new-labels', figures: { newLabels: x.newLabels, atLeast: t.newLabels.atLeast }, summary: `${x.newLabels} new labels (at least ${t.newLabels.atLeast})` };
  }
  if (t.schedule && x.now - x.lastRunAt >= t.schedule.everyMs) {
    return { reason: 'schedule', figures: { sinceLastRunMs: x.now - x.lastRunAt, everyMs: t.schedule.everyMs, newLabels: x.newLabels }, summary: `scheduled every ${t.schedule.everyMs} ms` };
  }
  return undefined;
}

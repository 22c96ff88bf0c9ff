/**
 * Rollout gates on what the devices report: latency, errors, live accuracy from feedback and
 * input drift. Each verdict names the figure and its limit.
 */
import { checkFailed } from '@edgeml/core';
import type { Health } from '../registry/fleet-store.js';
import type { RolloutPlan } from '../registry/rollout-store.js';

/** Rows served before latency, error rate and drift are judged, when a plan does not say. */
export const DEFAULT_MIN_SAMPLES = 20;

export function judgeHealth(h: Health, gates: RolloutPlan['gates'], testAccuracy: number | undefined): string | undefined {
  // One slow row or one odd input is not a verdict (PSI over a single sample is 10): figures
  // from too few rows wait, like live accuracy waits for minLabels.
  // Requests too: a version that fails every request serves no rows.
  const enough = Math.max(h.rows, h.requests) >= (gates.minSamples ?? DEFAULT_MIN_SAMPLES);
  if (!enough) return judgeAccuracy(h, gates, testAccuracy);
  if (gates.maxP95Ms !== undefined && h.p95Ms !== null && h.p95Ms > gates.maxP95Ms) return `p95 latency ${h.p95Ms.toFixed(3)} ms on the devices is above ${gates.maxP95Ms} ms`;
  if (gates.maxErrorRate !== undefined && h.errorRate !== null && h.errorRate > gates.maxErrorRate) {
    return `error rate ${(h.errorRate * 100).toFixed(2)}% is above ${(gates.maxErrorRate * 100).toFixed(2)}%`;
  }
  const accuracy = judgeAccuracy(h, gates, testAccuracy);
  if (accuracy) return accuracy;
  if (gates.maxDrift !== undefined && h.drift !== null && h.drift > gates.maxDrift) {
    const worst = h.driftByFeature.indexOf(h.drift);
    return `input drift PSI ${h.drift.toFixed(3)} (feature ${worst}) over ${h.rows} rows is above ${gates.maxDrift}`;
  }
  return undefined;
}

function judgeAccuracy(h: Health, gates: RolloutPlan['gates'], testAccuracy: number | undefined): string | undefined {
  if (h.liveAccuracy !== null && h.labels >= gates.minLabels) {
    if (gates.minLiveAccuracy !== undefined && h.liveAccuracy < gates.minLiveAccuracy) {
      return `live accuracy ${(h.liveAccuracy * 100).toFixed(1)}% over ${h.labels} labels is below ${(gates.minLiveAccuracy * 100).toFixed(1)}%`;
    }
    if (gates.maxAccuracyDrop !== undefined && testAccuracy !== undefined && testAccuracy - h.liveAccuracy > gates.maxAccuracyDrop) {
      return `live accuracy ${(h.liveAccuracy * 100).toFixed(1)}% over ${h.labels} labels fell ${((testAccuracy - h.liveAccuracy) * 100).toFixed(1)} points below the test accuracy ${(testAccuracy * 100).toFixed(1)}% (allowed ${(gates.maxAccuracyDrop * 100).toFixed(1)})`;
    }
  }
  return undefined;
}

/** The devices in wave `w` (0 is the canary), cumulative over the ordered fleet. */
export function waveDevices(order: readonly string[], canary: readonly string[], waves: readonly number[], w: number): string[] {
  if (w === 0) return [...canary];
  const pct = waves[w - 1] ?? 100;
  const n = Math.max(canary.length, Math.ceil((pct / 100) * order.length));
  return order.slice(0, n);
}

export function pickCanary(devices: readonly { id: string; tags: string[] }[], canary: RolloutPlan['canary']): string[] {
  if (canary.tags?.length) {
    const tagged = devices.filter((d) => canary.tags!.some((t) => d.tags.includes(t))).map((d) => d.id);
    // An untagged device stood in for the canary would test the candidate where nobody meant to.
    if (tagged.length === 0) throw checkFailed('no-canary', `no online device carries the canary tag${canary.tags.length > 1 ? 's' : ''} ${canary.tags.join(', ')}; tag one or choose canaries by count`);
    return tagged;
  }
  const n = canary.count ?? Math.max(1, Math.ceil(((canary.percent ?? 10) / 100) * devices.length));
  return devices.slice(0, Math.min(n, devices.length)).map((d) => d.id);
}

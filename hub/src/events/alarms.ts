/**
 * Drift and live-accuracy alarms from each device's analysis (fleet/analytics.ts). An alarm is
 * raised once when a device crosses its threshold and armed again only after it has come back
 * past a margin, so a figure hovering at the limit does not flood the team. The raised set is
 * kept in memory: a restarted hub says once more what is still wrong, which is what a person
 * arriving after the restart wants to hear.
 */
import type { DeviceAnalysis } from '../fleet/analytics.js';
import type { HubEvents } from './bus.js';

export interface AlarmLimits {
  /** Population stability index above which inputs have drifted (0.25 is the usual "significant shift"). */
  maxDrift: number;
  /** Live accuracy this far below the version's test accuracy... */
  maxAccuracyDrop: number;
  /** ...judged once at least this many labels came back. */
  minLabels: number;
}

export const DEFAULT_ALARM_LIMITS: AlarmLimits = { maxDrift: 0.25, maxAccuracyDrop: 0.1, minLabels: 20 };

/** How far back past the limit a figure must come before the same alarm can be raised again. */
const REARM_MARGIN = 0.8;

export class AlarmWatch {
  private readonly raised = new Set<string>();

  constructor(
    private readonly events: HubEvents,
    private readonly testAccuracy: (model: string, version: number) => number | undefined,
    private readonly limits: AlarmLimits = DEFAULT_ALARM_LIMITS,
  ) {}

  check(a: DeviceAnalysis): void {
    if (!a.model || a.version === null) return;
    const { model, version, deviceId } = a;
    const key = (kind: string) => `${kind}:${deviceId}:${model}:${version}`;
    if (a.drift !== null) {
      const k = key('drift');
      if (a.drift > this.limits.maxDrift && !this.raised.has(k)) {
        this.raised.add(k);
        this.events.emit({
          type: 'alarm.drift',
          summary: `${deviceId}: inputs drifted on ${model} v${version} (PSI ${a.drift.toFixed(3)} > ${this.limits.maxDrift})`,
          model,
          version,
          deviceId,
          data: { drift: a.drift, limit: this.limits.maxDrift, records: a.records },
        });
      } else if (a.drift < this.limits.maxDrift * REARM_MARGIN) this.raised.delete(k);
    }
    const test = this.testAccuracy(model, version);
    if (a.liveAccuracy !== null && test !== undefined && a.labels >= this.limits.minLabels) {
      const k = key('accuracy');
      const floor = test - this.limits.maxAccuracyDrop;
      if (a.liveAccuracy < floor && !this.raised.has(k)) {
        this.raised.add(k);
        this.events.emit({
          type: 'alarm.accuracy',
          summary: `${deviceId}: live accuracy of ${model} v${version} is ${(a.liveAccuracy * 100).toFixed(1)}%, below ${(floor * 100).toFixed(1)}% (test ${(test * 100).toFixed(1)}%)`,
          model,
          version,
          deviceId,
          data: { liveAccuracy: a.liveAccuracy, testAccuracy: test, floor, labels: a.labels },
        });
      } else if (a.liveAccuracy > floor + this.limits.maxAccuracyDrop * (1 - REARM_MARGIN)) this.raised.delete(k);
    }
  }
}

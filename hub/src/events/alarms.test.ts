import { describe, expect, it } from 'vitest';
import type { DeviceAnalysis } from '../fleet/analytics.js';
import { AlarmWatch } from './alarms.js';
import { HubEvents, type HubEvent } from './bus.js';

const analysis = (o: Partial<DeviceAnalysis>): DeviceAnalysis => ({ deviceId: 'd1', model: 'iris', version: 2, p95Ms: 1, errorRate: 0, liveAccuracy: null, labels: 0, drift: null, records: 10, updatedAt: '', ...o });

function watch() {
  const events = new HubEvents();
  const seen: HubEvent[] = [];
  events.on((e) => seen.push(e));
  return { w: new AlarmWatch(events, () => 0.95, { maxDrift: 0.25, maxAccuracyDrop: 0.1, minLabels: 20 }), seen };
}

describe('drift and accuracy alarms', () => {
  it('raises a drift alarm once while the drift stays high, and again only after it came back well inside the limit', () => {
    const { w, seen } = watch();
    for (const drift of [0.1, 0.3, 0.4, 0.24, 0.3, 0.1, 0.5]) w.check(analysis({ drift }));
    expect(seen.map((e) => [e.type, e.data.drift])).toEqual([
      ['alarm.drift', 0.3],
      ['alarm.drift', 0.5],
    ]);
    expect(seen[0]).toMatchObject({ model: 'iris', version: 2, deviceId: 'd1' });
  });

  it('raises an accuracy alarm only with enough labels and below the test accuracy less the allowed drop', () => {
    const { w, seen } = watch();
    w.check(analysis({ liveAccuracy: 0.5, labels: 19 }));
    w.check(analysis({ liveAccuracy: 0.86, labels: 40 }));
    expect(seen).toEqual([]);
    w.check(analysis({ liveAccuracy: 0.8, labels: 40 }));
    w.check(analysis({ liveAccuracy: 0.7, labels: 60 }));
    expect(seen.map((e) => e.type)).toEqual(['alarm.accuracy']);
    expect(seen[0]!.data).toMatchObject({ liveAccuracy: 0.8, testAccuracy: 0.95, labels: 40 });
    // Another device, or another version of the same device, is its own alarm.
    w.check(analysis({ deviceId: 'd2', liveAccuracy: 0.7, labels: 40 }));
    w.check(analysis({ version: 3, liveAccuracy: 0.7, labels: 40 }));
    expect(seen).toHaveLength(3);
  });
});

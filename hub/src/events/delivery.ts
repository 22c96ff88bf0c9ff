/**
 * Where hub events go once emitted: stored with one delivery per interested webhook (so a
 * restart loses none), streamed to open dashboards, sent by the webhook dispatcher. Also the
 * producers that need the registry: drift and accuracy alarms, and devices that rolled back.
 */
import type { DeviceStatus, Logger } from '@edgeml/core';
import type { Registry } from '../registry/registry.js';
import { LiveFeed } from '../web/live.js';
import { WebhookDispatcher, type RetryPolicy } from '../webhooks/deliver.js';
import type { WebhookTarget } from '../webhooks/targets.js';
import { AlarmWatch, DEFAULT_ALARM_LIMITS, type AlarmLimits } from './alarms.js';
import type { HubEvents } from './bus.js';

export interface EventDeliveryOptions {
  registry: Registry;
  events: HubEvents;
  log: Logger;
  targets: readonly WebhookTarget[];
  retry?: Partial<RetryPolicy>;
  alarms?: Partial<AlarmLimits>;
}

export function startEventDelivery(o: EventDeliveryOptions) {
  const { registry, events } = o;
  const live = new LiveFeed(o.log);
  const webhooks = new WebhookDispatcher({ store: registry.events, targets: o.targets, log: o.log, ...(o.retry ? { retry: o.retry } : {}) });
  events.on((e) => {
    const id = registry.events.add(e, webhooks.targetsFor(e.type));
    live.send('hub', { ...e, id });
    if (e.type.startsWith('rollout.')) live.nudge('rollouts');
    webhooks.kick();
  });
  webhooks.start();
  const alarms = new AlarmWatch(
    events,
    (model, version) => {
      const acc = registry.getVersion(model, version)?.envelope.signed.validation.accuracy;
      return typeof acc === 'number' ? acc : undefined;
    },
    { ...DEFAULT_ALARM_LIMITS, ...o.alarms },
  );
  /** For the status writer: a device stored as having given up a version. */
  const deviceFailed = (s: DeviceStatus) =>
    events.emit({
      type: 'device.rolled-back',
      summary: `${s.deviceId} went back from ${s.model} v${s.failedVersion}${s.version !== null ? ` to v${s.version}` : ''}: ${s.lastError ?? s.state}`,
      ...(s.model ? { model: s.model } : {}),
      ...(s.failedVersion !== null ? { version: s.failedVersion } : {}),
      deviceId: s.deviceId,
      data: { failedVersion: s.failedVersion, runningVersion: s.version, state: s.state, reason: s.lastError },
    });
  return { live, webhooks, alarms, deviceFailed };
}

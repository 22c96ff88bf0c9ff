import { DeviceStatusSchema, describeZodError, deviceIdOfTopic, type Logger } from '@edgeml/core';
import type { Registry } from '../registry/registry.js';

/**
 * Device statuses from `devices/+/status` into the registry. A payload that is not JSON, does
 * not match the schema, or names another device than its topic is logged and dropped: one bad
 * device must not stop the hub.
 */
export function ingestStatus(registry: Registry, log: Logger, topic: string, payload: Buffer): void {
  const deviceId = deviceIdOfTopic(topic);
  if (!deviceId || !topic.endsWith('/status') || payload.length === 0) return;
  let json: unknown;
  try {
    json = JSON.parse(payload.toString('utf8'));
  } catch {
    log.warn('ignoring a status that is not JSON', { topic });
    return;
  }
  const parsed = DeviceStatusSchema.safeParse(json);
  if (!parsed.success || parsed.data.deviceId !== deviceId) {
    log.warn('ignoring a malformed status', { topic, error: parsed.success ? 'device id does not match the topic' : describeZodError(parsed.error) });
    return;
  }
  const s = parsed.data;
  registry.upsertDevice(s);
  // A version a device rolled back or refused is recorded as bad for that device.
  if (s.failedVersion !== null && s.model) registry.recordFailure(s.deviceId, s.model, s.failedVersion, s.lastError ?? s.state, s.updatedAt);
}

import { z } from 'zod';
import {
  CommandResultSchema,
  DeviceStatusSchema,
  FeedbackRecordSchema,
  TelemetrySchema,
  describeZodError,
  deviceIdOfTopic,
  type Logger,
} from '@edgeml/core';
import type { Registry } from '../registry/registry.js';

export type Ingested = { kind: 'status' | 'telemetry' | 'feedback' | 'result'; deviceId: string; fresh: boolean };

/**
 * Everything devices publish, into the registry. A payload that is not JSON, does not match
 * its schema, or names another device than its topic is logged and dropped: one bad device
 * must not stop the hub. Telemetry and feedback are stored by (device, record id), so a
 * record delivered twice counts once.
 */
export function ingest(registry: Registry, log: Logger, topic: string, payload: Buffer): Ingested | undefined {
  const deviceId = deviceIdOfTopic(topic);
  if (!deviceId || payload.length === 0) return undefined;
  const kind = topic.endsWith('/status') ? 'status' : topic.endsWith('/telemetry') ? 'telemetry' : topic.endsWith('/feedback') ? 'feedback' : topic.endsWith('/cmd/result') ? 'result' : undefined;
  if (!kind) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(payload.toString('utf8'));
  } catch {
    log.warn(`ignoring a ${kind} message that is not JSON`, { topic });
    return undefined;
  }
  const schema: z.ZodTypeAny = { status: DeviceStatusSchema, telemetry: TelemetrySchema, feedback: FeedbackRecordSchema, result: CommandResultSchema }[kind];
  const parsed = schema.safeParse(json);
  if (!parsed.success || (parsed.data as { deviceId: string }).deviceId !== deviceId) {
    log.warn(`ignoring a malformed ${kind} message`, { topic, error: parsed.success ? 'device id does not match the topic' : describeZodError(parsed.error) });
    return undefined;
  }
  switch (kind) {
    case 'status': {
      const s = DeviceStatusSchema.parse(parsed.data);
      registry.upsertDevice(s);
      // A version a device rolled back or refused is recorded as bad for that device.
      if (s.failedVersion !== null && s.model) registry.recordFailure(s.deviceId, s.model, s.failedVersion, s.lastError ?? s.state, s.updatedAt);
      return { kind, deviceId, fresh: true };
    }
    case 'telemetry':
      return { kind, deviceId, fresh: registry.fleet.addTelemetry(TelemetrySchema.parse(parsed.data)) };
    case 'feedback':
      return { kind, deviceId, fresh: registry.fleet.addFeedback(FeedbackRecordSchema.parse(parsed.data)) };
    case 'result': {
      const r = CommandResultSchema.parse(parsed.data);
      const m = /^rollout-(\d+)-bench/.exec(r.requestId);
      const rollout = m ? registry.rollouts.get(Number(m[1])) : undefined;
      if (rollout) registry.fleet.addBenchmark(rollout.model, rollout.version, deviceId, r.ok ? { ok: 1, ...r.result } : { ok: 0, error: r.error ?? 'failed' });
      return { kind, deviceId, fresh: true };
    }
  }
}

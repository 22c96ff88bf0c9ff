import { z } from 'zod';
import {
  CommandResultSchema,
  DeviceStatusSchema,
  FeedbackRecordSchema,
  TelemetrySchema,
  describeZodError,
  deviceIdOfTopic,
  type DeviceStatus,
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
export function ingest(registry: Registry, log: Logger, topic: string, payload: Buffer, statuses: StatusWriter = new StatusWriter(registry, 0)): Ingested | undefined {
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
      statuses.add(DeviceStatusSchema.parse(parsed.data));
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

/**
 * Statuses are snapshots: of several from one device, only the newest matters. They are kept
 * for `delayMs` and written in one transaction, so a fleet reporting at once costs one commit
 * (0 writes at once, for callers that need the row immediately).
 */
export class StatusWriter {
  private pending = new Map<string, DeviceStatus>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly registry: Registry,
    private readonly delayMs = 20,
  ) {}

  add(s: DeviceStatus): void {
    this.pending.set(s.deviceId, s);
    if (this.delayMs === 0) return this.flush();
    this.timer ??= setTimeout(() => this.flush(), this.delayMs);
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = [...this.pending.values()];
    this.pending.clear();
    if (batch.length === 0) return;
    this.registry.upsertDevices(batch);
    // A version a device rolled back or refused is recorded as bad for that device.
    for (const s of batch) if (s.failedVersion !== null && s.model) this.registry.recordFailure(s.deviceId, s.model, s.failedVersion, s.lastError ?? s.state, s.updatedAt);
  }
}

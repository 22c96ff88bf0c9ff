import { z } from 'zod';
import {
  CommandResultSchema,
  DeviceStatusSchema,
  FeedbackRecordSchema,
  TelemetrySchema,
  deviceIdOfTopic,
  describeZodError,
  type DeviceStatus,
  type Logger,
} from '@edgeml/core';
import type { Registry } from '../registry/registry.js';
import { Admission, type Violation, type ViolationLog } from './admission.js';

export type Ingested = { kind: 'status' | 'telemetry' | 'feedback' | 'result'; deviceId: string; fresh: boolean };
type Kind = Ingested['kind'];

/** Largest payload of each kind the hub parses; an honest agent stays far below. */
export const MAX_PAYLOAD_BYTES: Record<Kind, number> = { status: 64 * 1024, telemetry: 4 << 20, feedback: 1 << 20, result: 64 * 1024 };

const schemas: Record<Kind, z.ZodTypeAny> = { status: DeviceStatusSchema, telemetry: TelemetrySchema, feedback: FeedbackRecordSchema, result: CommandResultSchema };

const kindOf = (topic: string): Kind | undefined =>
  topic.endsWith('/status') ? 'status' : topic.endsWith('/telemetry') ? 'telemetry' : topic.endsWith('/feedback') ? 'feedback' : topic.endsWith('/cmd/result') ? 'result' : undefined;

/**
 * Everything devices publish, into the registry. A payload too large, not JSON, not matching
 * its schema, naming another device than its topic, or failing admission against what the hub
 * knows (admission.ts) is dropped and counted against the device: one bad device must not stop
 * the hub or mislead it. Telemetry and feedback are stored by (device, record id), so a record
 * delivered twice counts once.
 */
export class DeviceIngest {
  private readonly admission: Admission;

  constructor(
    private readonly registry: Registry,
    private readonly violations: ViolationLog,
    private readonly statuses: StatusWriter = new StatusWriter(registry, 0),
  ) {
    this.admission = new Admission(registry);
  }

  handle(topic: string, payload: Buffer): Ingested | undefined {
    const deviceId = deviceIdOfTopic(topic);
    const kind = kindOf(topic);
    if (!deviceId || !kind || payload.length === 0) return undefined;
    const refuse = (v: Violation, detail: string): undefined => {
      this.violations.report(deviceId, v, `${kind}: ${detail}`);
      return undefined;
    };
    if (payload.length > MAX_PAYLOAD_BYTES[kind]) return refuse('too-large', `${payload.length} bytes, at most ${MAX_PAYLOAD_BYTES[kind]}`);
    let json: unknown;
    try {
      json = JSON.parse(payload.toString('utf8'));
    } catch {
      return refuse('not-json', 'not JSON');
    }
    const parsed = schemas[kind].safeParse(json);
    if (!parsed.success) return refuse('malformed', describeZodError(parsed.error));
    if ((parsed.data as { deviceId: string }).deviceId !== deviceId) return refuse('wrong-device', 'the device id in the body is not the topic');
    const scope = this.registry.scopes.of(deviceId);
    switch (kind) {
      case 'status': {
        const claimed = DeviceStatusSchema.parse(parsed.data);
        const a = this.admission.status(claimed, scope);
        if (!a.ok) return refuse(a.violation, a.detail);
        // Stored with the enrolled tags, and counted: a device claiming tags it was not given.
        if (a.claim) this.violations.report(deviceId, a.claim, `status claims tags ${JSON.stringify(claimed.tags).slice(0, 120)}`);
        this.statuses.add(a.value);
        return { kind, deviceId, fresh: true };
      }
      case 'telemetry': {
        const a = this.admission.telemetry(TelemetrySchema.parse(parsed.data), scope);
        if (!a.ok) return refuse(a.violation, a.detail);
        return { kind, deviceId, fresh: this.registry.fleet.addTelemetry(a.value) };
      }
      case 'feedback': {
        const a = this.admission.feedback(FeedbackRecordSchema.parse(parsed.data), scope);
        if (!a.ok) return refuse(a.violation, a.detail);
        return { kind, deviceId, fresh: this.registry.fleet.addFeedback(a.value) };
      }
      case 'result': {
        const r = CommandResultSchema.parse(parsed.data);
        const m = /^rollout-(\d+)-bench/.exec(r.requestId);
        const rollout = m ? this.registry.rollouts.get(Number(m[1])) : undefined;
        // Only a canary of that rollout may answer its benchmark.
        if (rollout && rollout.devices.canary.includes(deviceId)) {
          this.registry.fleet.addBenchmark(rollout.model, rollout.version, deviceId, r.ok ? { ok: 1, ...r.result } : { ok: 0, error: r.error ?? 'failed' });
        }
        return { kind, deviceId, fresh: true };
      }
    }
  }
}

/** How long a status batch that could not be written waits before it is tried again. */
const STATUS_RETRY_MS = 1000;

/**
 * Statuses are snapshots: of several from one device, only the newest matters. They are kept
 * for `delayMs` and written in one transaction, so a fleet reporting at once costs one commit
 * (0 writes at once, for callers that need the row immediately). A batch that cannot be written
 * (SQLITE_BUSY, a full disk) stays pending, newer statuses of a device replacing it, and is
 * tried again from the timer: a storage error neither loses the statuses nor stops the hub.
 */
export class StatusWriter {
  private pending = new Map<string, DeviceStatus>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly registry: Registry,
    private readonly delayMs = 20,
    private readonly log?: Logger,
    /** Told once per device and version the device rolled back or refused (after it is stored). */
    private readonly onFailure?: (s: DeviceStatus) => void,
  ) {}

  add(s: DeviceStatus): void {
    this.pending.set(s.deviceId, s);
    if (this.delayMs === 0) return this.flush();
    this.schedule(this.delayMs);
  }

  private schedule(ms: number): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      try {
        this.flush();
      } catch (e) {
        this.log?.error('cannot store device statuses; retrying', { error: (e as Error).message });
        this.schedule(STATUS_RETRY_MS);
      }
    }, ms);
  }

  /** Write what is pending now; on failure the batch stays pending and the error is thrown. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = [...this.pending.values()];
    this.pending.clear();
    if (batch.length === 0) return;
    let failed: DeviceStatus[];
    try {
      this.registry.upsertDevices(batch);
      // A version a device rolled back or refused is recorded as bad for that device.
      failed = batch.filter((s) => s.failedVersion !== null && s.model && this.registry.recordFailure(s.deviceId, s.model, s.failedVersion, s.lastError ?? s.state, s.updatedAt));
    } catch (e) {
      for (const s of batch) if (!this.pending.has(s.deviceId)) this.pending.set(s.deviceId, s);
      throw e;
    }
    for (const s of failed) this.onFailure?.(s);
  }

  /** The last write on stop: an error is logged, nothing is scheduled again. */
  close(): void {
    try {
      this.flush();
    } catch (e) {
      this.log?.error('cannot store the last device statuses', { devices: this.pending.size, error: (e as Error).message });
    }
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

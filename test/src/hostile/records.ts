/** Device messages as an agent would send them, for a given release: the honest baseline attacks start from. */
import { LATENCY_BUCKETS_MS, type FeedbackRecord, type Release, type Telemetry, type DeviceStatus } from '@edgeml/core';

let seq = 0;
const nextId = () => `r${Date.now().toString(36)}-${seq++}`;

export function telemetryFor(deviceId: string, r: Release, o: Partial<Telemetry> = {}): Telemetry {
  const now = new Date().toISOString();
  const latencyBuckets = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);
  latencyBuckets[3] = 10;
  return {
    type: 'telemetry',
    id: nextId(),
    deviceId,
    model: r.model,
    version: r.version,
    from: now,
    to: now,
    requests: 10,
    rows: 10,
    errors: 0,
    rejected: 0,
    latencyBuckets,
    predictions: {},
    features: r.spec.features.map((_, j) => ({ count: 10, mean: 0, m2: 1, min: -1, max: 1, histogram: new Array<number>((r.reference?.edges[j]?.length ?? 0) + 1).fill(1) })),
    evicted: 0,
    ...o,
  };
}

export function statusFor(deviceId: string, r: Release | null, o: Partial<DeviceStatus> = {}): DeviceStatus {
  return {
    deviceId,
    online: true,
    state: 'active',
    model: r?.model ?? null,
    version: r?.version ?? null,
    sha256: r?.artifact.sha256 ?? null,
    previousVersion: null,
    health: 'ok',
    lastError: null,
    failedVersion: null,
    tags: [],
    p95Ms: null,
    requests: 0,
    updatedAt: new Date().toISOString(),
    ...o,
  };
}

export function feedbackFor(deviceId: string, r: Release, o: Partial<FeedbackRecord> = {}): FeedbackRecord {
  const label = r.spec.labels?.[0] ?? '0';
  return {
    type: 'feedback',
    id: nextId(),
    deviceId,
    model: r.model,
    version: r.version,
    predictionId: nextId(),
    label,
    predicted: label,
    row: r.spec.features.map(() => 1),
    at: new Date().toISOString(),
    ...o,
  };
}


/**
 * The hub's view of each device (live accuracy from feedback, drift against the training
 * reference, latency from telemetry), published retained on `fleet/devices/{id}` so
 * `edgeml fleet status`, or any MQTT client, reads it without asking the hub.
 */
import type { Logger } from '@edgeml/core';
import type { Registry } from '../registry/registry.js';
import type { Health } from '../registry/fleet-store.js';

/** Telemetry records one device's analysis merges: its recent behaviour, at a bounded cost. */
export const DEVICE_ANALYSIS_WINDOW = 500;

export interface DeviceAnalysis {
  deviceId: string;
  model: string | null;
  version: number | null;
  p95Ms: number | null;
  errorRate: number | null;
  liveAccuracy: number | null;
  labels: number;
  drift: number | null;
  /** Telemetry records these figures merge: the newest, at most DEVICE_ANALYSIS_WINDOW. */
  records: number;
  updatedAt: string;
}

export function analyseDevice(registry: Registry, deviceId: string): DeviceAnalysis | undefined {
  const d = registry.getDevice(deviceId);
  if (!d) return undefined;
  let h: Health | undefined;
  if (d.model && d.version !== null) {
    const rec = registry.getVersion(d.model, d.version);
    h = registry.fleet.health({ model: d.model, version: d.version, devices: [deviceId], limit: DEVICE_ANALYSIS_WINDOW }, rec?.envelope.signed.reference);
  }
  return {
    deviceId,
    model: d.model,
    version: d.version,
    p95Ms: h?.p95Ms ?? null,
    errorRate: h?.errorRate ?? null,
    liveAccuracy: h?.liveAccuracy ?? null,
    labels: h?.labels ?? 0,
    drift: h?.drift ?? null,
    records: h?.telemetryRecords ?? 0,
    updatedAt: new Date().toISOString(),
  };
}

/** Publishes at most once per interval per device, however much a device reports. */
export class AnalysisPublisher {
  private readonly dirty = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly registry: Registry,
    private readonly publish: (a: DeviceAnalysis) => Promise<void>,
    intervalMs = 500,
    private readonly log?: Logger,
  ) {
    this.timer = setInterval(() => {
      this.flush().catch((e: unknown) => this.log?.error('publishing device analyses failed', { error: (e as Error).message }));
    }, intervalMs);
  }

  touch(deviceId: string): void {
    this.dirty.add(deviceId);
  }

  async flush(): Promise<void> {
    const ids = [...this.dirty];
    this.dirty.clear();
    for (const id of ids) {
      let a: DeviceAnalysis | undefined;
      try {
        a = analyseDevice(this.registry, id);
      } catch (e) {
        // One device's figures failing must not stop the others' (or the hub).
        this.log?.error('analysing a device failed', { deviceId: id, error: (e as Error).message });
        continue;
      }
      if (a) await this.publish(a).catch(() => undefined);
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

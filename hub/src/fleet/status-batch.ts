/**
 * The hub's status batcher: statuses kept a moment and written in one transaction, from a timer
 * that survives a storage error (SQLITE_BUSY, a full disk). A failed batch stays pending and is
 * tried again, newer statuses of the same device replacing it; the hub keeps running.
 */
import type { DeviceStatus, Logger } from '@edgeml/core';
import type { Registry } from '../registry/registry.js';
import { StatusWriter } from './ingest.js';

const RETRY_MS = 1000;

export class DurableStatusWriter extends StatusWriter {
  readonly #pending = new Map<string, DeviceStatus>();
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: Registry,
    private readonly logger: Logger,
    private readonly batchMs = 20,
  ) {
    super(store, batchMs, logger);
  }

  override add(s: DeviceStatus): void {
    this.#pending.set(s.deviceId, s);
    this.#timer ??= setTimeout(() => this.flush(), this.batchMs);
  }

  override flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.size === 0) return;
    const batch = [...this.#pending.values()];
    this.#pending.clear();
    try {
      this.store.upsertDevices(batch);
      // A version a device rolled back or refused is recorded as bad for that device.
      for (const s of batch) if (s.failedVersion !== null && s.model) this.store.recordFailure(s.deviceId, s.model, s.failedVersion, s.lastError ?? s.state, s.updatedAt);
    } catch (e) {
      this.logger.error('cannot store device statuses; retrying', { devices: batch.length, error: (e as Error).message });
      for (const s of batch) if (!this.#pending.has(s.deviceId)) this.#pending.set(s.deviceId, s);
      this.#timer ??= setTimeout(() => this.flush(), RETRY_MS);
    }
  }

  /** Last write on stop: an error is logged, nothing rescheduled. */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = [...this.#pending.values()];
    this.#pending.clear();
    if (batch.length === 0) return;
    try {
      this.store.upsertDevices(batch);
    } catch (e) {
      this.logger.error('cannot store the last device statuses', { devices: batch.length, error: (e as Error).message });
    }
  }
}

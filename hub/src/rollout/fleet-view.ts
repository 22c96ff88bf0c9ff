/**
 * The controller's view of the fleet, kept up to date from the rows that changed: the first
 * refresh reads every device once, each later one only those whose status row was written since
 * (the registry numbers every write), so a tick costs what changed, not the fleet's size.
 */
import type { DeviceChange, Registry } from '../registry/registry.js';

const PAGE = 5000;

export class FleetView {
  private seq = 0;
  private readonly byId = new Map<string, DeviceChange>();

  constructor(private readonly registry: Registry) {}

  /** Read the devices changed since the last refresh; returns their ids. */
  refresh(): string[] {
    const changed: string[] = [];
    for (;;) {
      const page = this.registry.devicesChangedSince(this.seq, PAGE);
      for (const d of page) {
        this.byId.set(d.id, d);
        changed.push(d.id);
        this.seq = d.seq;
      }
      if (page.length < PAGE) return changed;
    }
  }

  get(id: string): DeviceChange | undefined {
    return this.byId.get(id);
  }
}

/** Reports `version` active. */
export const runs = (d: DeviceChange | undefined, version: number): boolean => d !== undefined && d.version === version && d.state === 'active';

/** Rolled `version` back (or refused it) and is not on it. */
export const rejected = (d: DeviceChange | undefined, version: number): boolean => d !== undefined && d.failedVersion === version && d.version !== version;

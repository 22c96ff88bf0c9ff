/**
 * The fleet's desired state in the registry: for each model and channel, and for devices a
 * rollout (or a halted one) tells apart, the signed envelope they should run now. It is what
 * the hub republishes on start and what the fleet view compares each device against.
 */
import type Database from 'better-sqlite3';
import { ReleaseSchema, SignedReleaseSchema, type DesiredKind, type SignedRelease } from '@edgeml/core';

export interface DesiredRecord {
  model: string;
  channel: string;
  /** Null: the whole channel. */
  deviceId: string | null;
  version: number;
  kind: DesiredKind;
  sha256: string;
  envelope: SignedRelease;
  updatedAt: string;
}

interface Row {
  model: string;
  channel: string;
  device_id: string;
  version: number;
  kind: string;
  sha256: string;
  envelope_json: string;
  updated_at: string;
}

const CHANNEL = '';

export class DesiredStore {
  constructor(
    private readonly db: Database.Database,
    private readonly onCorrupt: (what: string, error: string) => void = () => undefined,
  ) {}

  /**
   * The whole channel goes to `envelope`; per-device entries of the channel are superseded and
   * removed. Returns the device ids that had one, so their retained topics can be cleared.
   */
  setChannel(model: string, channel: string, kind: DesiredKind, envelope: SignedRelease): string[] {
    return this.db.transaction(() => {
      const devices = (this.db.prepare('SELECT device_id FROM desired_releases WHERE model = ? AND channel = ? AND device_id <> ?').all(model, channel, CHANNEL) as { device_id: string }[]).map(
        (r) => r.device_id,
      );
      this.db.prepare('DELETE FROM desired_releases WHERE model = ? AND channel = ? AND device_id <> ?').run(model, channel, CHANNEL);
      this.put(model, channel, CHANNEL, kind, envelope);
      return devices;
    })();
  }

  setDevice(model: string, channel: string, deviceId: string, kind: DesiredKind, envelope: SignedRelease): void {
    this.put(model, channel, deviceId, kind, envelope);
  }

  private put(model: string, channel: string, deviceId: string, kind: DesiredKind, envelope: SignedRelease): void {
    this.db
      .prepare(
        `INSERT INTO desired_releases (model, channel, device_id, version, kind, sha256, envelope_json, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(model, channel, device_id) DO UPDATE SET version = excluded.version, kind = excluded.kind, sha256 = excluded.sha256,
           envelope_json = excluded.envelope_json, updated_at = excluded.updated_at`,
      )
      .run(model, channel, deviceId, envelope.signed.version, kind, envelope.signed.artifact.sha256, JSON.stringify(envelope), new Date().toISOString());
  }

  channel(model: string, channel: string): DesiredRecord | undefined {
    return this.one(this.db.prepare('SELECT * FROM desired_releases WHERE model = ? AND channel = ? AND device_id = ?').get(model, channel, CHANNEL) as Row | undefined);
  }

  /** What one device should run: its own entry, else its channel's. */
  forDevice(model: string, channel: string, deviceId: string): DesiredRecord | undefined {
    const own = this.db.prepare('SELECT * FROM desired_releases WHERE model = ? AND channel = ? AND device_id = ?').get(model, channel, deviceId) as Row | undefined;
    return this.one(own) ?? this.channel(model, channel);
  }

  /**
   * What a device of `model` should run when its channel is not known (statuses do not carry
   * it): its own entry on any channel, else the model's only channel, else its `stable` one.
   */
  forModelDevice(model: string, deviceId: string): DesiredRecord | undefined {
    const own = this.db.prepare('SELECT * FROM desired_releases WHERE model = ? AND device_id = ? ORDER BY updated_at DESC LIMIT 1').get(model, deviceId) as Row | undefined;
    if (own) return this.one(own);
    const channels = this.db.prepare('SELECT * FROM desired_releases WHERE model = ? AND device_id = ? ORDER BY channel LIMIT 2').all(model, CHANNEL) as Row[];
    return channels.length === 1 ? this.one(channels[0]) : this.channel(model, 'stable');
  }

  /** Every entry, one at a time: a corrupt row is reported and skipped, not fatal. */
  *all(): Generator<DesiredRecord> {
    for (const row of this.db.prepare('SELECT * FROM desired_releases ORDER BY model, channel, device_id').iterate() as IterableIterator<Row>) {
      const rec = this.one(row);
      if (rec) yield rec;
    }
  }

  /** The artifacts some entry still points at (distinct). */
  desiredShas(): Set<string> {
    return new Set((this.db.prepare('SELECT DISTINCT sha256 FROM desired_releases').all() as { sha256: string }[]).map((r) => r.sha256));
  }

  isEmpty(): boolean {
    return this.db.prepare('SELECT 1 FROM desired_releases LIMIT 1').get() === undefined;
  }

  private one(r: Row | undefined): DesiredRecord | undefined {
    if (!r) return undefined;
    try {
      const raw = JSON.parse(r.envelope_json) as SignedRelease;
      // Checked, not rewritten: the stored bytes are what was signed.
      SignedReleaseSchema.parse(raw);
      ReleaseSchema.parse(raw.signed);
      const envelope = raw;
      return {
        model: r.model,
        channel: r.channel,
        deviceId: r.device_id === CHANNEL ? null : r.device_id,
        version: r.version,
        kind: r.kind as DesiredKind,
        sha256: r.sha256,
        envelope,
        updatedAt: r.updated_at,
      };
    } catch (e) {
      this.onCorrupt(`desired release ${r.model}/${r.channel}/${r.device_id || '*'}`, (e as Error).message);
      return undefined;
    }
  }
}

/**
 * Device liveness apart from status: online or offline (from the presence topic and its last
 * will) and the last time the hub heard anything from the device. The retained status keeps
 * the device's last known state and version; this says whether it is there now.
 */
import type Database from 'better-sqlite3';

export interface Liveness {
  online: boolean;
  /** When online last flipped. */
  changedAt: string;
  /** The last message of any kind from the device. */
  lastContact: string;
}

export interface LivenessChange {
  deviceId: string;
  /** Undefined: only contact, the online flag stays as it is. */
  online?: boolean;
  at: string;
}

export class LivenessStore {
  constructor(private readonly db: Database.Database) {}

  /** Many changes in one transaction; the newest contact wins, an older one never moves it back. */
  apply(changes: Iterable<LivenessChange>): void {
    const insert = this.db.prepare(
      `INSERT INTO device_liveness (device_id, online, changed_at, last_contact) VALUES (@deviceId, @online, @at, @at)
       ON CONFLICT(device_id) DO UPDATE SET
         online = CASE WHEN @known = 1 THEN @online ELSE online END,
         changed_at = CASE WHEN @known = 1 AND online <> @online THEN @at ELSE changed_at END,
         last_contact = CASE WHEN last_contact < @at THEN @at ELSE last_contact END`,
    );
    this.db.transaction(() => {
      for (const c of changes) insert.run({ deviceId: c.deviceId, online: c.online === false ? 0 : 1, known: c.online === undefined ? 0 : 1, at: c.at });
    })();
  }

  get(deviceId: string): Liveness | undefined {
    const r = this.db.prepare('SELECT online, changed_at, last_contact FROM device_liveness WHERE device_id = ?').get(deviceId) as { online: number; changed_at: string; last_contact: string } | undefined;
    return r && { online: r.online === 1, changedAt: r.changed_at, lastContact: r.last_contact };
  }
}

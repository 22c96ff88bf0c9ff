/**
 * What the operator bound a device to at enrolment: its model, channel and tags. Given with
 * the enrolment token (`edgeml hub token --model M --channel C --tags T`), copied to the device
 * when the token is spent. A field left out binds nothing, and devices enrolled before scopes
 * existed have none: for them the hub takes what the device says, as it always did.
 */
import type Database from 'better-sqlite3';

export interface EnrolmentScope {
  model: string | null;
  channel: string | null;
  /** null: not bound (the device's own tags count); [] binds "no tags". */
  tags: string[] | null;
}

export const isBound = (s: EnrolmentScope): boolean => s.model !== null || s.channel !== null || s.tags !== null;

const parse = (json: string | null | undefined): EnrolmentScope | undefined => (json ? (JSON.parse(json) as EnrolmentScope) : undefined);

export class ScopeStore {
  /** Scopes change only at enrolment; every device message reads one. */
  private readonly cache = new Map<string, EnrolmentScope | null>();

  constructor(private readonly db: Database.Database) {}

  setTokenScope(tokenHash: string, scope: EnrolmentScope): void {
    if (!isBound(scope)) return;
    this.db.prepare('UPDATE enroll_tokens SET scope_json = ? WHERE token_hash = ?').run(JSON.stringify(scope), tokenHash);
  }

  /** The token's scope onto the device; call inside the enrolment transaction. */
  copyToDevice(tokenHash: string, deviceId: string): EnrolmentScope | undefined {
    const row = this.db.prepare('SELECT scope_json FROM enroll_tokens WHERE token_hash = ?').get(tokenHash) as { scope_json: string | null } | undefined;
    this.db.prepare('UPDATE device_credentials SET scope_json = ? WHERE device_id = ?').run(row?.scope_json ?? null, deviceId);
    this.cache.delete(deviceId);
    return parse(row?.scope_json);
  }

  of(deviceId: string): EnrolmentScope | undefined {
    let s = this.cache.get(deviceId);
    if (s === undefined) {
      const row = this.db.prepare('SELECT scope_json FROM device_credentials WHERE device_id = ?').get(deviceId) as { scope_json: string | null } | undefined;
      s = parse(row?.scope_json) ?? null;
      // Only enrolled devices are cached (their ids are bounded); a device with no row may enrol later.
      if (row) this.cache.set(deviceId, s);
    }
    return s ?? undefined;
  }

  forget(deviceId: string): void {
    this.cache.delete(deviceId);
  }
}

/**
 * HTTP API tokens by kind, and device revocation, in the registry. Only hashes of token
 * secrets are stored; a token is looked up by its public id and its secret compared in
 * constant time, so a stolen registry file gives no working token.
 */
import type Database from 'better-sqlite3';

export const apiTokenKinds = ['ci', 'operator', 'admin'] as const;
export type ApiTokenKind = (typeof apiTokenKinds)[number];

export const securityMigrations: { id: number; name: string; sql: string }[] = [
  {
    id: 15,
    name: 'api tokens by kind and revoked device ids',
    sql: `
      CREATE TABLE api_tokens (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        secret_hash TEXT NOT NULL,
        label TEXT,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        revoked_at TEXT
      );
      CREATE TABLE revoked_devices (
        device_id TEXT PRIMARY KEY,
        revoked_at TEXT NOT NULL
      );
    `,
  },
];

export interface ApiTokenRecord {
  id: string;
  kind: ApiTokenKind;
  secretHash: string;
  label: string | null;
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
}

export interface DeviceIdentityRecord {
  id: string;
  enrolledAt: string | null;
  revokedAt: string | null;
}

interface TokenRow {
  id: string;
  kind: ApiTokenKind;
  secret_hash: string;
  label: string | null;
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
}

const toToken = (r: TokenRow): ApiTokenRecord => ({
  id: r.id,
  kind: r.kind,
  secretHash: r.secret_hash,
  label: r.label,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  revokedAt: r.revoked_at,
});

export class TokenStore {
  constructor(private readonly db: Database.Database) {}

  addApiToken(t: { id: string; kind: ApiTokenKind; secretHash: string; label?: string; expiresAt: Date; now: Date }): void {
    this.db
      .prepare('INSERT INTO api_tokens (id, kind, secret_hash, label, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(t.id, t.kind, t.secretHash, t.label ?? null, t.now.toISOString(), t.expiresAt.toISOString());
  }

  apiToken(id: string): ApiTokenRecord | undefined {
    const row = this.db.prepare('SELECT * FROM api_tokens WHERE id = ?').get(id) as TokenRow | undefined;
    return row && toToken(row);
  }

  listApiTokens(): ApiTokenRecord[] {
    return (this.db.prepare('SELECT * FROM api_tokens ORDER BY created_at').all() as TokenRow[]).map(toToken);
  }

  /** True when a live token was revoked now. */
  revokeApiToken(id: string, now: Date): boolean {
    return this.db.prepare('UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(now.toISOString(), id).changes > 0;
  }

  /** Withdraw an unused enrolment token (by the hash of its secret). */
  revokeEnrollToken(hash: string): boolean {
    return this.db.prepare('DELETE FROM enroll_tokens WHERE token_hash = ? AND used_at IS NULL').run(hash).changes > 0;
  }

  isBlocked(deviceId: string): boolean {
    return this.db.prepare('SELECT 1 FROM revoked_devices WHERE device_id = ?').get(deviceId) !== undefined;
  }

  /**
   * Cut a device off: its password hash goes, its status row goes (so no rollout waits on it)
   * and its id is blocked from re-enrolment until unblocked. One transaction.
   */
  revokeDevice(deviceId: string, now: Date): { existed: boolean } {
    return this.db.transaction(() => {
      const creds = this.db.prepare('DELETE FROM device_credentials WHERE device_id = ?').run(deviceId).changes;
      const status = this.db.prepare('DELETE FROM devices WHERE id = ?').run(deviceId).changes;
      this.db.prepare('INSERT OR REPLACE INTO revoked_devices (device_id, revoked_at) VALUES (?, ?)').run(deviceId, now.toISOString());
      return { existed: creds + status > 0 };
    })();
  }

  /** Let a revoked id enrol again. */
  unblockDevice(deviceId: string): boolean {
    return this.db.prepare('DELETE FROM revoked_devices WHERE device_id = ?').run(deviceId).changes > 0;
  }

  /** Every id the hub knows as an identity: enrolled, revoked, or both. */
  listIdentities(): DeviceIdentityRecord[] {
    const rows = this.db
      .prepare(
        `SELECT id, MAX(enrolled_at) AS enrolled_at, MAX(revoked_at) AS revoked_at FROM (
           SELECT device_id AS id, created_at AS enrolled_at, NULL AS revoked_at FROM device_credentials
           UNION ALL SELECT device_id AS id, NULL, revoked_at FROM revoked_devices
         ) GROUP BY id ORDER BY id`,
      )
      .all() as { id: string; enrolled_at: string | null; revoked_at: string | null }[];
    return rows.map((r) => ({ id: r.id, enrolledAt: r.enrolled_at, revokedAt: r.revoked_at }));
  }
}

import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DeviceStatus, SignedRelease } from '@edgeml/core';
import { migrations } from './migrations.js';
import { FleetStore } from './fleet-store.js';
import { RolloutStore } from './rollout-store.js';
import { DesiredStore } from './desired-store.js';
import { LivenessStore } from './liveness-store.js';
import { LineageStore } from './lineage-store.js';
import { ScopeStore, type EnrolmentScope } from './scope-store.js';
import { TokenStore, securityMigrations } from './token-store.js';
import { EventStore, eventMigrations } from '../events/store.js';
import { SeriesStore } from '../web/series.js';

/** What the rollout controller needs of a device, read from rows changed since a sequence number. */
export interface DeviceChange {
  id: string;
  state: string;
  version: number | null;
  lastError: string | null;
  /** The version the device last rolled back or refused (from its status). */
  failedVersion: number | null;
  seq: number;
}

/** Rows read and parsed, by table: how tests hold the controller's per-tick work to what changed. */
export interface RowsRead {
  devices: number;
  rollouts: number;
}

export interface VersionRecord {
  model: string;
  version: number;
  channel: string;
  sha256: string;
  sizeBytes: number;
  format: string;
  runtime: string;
  metrics: Record<string, unknown>;
  envelope: SignedRelease;
  status: string;
  createdAt: string;
  /** Digest of the inputs `edgeml release` built it from. */
  fingerprint?: string | null;
}

export interface DeviceRecord {
  id: string;
  online: boolean;
  state: string;
  model: string | null;
  version: number | null;
  previousVersion: number | null;
  health: string;
  lastError: string | null;
  lastSeen: string;
  /** The last message of any kind from the device (null: none since the hub kept liveness). */
  lastContact: string | null;
  tags: string[];
  /** The full last status (p95, requests, failed version, ...). */
  status: DeviceStatus;
}

interface VersionRow {
  model: string;
  version: number;
  channel: string;
  sha256: string;
  size_bytes: number;
  format: string;
  runtime: string;
  metrics_json: string;
  envelope_json: string;
  status: string;
  created_at: string;
  fingerprint?: string | null;
}

const toVersion = (r: VersionRow): VersionRecord => ({
  model: r.model,
  version: r.version,
  channel: r.channel,
  sha256: r.sha256,
  sizeBytes: r.size_bytes,
  format: r.format,
  runtime: r.runtime,
  metrics: JSON.parse(r.metrics_json) as Record<string, unknown>,
  envelope: JSON.parse(r.envelope_json) as SignedRelease,
  status: r.status,
  createdAt: r.created_at,
  fingerprint: r.fingerprint ?? null,
});

/** The hub's registry of models, versions and devices, in one SQLite file (WAL). */
export class Registry {
  private readonly db: Database.Database;
  private upsertStmt: Database.Statement | undefined;
  private bumpStmt: Database.Statement | undefined;
  readonly rowsRead: RowsRead = { devices: 0, rollouts: 0 };
  /** Telemetry, feedback, benchmarks: the fleet's side of the registry. */
  readonly fleet: FleetStore;

  constructor(file: string) {
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    this.db = new Database(file);
    // WAL lets the CLI read while the hub writes; NORMAL sync is durable across process crashes.
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    this.fleet = new FleetStore(this.db);
    this.rollouts = new RolloutStore(this.db, this.rowsRead);
    this.desired = new DesiredStore(this.db, (what, error) => this.onCorrupt(what, error));
    this.liveness = new LivenessStore(this.db);
    this.scopes = new ScopeStore(this.db);
    this.tokens = new TokenStore(this.db);
    this.events = new EventStore(this.db);
    this.series = new SeriesStore(this.db);
    this.lineage = new LineageStore(this.db);
  }

  /** Hub events and webhook deliveries (events/store.ts). */
  readonly events: EventStore;
  /** Per-version figures over time, for the dashboard's charts (web/series.ts). */
  readonly series: SeriesStore;

  /** Where each version came from, and the retraining runs. */
  readonly lineage: LineageStore;

  /** API tokens by kind and revoked device ids. */
  readonly tokens: TokenStore;

  /** The model, channel and tags each device was enrolled for. */
  readonly scopes: ScopeStore;

  readonly rollouts: RolloutStore;
  /** What each model channel and device should run now. */
  readonly desired: DesiredStore;
  readonly liveness: LivenessStore;
  /** Rows that could not be read; reported by whoever owns the registry, then skipped. */
  onCorrupt: (what: string, error: string) => void = () => undefined;

  private migrate(): void {
    this.db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
    const applied = new Set((this.db.prepare('SELECT id FROM schema_migrations').all() as { id: number }[]).map((r) => r.id));
    for (const m of [...migrations, ...securityMigrations, ...eventMigrations].sort((a, b) => a.id - b.id)) {
      if (applied.has(m.id)) continue;
      this.db.transaction(() => {
        this.db.exec(m.sql);
        this.db.prepare('INSERT INTO schema_migrations (id, name, applied_at) VALUES (?, ?, ?)').run(m.id, m.name, new Date().toISOString());
      })();
    }
  }

  /** Run `fn` in one write transaction (taken at once, so two writers never interleave). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  schemaVersion(): number {
    return (this.db.prepare('SELECT MAX(id) AS v FROM schema_migrations').get() as { v: number }).v;
  }

  nextVersion(model: string): number {
    const row = this.db.prepare('SELECT MAX(version) AS v FROM versions WHERE model = ?').get(model) as { v: number | null };
    return (row.v ?? 0) + 1;
  }

  /** The version published from exactly these inputs (data, config), if any. */
  versionByFingerprint(model: string, fingerprint: string): VersionRecord | undefined {
    const row = this.db.prepare('SELECT * FROM versions WHERE model = ? AND fingerprint = ? ORDER BY version DESC').get(model, fingerprint) as VersionRow | undefined;
    return row && toVersion(row);
  }

  addVersion(rec: Omit<VersionRecord, 'createdAt'> & { task: string; fingerprint?: string }): VersionRecord {
    const createdAt = new Date().toISOString();
    this.db.transaction(() => {
      this.db.prepare('INSERT OR IGNORE INTO models (name, task, created_at) VALUES (?, ?, ?)').run(rec.model, rec.task, createdAt);
      this.db
        .prepare(
          `INSERT INTO versions (model, version, channel, sha256, size_bytes, format, runtime, metrics_json, envelope_json, status, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(rec.model, rec.version, rec.channel, rec.sha256, rec.sizeBytes, rec.format, rec.runtime, JSON.stringify(rec.metrics), JSON.stringify(rec.envelope), rec.status, createdAt);
      if (rec.fingerprint) this.db.prepare('UPDATE versions SET fingerprint = ? WHERE model = ? AND version = ?').run(rec.fingerprint, rec.model, rec.version);
    })();
    return { ...rec, createdAt };
  }

  setVersionStatus(model: string, version: number, status: string): void {
    this.db.prepare('UPDATE versions SET status = ? WHERE model = ? AND version = ?').run(status, model, version);
  }

  getVersion(model: string, version: number): VersionRecord | undefined {
    const row = this.db.prepare('SELECT * FROM versions WHERE model = ? AND version = ?').get(model, version) as VersionRow | undefined;
    return row && toVersion(row);
  }

  listVersions(model?: string): VersionRecord[] {
    const rows = (model === undefined
      ? this.db.prepare('SELECT * FROM versions ORDER BY model, version').all()
      : this.db.prepare('SELECT * FROM versions WHERE model = ? ORDER BY version').all(model)) as VersionRow[];
    return this.versionsOrSkip(rows);
  }

  /** The newest published version of each model and channel: what must be retained on the broker. */
  latestPublished(): VersionRecord[] {
    const rows = this.db
      .prepare(
        `SELECT v.* FROM versions v
         JOIN (SELECT model, channel, MAX(version) AS version FROM versions WHERE status = 'published' GROUP BY model, channel) m
           ON v.model = m.model AND v.channel = m.channel AND v.version = m.version`,
      )
      .all() as VersionRow[];
    return this.versionsOrSkip(rows);
  }

  private versionsOrSkip(rows: VersionRow[]): VersionRecord[] {
    const out: VersionRecord[] = [];
    for (const r of rows) {
      try {
        out.push(toVersion(r));
      } catch (e) {
        this.onCorrupt(`version ${r.model} v${r.version}`, (e as Error).message);
      }
    }
    return out;
  }

  upsertDevice(s: DeviceStatus): void {
    this.upsertDevices([s]);
  }

  /** Many statuses in one transaction: a fleet reporting at once costs one commit, not one each. */
  upsertDevices(statuses: Iterable<DeviceStatus>): void {
    this.upsertStmt ??= this.db.prepare(
      `INSERT INTO devices (id, online, state, model, version, previous_version, health, last_error, last_seen, status_json, tags_json, change_seq)
       VALUES (@id, @online, @state, @model, @version, @previousVersion, @health, @lastError, @lastSeen, @json, @tags, @seq)
       ON CONFLICT(id) DO UPDATE SET online = @online, state = @state, model = @model, version = @version,
         previous_version = @previousVersion, health = @health, last_error = @lastError, last_seen = @lastSeen, status_json = @json, tags_json = @tags, change_seq = @seq`,
    );
    this.bumpStmt ??= this.db.prepare("UPDATE registry_counters SET value = value + 1 WHERE name = 'devices' RETURNING value");
    const stmt = this.upsertStmt;
    const bump = this.bumpStmt;
    this.db.transaction(() => {
      for (const s of statuses) {
        stmt.run({
          seq: (bump.get() as { value: number }).value,
          id: s.deviceId,
          online: s.online ? 1 : 0,
          state: s.state,
          model: s.model,
          version: s.version,
          previousVersion: s.previousVersion,
          health: s.health,
          lastError: s.lastError,
          lastSeen: s.updatedAt,
          json: JSON.stringify(s),
          tags: JSON.stringify(s.tags),
        });
      }
    })();
  }

  /**
   * Devices whose status row changed after `seq`, oldest change first, at most `limit`. Only
   * plain columns and one field of the status are read (a corrupt status reads as no failure).
   */
  devicesChangedSince(seq: number, limit = 5000): DeviceChange[] {
    const rows = this.db
      .prepare(
        `SELECT id, state, version, last_error, change_seq,
           CASE WHEN json_valid(status_json) THEN json_extract(status_json, '$.failedVersion') END AS failed_version
         FROM devices WHERE change_seq > ? ORDER BY change_seq LIMIT ?`,
      )
      .all(seq, limit) as { id: string; state: string; version: number | null; last_error: string | null; change_seq: number; failed_version: unknown }[];
    this.rowsRead.devices += rows.length;
    return rows.map((r) => ({
      id: r.id,
      state: r.state,
      version: r.version,
      lastError: r.last_error,
      failedVersion: typeof r.failed_version === 'number' ? r.failed_version : null,
      seq: r.change_seq,
    }));
  }

  getDevice(id: string): DeviceRecord | undefined {
    const row = this.db.prepare(`${DEVICE_SELECT} WHERE d.id = ?`).get(id) as Record<string, unknown> | undefined;
    if (row) this.rowsRead.devices++;
    return row && this.toDeviceOrSkip(row);
  }

  listDevices(): DeviceRecord[] {
    const rows = this.db.prepare(`${DEVICE_SELECT} ORDER BY d.id`).all() as Record<string, unknown>[];
    this.rowsRead.devices += rows.length;
    return rows.map((r) => this.toDeviceOrSkip(r)).filter((d): d is DeviceRecord => d !== undefined);
  }

  private toDeviceOrSkip(r: Record<string, unknown>): DeviceRecord | undefined {
    try {
      return toDevice(r);
    } catch (e) {
      this.onCorrupt(`device ${String(r.id)}`, (e as Error).message);
      return undefined;
    }
  }

  /** A one-time enrolment token (its hash), valid until `expiresAt`. */
  addEnrollToken(hash: string, expiresAt: Date, scope?: EnrolmentScope): void {
    this.db.prepare('INSERT INTO enroll_tokens (token_hash, expires_at) VALUES (?, ?)').run(hash, expiresAt.toISOString());
    if (scope) this.scopes.setTokenScope(hash, scope);
  }

  /**
   * Spend a token for `deviceId` and store the device's secret hash, in one transaction: a
   * token works once, and an enrolled id cannot be taken over by a second token.
   */
  enrollDevice(hash: string, deviceId: string, secretHash: string, now: Date): 'ok' | 'bad-token' | 'device-exists' {
    return this.db.transaction(() => {
      const t = this.db.prepare('SELECT expires_at, used_at FROM enroll_tokens WHERE token_hash = ?').get(hash) as { expires_at: string; used_at: string | null } | undefined;
      if (!t || t.used_at !== null || Date.parse(t.expires_at) <= now.getTime()) return 'bad-token';
      if (this.db.prepare('SELECT 1 FROM device_credentials WHERE device_id = ?').get(deviceId)) return 'device-exists';
      this.db.prepare('UPDATE enroll_tokens SET used_at = ?, device_id = ? WHERE token_hash = ?').run(now.toISOString(), deviceId, hash);
      this.db.prepare('INSERT INTO device_credentials (device_id, secret_hash, created_at) VALUES (?, ?, ?)').run(deviceId, secretHash, now.toISOString());
      this.scopes.copyToDevice(hash, deviceId);
      return 'ok';
    })();
  }

  deviceSecretHash(deviceId: string): string | undefined {
    return (this.db.prepare('SELECT secret_hash FROM device_credentials WHERE device_id = ?').get(deviceId) as { secret_hash: string } | undefined)?.secret_hash;
  }

  /** Record that `version` failed on a device (rolled back or refused); kept once per version, so true only the first time. */
  recordFailure(deviceId: string, model: string, version: number, reason: string, at: string): boolean {
    return this.db.prepare('INSERT OR IGNORE INTO device_failures (device_id, model, version, reason, at) VALUES (?, ?, ?, ?, ?)').run(deviceId, model, version, reason, at).changes > 0;
  }

  failures(model?: string): { deviceId: string; model: string; version: number; reason: string; at: string }[] {
    const rows = (model === undefined
      ? this.db.prepare('SELECT * FROM device_failures ORDER BY at').all()
      : this.db.prepare('SELECT * FROM device_failures WHERE model = ? ORDER BY at').all(model)) as Record<string, unknown>[];
    return rows.map((r) => ({ deviceId: r.device_id as string, model: r.model as string, version: r.version as number, reason: r.reason as string, at: r.at as string }));
  }

  close(): void {
    this.db.close();
  }
}

// Liveness, when the hub has any for the device, says whether it is online; the status row
// keeps its last known state and version.
const DEVICE_SELECT = `SELECT d.*, l.online AS live_online, l.last_contact AS last_contact FROM devices d LEFT JOIN device_liveness l ON l.device_id = d.id`;

const toDevice = (r: Record<string, unknown>): DeviceRecord => ({
  id: r.id as string,
  online: (r.live_online ?? r.online) === 1,
  state: r.state as string,
  model: r.model as string | null,
  version: r.version as number | null,
  previousVersion: r.previous_version as number | null,
  health: r.health as string,
  lastError: r.last_error as string | null,
  lastSeen: r.last_seen as string,
  lastContact: (r.last_contact as string | null) ?? null,
  tags: JSON.parse(r.tags_json as string) as string[],
  status: JSON.parse(r.status_json as string) as DeviceStatus,
});

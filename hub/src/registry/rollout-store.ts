/**
 * Rollouts in SQLite: every decision the controller takes is a row update, so a hub restart
 * resumes each rollout where it stood.
 */
import type Database from 'better-sqlite3';
import { z } from 'zod';

export const RolloutPlanSchema = z.object({
  /** Canary devices: a count, a share of the fleet, or devices with these tags. */
  canary: z.object({ count: z.number().int().positive().optional(), percent: z.number().positive().max(100).optional(), tags: z.array(z.string()).optional() }).default({ count: 1 }),
  /** Cumulative shares of the fleet after each wave after the canary, ending at 100. */
  waves: z.array(z.number().positive().max(100)).default([100]),
  /** How long each wave runs on real traffic before its gates are judged. */
  soakMs: z.number().int().nonnegative().default(60_000),
  /** Ask the canaries to benchmark the candidate in their own runtime first. */
  benchmark: z.boolean().default(true),
  /** How long a wave may take to report the version active. */
  waveTimeoutMs: z.number().int().positive().default(300_000),
  gates: z
    .object({
      /** Largest p95 per-row latency (ms) in the canaries' benchmark. */
      benchP95Ms: z.number().positive().optional(),
      maxP95Ms: z.number().positive().optional(),
      maxErrorRate: z.number().min(0).max(1).optional(),
      /** Live accuracy from feedback must stay at least this... */
      minLiveAccuracy: z.number().min(0).max(1).optional(),
      /** ...or within this much of the version's test accuracy. */
      maxAccuracyDrop: z.number().min(0).max(1).optional(),
      /** Fewest labels before live accuracy is judged. */
      minLabels: z.number().int().positive().default(20),
      /** Largest population stability index on any feature. */
      maxDrift: z.number().positive().optional(),
      /** Fewest rows served before p95, error rate and drift are judged. */
      minSamples: z.number().int().positive().optional(),
    })
    .default({ minLabels: 20 }),
});
export type RolloutPlan = z.infer<typeof RolloutPlanSchema>;

export type RolloutState = 'pending' | 'benchmarking' | 'wave' | 'soaking' | 'paused' | 'rolling-back' | 'halted' | 'completed' | 'aborted';
export const ACTIVE_STATES: readonly RolloutState[] = ['pending', 'benchmarking', 'wave', 'soaking', 'paused', 'rolling-back'];

export interface RolloutDevices {
  /** Devices in order: canaries first. */
  order: string[];
  canary: string[];
  /** Devices the new version was sent to. */
  upgraded: string[];
  benchRequest?: { id: string; sentAt: string };
  /** The state a pause interrupted. */
  pausedFrom?: RolloutState;
}

export interface Rollout {
  id: number;
  model: string;
  channel: string;
  version: number;
  fromVersion: number | null;
  plan: RolloutPlan;
  state: RolloutState;
  wave: number;
  waveStartedAt: string | null;
  devices: RolloutDevices;
  reason: string | null;
  requested: 'pause' | 'resume' | 'abort' | null;
  createdAt: string;
  updatedAt: string;
  /** Bumped by every update: what a tick compares to know the rollout changed. */
  rev: number;
}

const toRollout = (r: Record<string, unknown>): Rollout => ({
  id: r.id as number,
  model: r.model as string,
  channel: r.channel as string,
  version: r.version as number,
  fromVersion: r.from_version as number | null,
  plan: JSON.parse(r.plan_json as string) as RolloutPlan,
  state: r.state as RolloutState,
  wave: r.wave as number,
  waveStartedAt: r.wave_started_at as string | null,
  devices: JSON.parse(r.devices_json as string) as RolloutDevices,
  reason: r.reason as string | null,
  requested: r.requested as Rollout['requested'],
  createdAt: r.created_at as string,
  updatedAt: r.updated_at as string,
  rev: (r.rev as number | undefined) ?? 0,
});

export class RolloutStore {
  constructor(
    private readonly db: Database.Database,
    private readonly rowsRead: { rollouts: number } = { rollouts: 0 },
  ) {}

  private parse(row: Record<string, unknown>): Rollout {
    this.rowsRead.rollouts++;
    return toRollout(row);
  }

  create(r: Pick<Rollout, 'model' | 'channel' | 'version' | 'fromVersion' | 'plan' | 'devices'>): Rollout {
    const now = new Date().toISOString();
    const info = this.db
      .prepare(
        `INSERT INTO rollouts (model, channel, version, from_version, plan_json, state, wave, devices_json, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)`,
      )
      .run(r.model, r.channel, r.version, r.fromVersion, JSON.stringify(r.plan), JSON.stringify(r.devices), now, now);
    return this.get(Number(info.lastInsertRowid))!;
  }

  get(id: number): Rollout | undefined {
    const row = this.db.prepare('SELECT * FROM rollouts WHERE id = ?').get(id) as Record<string, unknown> | undefined;
    return row && this.parse(row);
  }

  list(model?: string): Rollout[] {
    const rows = (model ? this.db.prepare('SELECT * FROM rollouts WHERE model = ? ORDER BY id').all(model) : this.db.prepare('SELECT * FROM rollouts ORDER BY id').all()) as Record<string, unknown>[];
    return rows.map((r) => this.parse(r));
  }

  /** Only the active ones are read and parsed: finished rollouts pile up, ticks must not grow with them. */
  active(): Rollout[] {
    const rows = this.db.prepare(`SELECT * FROM rollouts WHERE state IN (${ACTIVE_STATES.map(() => '?').join(',')}) ORDER BY id`).all(...ACTIVE_STATES) as Record<string, unknown>[];
    return rows.map((r) => this.parse(r));
  }

  /**
   * The active rollouts' ids and revisions, nothing parsed: a tick re-reads only a rollout
   * whose revision moved (every update bumps it).
   */
  activeRevisions(): { id: number; rev: number }[] {
    return this.db.prepare(`SELECT id, rev FROM rollouts WHERE state IN (${ACTIVE_STATES.map(() => '?').join(',')}) ORDER BY id`).all(...ACTIVE_STATES) as { id: number; rev: number }[];
  }

  update(id: number, patch: Partial<Pick<Rollout, 'state' | 'wave' | 'waveStartedAt' | 'devices' | 'reason' | 'requested'>>): Rollout {
    const cur = this.get(id)!;
    const next = { ...cur, ...patch };
    this.db
      .prepare('UPDATE rollouts SET state = ?, wave = ?, wave_started_at = ?, devices_json = ?, reason = ?, requested = ?, updated_at = ?, rev = rev + 1 WHERE id = ?')
      .run(next.state, next.wave, next.waveStartedAt, JSON.stringify(next.devices), next.reason, next.requested, new Date().toISOString(), id);
    return this.get(id)!;
  }
}

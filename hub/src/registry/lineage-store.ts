/**
 * Where each version came from, and every retraining run the hub made. A run is recorded as
 * `running` before its worker starts and finished in one write; a version's lineage is written
 * in the transaction that publishes it, so a killed hub or worker leaves a run marked
 * interrupted (on the next start) and never a version without its lineage.
 */
import type Database from 'better-sqlite3';

export type RunState = 'running' | 'released' | 'not-better' | 'gate-failed' | 'not-enough-labels' | 'failed' | 'timed-out' | 'interrupted';

export interface RetrainRun {
  id: number;
  model: string;
  trigger: { reason: string; figures: Record<string, number | null>; summary: string };
  state: RunState;
  startedAt: string;
  finishedAt: string | null;
  parentVersion: number | null;
  version: number | null;
  /** One line: why the run ended as it did. */
  summary: string | null;
  /** Figures of the run: champion and challenger, gates, refused feedback. */
  result: Record<string, unknown> | null;
}

export interface Lineage {
  model: string;
  version: number;
  runId: number | null;
  parentVersion: number | null;
  trigger: { reason: string; figures?: Record<string, number | null>; summary?: string };
  baseSha256: string | null;
  feedbackSha256: string | null;
  config: unknown;
  edgemlVersion: string;
  metrics: Record<string, unknown>;
  gates: unknown[];
  challenge: Record<string, unknown> | null;
  createdAt: string;
}

/** A stored feedback row as retraining reads it. */
export interface StoredFeedback {
  deviceId: string;
  predictionId: string;
  model: string;
  row: unknown;
  label: string;
  at: string;
}

const json = <T>(s: string | null): T | null => (s === null ? null : (JSON.parse(s) as T));

interface RunRow {
  id: number;
  model: string;
  trigger_json: string;
  state: RunState;
  started_at: string;
  finished_at: string | null;
  parent_version: number | null;
  version: number | null;
  summary: string | null;
  result_json: string | null;
}

const toRun = (r: RunRow): RetrainRun => ({
  id: r.id,
  model: r.model,
  trigger: JSON.parse(r.trigger_json) as RetrainRun['trigger'],
  state: r.state,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
  parentVersion: r.parent_version,
  version: r.version,
  summary: r.summary,
  result: json(r.result_json),
});

export class LineageStore {
  constructor(private readonly db: Database.Database) {}

  startRun(model: string, trigger: RetrainRun['trigger'], parentVersion: number | null, now = new Date()): RetrainRun {
    const r = this.db
      .prepare("INSERT INTO retrain_runs (model, trigger_json, state, started_at, parent_version) VALUES (?, ?, 'running', ?, ?)")
      .run(model, JSON.stringify(trigger), now.toISOString(), parentVersion);
    return this.run(Number(r.lastInsertRowid))!;
  }

  finishRun(id: number, state: Exclude<RunState, 'running'>, summary: string, result: Record<string, unknown> | null, version: number | null = null, now = new Date()): void {
    this.db
      .prepare("UPDATE retrain_runs SET state = ?, summary = ?, result_json = ?, version = ?, finished_at = ? WHERE id = ? AND state = 'running'")
      .run(state, summary, result === null ? null : JSON.stringify(result), version, now.toISOString(), id);
  }

  /** At start-up: a run still `running` belonged to a hub that died; its worker died with it. */
  interruptRunning(now = new Date()): number {
    return this.db.prepare("UPDATE retrain_runs SET state = 'interrupted', summary = 'the hub stopped during the run', finished_at = ? WHERE state = 'running'").run(now.toISOString()).changes;
  }

  run(id: number): RetrainRun | undefined {
    const r = this.db.prepare('SELECT * FROM retrain_runs WHERE id = ?').get(id) as RunRow | undefined;
    return r && toRun(r);
  }

  runs(model: string, limit = 50): RetrainRun[] {
    return (this.db.prepare('SELECT * FROM retrain_runs WHERE model = ? ORDER BY id DESC LIMIT ?').all(model, limit) as RunRow[]).map(toRun);
  }

  lastRun(model: string): RetrainRun | undefined {
    return this.runs(model, 1)[0];
  }

  addLineage(l: Omit<Lineage, 'createdAt'>, now = new Date()): void {
    this.db
      .prepare(
        `INSERT OR REPLACE INTO version_lineage (model, version, run_id, parent_version, trigger_json, base_sha256, feedback_sha256, config_json, edgeml_version, metrics_json, gates_json, challenge_json, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        l.model,
        l.version,
        l.runId,
        l.parentVersion,
        JSON.stringify(l.trigger),
        l.baseSha256,
        l.feedbackSha256,
        JSON.stringify(l.config ?? null),
        l.edgemlVersion,
        JSON.stringify(l.metrics),
        JSON.stringify(l.gates),
        l.challenge === null ? null : JSON.stringify(l.challenge),
        now.toISOString(),
      );
  }

  lineage(model: string, version: number): Lineage | undefined {
    const r = this.db.prepare('SELECT * FROM version_lineage WHERE model = ? AND version = ?').get(model, version) as Record<string, unknown> | undefined;
    if (!r) return undefined;
    return {
      model: r.model as string,
      version: r.version as number,
      runId: r.run_id as number | null,
      parentVersion: r.parent_version as number | null,
      trigger: JSON.parse(r.trigger_json as string) as Lineage['trigger'],
      baseSha256: r.base_sha256 as string | null,
      feedbackSha256: r.feedback_sha256 as string | null,
      config: JSON.parse(r.config_json as string) as unknown,
      edgemlVersion: r.edgeml_version as string,
      metrics: JSON.parse(r.metrics_json as string) as Record<string, unknown>,
      gates: JSON.parse(r.gates_json as string) as unknown[],
      challenge: json(r.challenge_json as string | null),
      createdAt: r.created_at as string,
    };
  }

  /** Every stored feedback row of `model`, oldest first: what a retrain validates and splits. */
  feedback(model: string): StoredFeedback[] {
    const rows = this.db.prepare('SELECT device_id, prediction_id, model, row_json, label, at FROM feedback WHERE model = ? ORDER BY at').all(model) as Record<string, string>[];
    return rows.map((r) => {
      let row: unknown;
      try {
        row = JSON.parse(r.row_json!);
      } catch {
        row = null;
      }
      return { deviceId: r.device_id!, predictionId: r.prediction_id!, model: r.model!, row, label: r.label!, at: r.at! };
    });
  }

  /** Labels of `model` (any version) recorded after `since`. */
  labelsSince(model: string, since: string): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM feedback WHERE model = ? AND at > ?').get(model, since) as { n: number }).n;
  }

  /** Moves whenever a telemetry or feedback record is stored: the trigger loop skips its work when it has not. */
  changeMark(): string {
    const f = this.db.prepare('SELECT MAX(rowid) AS n FROM feedback').get() as { n: number | null };
    const t = this.db.prepare('SELECT MAX(rowid) AS n FROM telemetry').get() as { n: number | null };
    return `${f.n ?? 0}/${t.n ?? 0}`;
  }
}

/**
 * Fleet data in the registry: telemetry and feedback (stored idempotently by device and record
 * id), device benchmarks, and the health figures the rollout gates and `fleet status` read.
 */
import type Database from 'better-sqlite3';
import { LATENCY_BUCKETS_MS, p95FromBuckets, type DriftReference, type FeedbackRecord, type Telemetry } from '@edgeml/core';
import { psi } from '@edgeml/ml';

export interface Health {
  requests: number;
  rows: number;
  errors: number;
  errorRate: number | null;
  /** Per-row p95 latency (ms) from the merged histograms: the bucket's upper bound. */
  p95Ms: number | null;
  labels: number;
  liveAccuracy: number | null;
  /** Largest population stability index over the features, against the release's reference. */
  drift: number | null;
  driftByFeature: number[];
  evicted: number;
  /** Records merged into these figures. */
  telemetryRecords: number;
  /** Stored records left out because they do not fit the layout (bad rows from before admission checks). */
  skippedRecords: number;
}

export interface HealthQuery {
  model: string;
  version: number;
  devices?: readonly string[];
  /** Only records received after this instant (ISO). */
  since?: string;
  /** Merge at most this many of the newest telemetry records (default DEFAULT_HEALTH_WINDOW). */
  limit?: number;
}

/** Telemetry records one health figure merges at most: enough for a fleet's recent minutes. */
export const DEFAULT_HEALTH_WINDOW = 10_000;

interface StoredTelemetry {
  requests: number;
  rows_served: number;
  errors: number;
  evicted: number;
  latency_json: string;
  features_json: string;
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * A stored record's latency buckets and feature histograms, or undefined when they do not have
 * the fixed bucket layout and `layout`'s histogram sizes (when given), or hold anything but counts.
 */
function readStored(r: StoredTelemetry, layout: number[] | undefined): { latency: number[]; features: number[][] } | undefined {
  if (![r.requests, r.rows_served, r.errors, r.evicted].every(isCount)) return undefined;
  let latency: unknown;
  let features: unknown;
  try {
    latency = JSON.parse(r.latency_json);
    features = JSON.parse(r.features_json);
  } catch {
    return undefined;
  }
  if (!Array.isArray(latency) || latency.length !== LATENCY_BUCKETS_MS.length + 1 || !latency.every(isCount)) return undefined;
  if (!Array.isArray(features) || (layout && features.length !== layout.length)) return undefined;
  const hist: number[][] = [];
  for (const [j, f] of features.entries()) {
    const h = (f as { histogram?: unknown } | null)?.histogram;
    if (!Array.isArray(h) || !h.every(isCount) || (layout && h.length !== layout[j])) return undefined;
    hist.push(h as number[]);
  }
  return { latency: latency as number[], features: hist };
}

export class FleetStore {
  constructor(private readonly db: Database.Database) {}

  /** True when the record is new; a redelivered record changes nothing. */
  addTelemetry(t: Telemetry, receivedAt = new Date().toISOString()): boolean {
    const r = this.db
      .prepare(
        `INSERT OR IGNORE INTO telemetry (device_id, id, model, version, period_from, period_to, requests, rows_served, errors, rejected, evicted, latency_json, predictions_json, features_json, received_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(t.deviceId, t.id, t.model, t.version, t.from, t.to, t.requests, t.rows, t.errors, t.rejected, t.evicted, JSON.stringify(t.latencyBuckets), JSON.stringify(t.predictions), JSON.stringify(t.features), receivedAt);
    return r.changes > 0;
  }

  addFeedback(f: FeedbackRecord): boolean {
    const correct = typeof f.label === 'number' ? Math.abs(f.label - Number(f.predicted)) <= 1e-9 : f.label === f.predicted;
    const r = this.db
      .prepare(
        `INSERT OR IGNORE INTO feedback (device_id, id, model, version, prediction_id, label, predicted, correct, row_json, at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(f.deviceId, f.id, f.model, f.version, f.predictionId, String(f.label), String(f.predicted), correct ? 1 : 0, JSON.stringify(f.row), f.at);
    return r.changes > 0;
  }

  counts(): { telemetry: number; feedback: number } {
    const t = this.db.prepare('SELECT COUNT(*) AS n FROM telemetry').get() as { n: number };
    const f = this.db.prepare('SELECT COUNT(*) AS n FROM feedback').get() as { n: number };
    return { telemetry: t.n, feedback: f.n };
  }

  /** Telemetry sums for the whole run of records, per device (for tests and exports). */
  telemetryTotals(model: string): { deviceId: string; requests: number; records: number }[] {
    return this.db
      .prepare('SELECT device_id AS deviceId, SUM(requests) AS requests, COUNT(*) AS records FROM telemetry WHERE model = ? GROUP BY device_id ORDER BY device_id')
      .all(model) as { deviceId: string; requests: number; records: number }[];
  }

  health(q: HealthQuery, reference?: DriftReference): Health {
    const where = ['model = ?', 'version = ?'];
    const args: unknown[] = [q.model, q.version];
    if (q.devices) {
      // One parameter however large the fleet: a list of `?` overflows SQLite's limit on
      // bound parameters (32,766) past that many devices.
      where.push('device_id IN (SELECT value FROM json_each(?))');
      args.push(JSON.stringify(q.devices));
    }
    const telemetryWhere = q.since ? [...where, 'received_at > ?'] : where;
    // The newest records only: the cost of one analysis must not grow with everything stored.
    const limit = q.limit ?? DEFAULT_HEALTH_WINDOW;
    const rows = this.db
      .prepare(`SELECT requests, rows_served, errors, evicted, latency_json, features_json FROM telemetry WHERE ${telemetryWhere.join(' AND ')} ORDER BY received_at DESC LIMIT ?`)
      .all(...args, ...(q.since ? [q.since] : []), limit) as StoredTelemetry[];
    const buckets = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);
    let requests = 0;
    let served = 0;
    let errors = 0;
    let evicted = 0;
    let used = 0;
    let skipped = 0;
    // The layout every record must have to be merged: the release's, else the first good record's.
    let layout: number[] | undefined = reference?.expected.map((e) => e.length);
    let histograms: number[][] | undefined;
    for (const r of rows) {
      const rec = readStored(r, layout);
      if (!rec) {
        // Stored before admission checks existed (or by hand): skip it, never crash on it.
        skipped++;
        continue;
      }
      layout ??= rec.features.map((f) => f.length);
      used++;
      requests += r.requests;
      served += r.rows_served;
      errors += r.errors;
      evicted += r.evicted;
      rec.latency.forEach((c, i) => (buckets[i]! += c));
      histograms ??= layout.map((n) => new Array<number>(n).fill(0));
      rec.features.forEach((h, j) => h.forEach((c, b) => (histograms![j]![b]! += c)));
    }
    const feedbackWhere = q.since ? [...where, 'at > ?'] : where;
    const fb = this.db.prepare(`SELECT COUNT(*) AS n, SUM(correct) AS ok FROM feedback WHERE ${feedbackWhere.join(' AND ')}`).get(...args, ...(q.since ? [q.since] : [])) as { n: number; ok: number | null };
    const driftByFeature = reference && histograms ? reference.expected.map((e, j) => psi(e, histograms![j] ?? [])) : [];
    const observed = histograms?.some((h) => h.some((c) => c > 0)) ?? false;
    return {
      requests,
      rows: served,
      errors,
      errorRate: requests ? errors / requests : null,
      p95Ms: p95FromBuckets(buckets),
      labels: fb.n,
      liveAccuracy: fb.n ? (fb.ok ?? 0) / fb.n : null,
      drift: observed && driftByFeature.length ? Math.max(...driftByFeature) : null,
      driftByFeature,
      evicted,
      telemetryRecords: used,
      skippedRecords: skipped,
    };
  }

  /**
   * Changes whenever a telemetry or feedback record is stored: a verdict judged on the same
   * mark would be judged on the same records.
   */
  changeMark(): string {
    const t = this.db.prepare('SELECT MAX(rowid) AS n FROM telemetry').get() as { n: number | null };
    const f = this.db.prepare('SELECT MAX(rowid) AS n FROM feedback').get() as { n: number | null };
    return `${t.n ?? 0}/${f.n ?? 0}`;
  }

  /** Labelled rows devices sent back, for retraining: features and the true label. */
  labelledRows(model: string): { row: number[]; label: string; version: number; deviceId: string }[] {
    return (this.db.prepare('SELECT row_json, label, version, device_id FROM feedback WHERE model = ? ORDER BY at').all(model) as { row_json: string; label: string; version: number; device_id: string }[]).map(
      (r) => ({ row: JSON.parse(r.row_json) as number[], label: r.label, version: r.version, deviceId: r.device_id }),
    );
  }

  addBenchmark(model: string, version: number, deviceId: string, result: Record<string, unknown>): void {
    this.db.prepare('INSERT OR REPLACE INTO benchmarks (model, version, device_id, result_json, at) VALUES (?, ?, ?, ?, ?)').run(model, version, deviceId, JSON.stringify(result), new Date().toISOString());
  }

  benchmarks(model: string, version: number): { deviceId: string; result: Record<string, number> }[] {
    return (this.db.prepare('SELECT device_id, result_json FROM benchmarks WHERE model = ? AND version = ? ORDER BY device_id').all(model, version) as { device_id: string; result_json: string }[]).map((r) => ({
      deviceId: r.device_id,
      result: JSON.parse(r.result_json) as Record<string, number>,
    }));
  }
}

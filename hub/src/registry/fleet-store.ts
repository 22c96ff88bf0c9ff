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
  telemetryRecords: number;
}

export interface HealthQuery {
  model: string;
  version: number;
  devices?: readonly string[];
  /** Only records received after this instant (ISO). */
  since?: string;
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
      if (q.devices.length === 0) where.push('0');
      else where.push(`device_id IN (${q.devices.map(() => '?').join(',')})`), args.push(...q.devices);
    }
    const telemetryWhere = q.since ? [...where, 'received_at > ?'] : where;
    const rows = this.db.prepare(`SELECT requests, rows_served, errors, evicted, latency_json, features_json FROM telemetry WHERE ${telemetryWhere.join(' AND ')}`).all(...args, ...(q.since ? [q.since] : [])) as {
      requests: number;
      rows_served: number;
      errors: number;
      evicted: number;
      latency_json: string;
      features_json: string;
    }[];
    const buckets = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);
    let requests = 0;
    let served = 0;
    let errors = 0;
    let evicted = 0;
    let histograms: number[][] | undefined;
    for (const r of rows) {
      requests += r.requests;
      served += r.rows_served;
      errors += r.errors;
      evicted += r.evicted;
      (JSON.parse(r.latency_json) as number[]).forEach((c, i) => (buckets[i]! += c));
      const features = JSON.parse(r.features_json) as { histogram: number[] }[];
      histograms ??= features.map((f) => f.histogram.map(() => 0));
      features.forEach((f, j) => f.histogram.forEach((c, b) => (histograms![j]![b] = (histograms![j]![b] ?? 0) + c)));
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
      telemetryRecords: rows.length,
    };
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

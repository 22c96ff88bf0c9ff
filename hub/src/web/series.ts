/**
 * Figures over time per model version, for the dashboard's charts: p50/p95 per-row latency and
 * error rate from telemetry, live accuracy from feedback, drift against each version's training
 * reference. Records are grouped into equal time buckets by when the device measured them
 * (a device that was offline reports late, but its figures land where they happened).
 */
import type Database from 'better-sqlite3';
import { z } from 'zod';
import { LATENCY_BUCKETS_MS, quantileFromBuckets, type DriftReference } from '@edgeml/core';
import { psi } from '@edgeml/ml';

export const SeriesQuerySchema = z.object({
  /** How far back, in hours (at most 30 days). */
  hours: z.coerce.number().positive().max(720).default(24),
  /** Buckets across the window: the chart's resolution. */
  buckets: z.coerce.number().int().min(2).max(500).default(60),
});
export type SeriesQuery = z.infer<typeof SeriesQuerySchema>;

export interface VersionSeries {
  version: number;
  p50Ms: (number | null)[];
  p95Ms: (number | null)[];
  errorRate: (number | null)[];
  accuracy: (number | null)[];
  drift: (number | null)[];
}

export interface Series {
  model: string;
  from: string;
  bucketMs: number;
  /** Start of each bucket, seconds since the epoch (what uPlot takes). */
  times: number[];
  versions: VersionSeries[];
}

/** Telemetry records one chart reads at most, newest first: a bounded cost whatever is stored. */
export const SERIES_MAX_RECORDS = 20_000;

interface Acc {
  latency: number[];
  requests: number;
  errors: number;
  hist: number[][] | undefined;
  labels: number;
  correct: number;
}

const counts = (v: unknown): number[] | undefined => (Array.isArray(v) && v.every((c) => typeof c === 'number' && Number.isFinite(c) && c >= 0) ? (v as number[]) : undefined);

export class SeriesStore {
  constructor(private readonly db: Database.Database) {}

  series(model: string, q: SeriesQuery, references: (version: number) => DriftReference | undefined, now = new Date()): Series {
    const to = now.getTime();
    const from = to - q.hours * 3_600_000;
    const bucketMs = Math.ceil((to - from) / q.buckets);
    const fromIso = new Date(from).toISOString();
    const accs = new Map<number, Acc[]>();
    const acc = (version: number, at: string): Acc | undefined => {
      const i = Math.floor((Date.parse(at) - from) / bucketMs);
      if (!(i >= 0 && i < q.buckets)) return undefined;
      let row = accs.get(version);
      if (!row) accs.set(version, (row = Array.from({ length: q.buckets }, () => ({ latency: [], requests: 0, errors: 0, hist: undefined, labels: 0, correct: 0 }))));
      return row[i];
    };
    const telemetry = this.db
      .prepare('SELECT version, period_to, requests, errors, latency_json, features_json FROM telemetry WHERE model = ? AND version IS NOT NULL AND period_to > ? ORDER BY period_to DESC LIMIT ?')
      .all(model, fromIso, SERIES_MAX_RECORDS) as { version: number; period_to: string; requests: number; errors: number; latency_json: string; features_json: string }[];
    for (const r of telemetry) {
      const a = acc(r.version, r.period_to);
      if (!a) continue;
      // Rows stored before admission checks may not have the layout: they are skipped, never trusted.
      let latency: number[] | undefined;
      let features: unknown;
      try {
        latency = counts(JSON.parse(r.latency_json));
        features = JSON.parse(r.features_json);
      } catch {
        continue;
      }
      if (!latency || latency.length !== LATENCY_BUCKETS_MS.length + 1) continue;
      latency.forEach((c, i) => (a.latency[i] = (a.latency[i] ?? 0) + c));
      a.requests += r.requests;
      a.errors += r.errors;
      if (Array.isArray(features)) {
        const hs = features.map((f) => counts((f as { histogram?: unknown } | null)?.histogram));
        if (hs.every((h): h is number[] => h !== undefined)) {
          if (!a.hist) a.hist = hs.map((h) => [...h]);
          else if (a.hist.length === hs.length) hs.forEach((h, j) => h.forEach((c, b) => (a.hist![j]![b] = (a.hist![j]![b] ?? 0) + c)));
        }
      }
    }
    const feedback = this.db.prepare('SELECT version, at, correct FROM feedback WHERE model = ? AND version IS NOT NULL AND at > ? ORDER BY at DESC LIMIT ?').all(model, fromIso, SERIES_MAX_RECORDS) as { version: number; at: string; correct: number }[];
    for (const f of feedback) {
      const a = acc(f.version, f.at);
      if (!a) continue;
      a.labels++;
      a.correct += f.correct;
    }
    const versions = [...accs.entries()]
      .sort(([a], [b]) => a - b)
      .map(([version, row]): VersionSeries => {
        const ref = references(version);
        return {
          version,
          p50Ms: row.map((a) => quantileFromBuckets(a.latency, 0.5)),
          p95Ms: row.map((a) => quantileFromBuckets(a.latency, 0.95)),
          errorRate: row.map((a) => (a.requests ? a.errors / a.requests : null)),
          accuracy: row.map((a) => (a.labels ? a.correct / a.labels : null)),
          drift: row.map((a) => {
            if (!ref || !a.hist || a.hist.length !== ref.expected.length || !a.hist.some((h) => h.some((c) => c > 0))) return null;
            return Math.max(...ref.expected.map((e, j) => (a.hist![j]!.length === e.length ? psi(e, a.hist![j]!) : 0)));
          }),
        };
      });
    return { model, from: fromIso, bucketMs, times: Array.from({ length: q.buckets }, (_, i) => Math.round((from + i * bucketMs) / 1000)), versions };
  }
}

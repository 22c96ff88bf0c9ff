/**
 * One telemetry period's worth of what the model served: counts, a latency histogram, the
 * prediction distribution and per-feature input statistics binned like the release's drift
 * reference. Updated from the predictor's observer, so it costs a few additions per row.
 */
import { LATENCY_BUCKETS_MS, type FeatureStats, type Release, type Telemetry } from '@edgeml/core';
import { binOf } from '@edgeml/runtime';
import type { Served } from '../serve/predictor.js';

export type WindowFigures = Omit<Telemetry, 'type' | 'id' | 'deviceId' | 'model' | 'evicted'>;
/** The window's counters without its input statistics: what the journal records per request group. */
export type WindowCounts = Omit<WindowFigures, 'features'>;

export class TelemetryWindow {
  private from = new Date();
  private requests = 0;
  private rows = 0;
  private errors = 0;
  private rejected = 0;
  private latency = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);
  private predictions: Record<string, number> = {};
  private features: FeatureStats[] = [];
  private version: number | null = null;
  private release: Release | null = null;

  /** Start counting for the model now serving (a new version starts a new set of features). */
  setRelease(release: Release | null): void {
    // Same version: keep the statistics (merged ones too), but know the release for its bins.
    if (release?.version === this.version) {
      this.release = release;
      return;
    }
    this.release = release;
    this.version = release?.version ?? null;
    const f = release?.spec.features.length ?? 0;
    this.features = Array.from({ length: f }, (_, j) => ({
      count: 0,
      mean: 0,
      m2: 0,
      min: Infinity,
      max: -Infinity,
      histogram: new Array<number>((release?.reference?.edges[j]?.length ?? 0) + 1).fill(0),
    }));
  }

  observe(s: Served): void {
    if (s.version !== this.version) return;
    this.requests++;
    if (s.rejected) {
      this.rejected++;
      return;
    }
    if (!s.ok) {
      this.errors++;
      return;
    }
    this.rows += s.rows;
    const perRow = s.latencyMs / Math.max(1, s.rows);
    let b = 0;
    while (b < LATENCY_BUCKETS_MS.length && perRow > LATENCY_BUCKETS_MS[b]!) b++;
    this.latency[b]! += s.rows;
    for (const p of s.predictions ?? []) {
      const key = 'label' in p ? p.label : bucketValue(p.value);
      this.predictions[key] = (this.predictions[key] ?? 0) + 1;
    }
    if (s.inputs) this.addInputs(s.inputs);
  }

  private addInputs(x: Float32Array): void {
    const f = this.features.length;
    const edges = this.release?.reference?.edges;
    for (let i = 0; i + f <= x.length; i += f) {
      for (let j = 0; j < f; j++) {
        const v = x[i + j]!;
        const st = this.features[j]!;
        // Welford: numerically stable running mean and variance.
        st.count++;
        const d = v - st.mean;
        st.mean += d / st.count;
        st.m2 += d * (v - st.mean);
        if (v < st.min) st.min = v;
        if (v > st.max) st.max = v;
        if (edges) st.histogram[binOf(edges[j]!, v)]!++;
      }
    }
  }

  /** The figures since the last cut, leaving the window open (for a periodic snapshot). */
  peek(now = new Date()): WindowFigures {
    return {
      ...this.counts(now),
      features: this.features.map((s) => ({ ...s, histogram: [...s.histogram], min: s.count ? s.min : 0, max: s.count ? s.max : 0 })),
    };
  }

  /** The counters alone (cheap: no input statistics), as the journal records them. */
  counts(now = new Date()): WindowCounts {
    return {
      version: this.version,
      from: this.from.toISOString(),
      to: now.toISOString(),
      requests: this.requests,
      rows: this.rows,
      errors: this.errors,
      rejected: this.rejected,
      latencyBuckets: [...this.latency],
      predictions: { ...this.predictions },
    };
  }

  /** Drift bins per feature of the statistics kept (what the hub expects of this version). */
  shape(): number[] {
    return this.features.map((s) => s.histogram.length);
  }

  /**
   * Add another window's figures to this one (a window that could not be queued goes back into
   * the open one). Input statistics combine when both count one version.
   */
  merge(f: WindowFigures): void {
    if (f.requests === 0) return;
    if (new Date(f.from) < this.from) this.from = new Date(f.from);
    this.requests += f.requests;
    this.rows += f.rows;
    this.errors += f.errors;
    this.rejected += f.rejected;
    f.latencyBuckets.forEach((n, i) => (this.latency[i] = (this.latency[i] ?? 0) + n));
    for (const [k, n] of Object.entries(f.predictions)) this.predictions[k] = (this.predictions[k] ?? 0) + n;
    // A window without a model yet takes the other's version and statistics.
    if (this.version === null && f.version !== null) {
      this.version = f.version;
      this.features = f.features.map((s) => ({ ...s, histogram: [...s.histogram], min: s.count ? s.min : Infinity, max: s.count ? s.max : -Infinity }));
      return;
    }
    // Statistics of another model's inputs do not mix with this one's: the counts alone are added.
    if (f.version !== this.version || f.features.length !== this.features.length) return;
    f.features.forEach((b, j) => {
      const a = this.features[j]!;
      if (b.count === 0) return;
      // Chan et al.: the combined mean and M2 of two Welford accumulators.
      const n = a.count + b.count;
      const d = b.mean - a.mean;
      a.m2 += b.m2 + (d * d * a.count * b.count) / n;
      a.mean += (d * b.count) / n;
      a.count = n;
      a.min = Math.min(a.min, b.min);
      a.max = Math.max(a.max, b.max);
      b.histogram.forEach((c, i) => (a.histogram[i] = (a.histogram[i] ?? 0) + c));
    });
  }

  /** Whether anything was counted since the last cut. */
  get empty(): boolean {
    return this.requests === 0;
  }

  /** The figures since the last cut, and a fresh window. */
  cut(now = new Date()): WindowFigures {
    const figures = this.peek(now);
    this.from = now;
    this.requests = this.rows = this.errors = this.rejected = 0;
    this.latency = this.latency.map(() => 0);
    this.predictions = {};
    const release = this.release;
    this.version = null;
    this.setRelease(release);
    return figures;
  }
}

/** Regression outputs are counted in coarse buckets: the distribution, not every value. */
function bucketValue(v: number): string {
  if (!Number.isFinite(v)) return 'nan';
  const mag = Math.pow(10, Math.floor(Math.log10(Math.abs(v) || 1)));
  return String(Math.floor(v / mag) * mag);
}


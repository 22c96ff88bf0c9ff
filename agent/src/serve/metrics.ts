/**
 * The agent's Prometheus metrics, on a registry of its own (never prom-client's global one, so
 * two agents in one process, as in tests, do not share counters). Predict latency and rows come
 * from the predictor's observers, so requests merged into one runtime call are each counted.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Predictor } from './predictor.js';

/** Seconds; a device model answers in tens of microseconds to a few hundred milliseconds. */
const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export interface ApiMetrics {
  readonly registry: Registry;
  /** Count one response; `route` must come from a fixed set (never the raw path). */
  request(route: string, status: number, seconds: number): void;
  merged(requests: number, rows: number): void;
  feedback(): void;
  text(): Promise<string>;
  readonly contentType: string;
  stop(): void;
}

export function createApiMetrics(predictor: Predictor, opts: { defaultMetrics?: boolean } = {}): ApiMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) {
    // A coarse event-loop sampler: the default (10 ms) wakes an idle device 100 times a second.
    collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 100 });
  }
  const requests = new Counter({
    name: 'edgeml_http_requests_total',
    help: 'HTTP requests to the local API by route and status code',
    labelNames: ['route', 'status'] as const,
    registers: [registry],
  });
  const httpSeconds = new Histogram({
    name: 'edgeml_http_request_duration_seconds',
    help: 'Time from request to response by route, including reading the body and waiting for a merged call',
    labelNames: ['route'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const predictSeconds = new Histogram({
    name: 'edgeml_predict_duration_seconds',
    help: "Model path time per served request (checks, preprocessing, runtime, decoding); a merged request is charged its rows' share",
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const rows = new Counter({ name: 'edgeml_rows_predicted_total', help: 'Rows the model predicted', registers: [registry] });
  const rejected = new Counter({ name: 'edgeml_predict_rejected_total', help: 'Predict requests refused for bad input before reaching the model', registers: [registry] });
  const failures = new Counter({ name: 'edgeml_predict_failures_total', help: 'Predict requests that failed in the model itself', registers: [registry] });
  const mergedRequests = new Histogram({
    name: 'edgeml_predict_merged_requests',
    help: 'Requests merged into one runtime call by adaptive batching (only calls that merged two or more)',
    buckets: [2, 4, 8, 16, 32, 64, 128, 256],
    registers: [registry],
  });
  const feedback = new Counter({ name: 'edgeml_feedback_total', help: 'Feedback labels accepted', registers: [registry] });
  // Gauges filled at scrape time from the serving model; they need no handle.
  new Gauge({
    name: 'edgeml_model_info',
    help: 'The serving model (value 1), with its name, version, artifact format and runtime as labels',
    labelNames: ['model', 'version', 'format', 'runtime'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const m = predictor.active;
      if (m) this.set({ model: m.release.model, version: String(m.release.version), format: m.release.artifact.format, runtime: m.runtime.info.runtime }, 1);
    },
  });
  new Gauge({
    name: 'edgeml_model_version',
    help: 'Version of the serving model (0 when none is installed)',
    registers: [registry],
    collect() {
      this.set(predictor.active?.release.version ?? 0);
    },
  });

  const byRoute = new Map<string, { count: { inc(): void }; seconds: { observe(v: number): void } }>();

  const stop = predictor.observe((s) => {
    if (s.rejected) {
      rejected.inc();
      return;
    }
    if (!s.ok) {
      failures.inc();
      return;
    }
    rows.inc(s.rows);
    predictSeconds.observe(s.latencyMs / 1000);
  });

  return {
    registry,
    contentType: registry.contentType,
    request(route, status, seconds) {
      // The labelled series are looked up once per route and status: every request pays for a
      // label hash otherwise. Routes and statuses come from fixed sets, so the map stays small.
      const key = `${route} ${status}`;
      let series = byRoute.get(key);
      if (!series) byRoute.set(key, (series = { count: requests.labels(route, String(status)), seconds: httpSeconds.labels(route) }));
      series.count.inc();
      series.seconds.observe(seconds);
    },
    merged(n) {
      mergedRequests.observe(n);
    },
    feedback() {
      feedback.inc();
    },
    text: () => registry.metrics(),
    stop,
  };
}

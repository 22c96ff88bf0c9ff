/**
 * What devices report and the hub answers: telemetry, feedback, commands. Every record a
 * device sends carries an id unique on that device, so the hub can store it idempotently:
 * a record delivered twice after a reconnect is counted once.
 */
import { z } from 'zod';

/** Largest finite float32: models run in float32, so a larger double becomes Infinity there. */
export const FLOAT32_MAX = 3.4028234663852886e38;
const finite = z.number().refine((v) => Number.isFinite(v) && Math.abs(v) <= FLOAT32_MAX, 'a number finite in float32');
const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const deviceId = z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, "letters, digits, '.', '_' or '-'");
const modelName = deviceId;
const instant = z.string().max(64);

/**
 * Bounds on what one device message may carry. A device is not trusted to be small: every
 * array and string it sends has a ceiling, so one message costs the hub a bounded amount to
 * parse, store and analyse. Generous against what an honest agent sends (a model's features,
 * a release's drift bins, a label set).
 */
export const DEVICE_LIMITS = {
  /** Features of one model row (a 64x64 greyscale image is 4,096). */
  features: 16_384,
  histogramBins: 256,
  predictionKeys: 1_024,
  labelLength: 256,
  idLength: 128,
  errorLength: 2_048,
  tags: 32,
  tagLength: 64,
  resultKeys: 64,
} as const;

/** Upper bounds (ms) of the latency histogram's buckets; the last bucket is open-ended. */
export const LATENCY_BUCKETS_MS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 1000] as const;

/**
 * Per-row latency at quantile `q` from LATENCY_BUCKETS_MS counts, interpolated linearly inside
 * the bucket that holds it: reporting the bucket's upper edge would make a 2 ms limit refuse
 * anything past 1 ms. The open last bucket has no upper edge: its lower one is reported.
 */
export function quantileFromBuckets(buckets: readonly number[], q: number): number | null {
  const total = buckets.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    const n = buckets[i]!;
    if (n > 0 && seen + n >= rank) {
      const upper = LATENCY_BUCKETS_MS[i];
      const lower = i === 0 ? 0 : LATENCY_BUCKETS_MS[i - 1]!;
      if (upper === undefined) return LATENCY_BUCKETS_MS[LATENCY_BUCKETS_MS.length - 1]!;
      return lower + ((rank - seen) / n) * (upper - lower);
    }
    seen += n;
  }
  return null;
}

export const p95FromBuckets = (buckets: readonly number[]): number | null => quantileFromBuckets(buckets, 0.95);

export const FeatureStatsSchema = z.object({
  count,
  mean: finite,
  /** Sum of squared deviations from the mean (Welford's M2); variance = m2 / count. */
  m2: finite.nonnegative(),
  min: finite,
  max: finite,
  /** Counts per bin of the release's drift reference (standardised units). */
  histogram: z.array(count).max(DEVICE_LIMITS.histogramBins),
});
export type FeatureStats = z.infer<typeof FeatureStatsSchema>;

export const TelemetrySchema = z.object({
  type: z.literal('telemetry'),
  /** Unique per device: `<seq>`; the hub keys records on (device, id). */
  id: z.string().min(1).max(64),
  deviceId,
  model: modelName,
  version: z.number().int().positive().nullable(),
  from: instant,
  to: instant,
  requests: count,
  rows: count,
  errors: count,
  rejected: count,
  /** Counts per LATENCY_BUCKETS_MS bucket (+1 open bucket) of per-row model latency. */
  latencyBuckets: z.array(count).length(LATENCY_BUCKETS_MS.length + 1, `${LATENCY_BUCKETS_MS.length + 1} latency buckets`),
  /** Predicted class counts (by label) or, for regression, a value summary. */
  predictions: z
    .record(z.string().max(DEVICE_LIMITS.labelLength), count)
    .refine((p) => Object.keys(p).length <= DEVICE_LIMITS.predictionKeys, `at most ${DEVICE_LIMITS.predictionKeys} prediction keys`),
  features: z.array(FeatureStatsSchema).max(DEVICE_LIMITS.features),
  /** Telemetry records dropped on the device because its outbox was full (oldest first). */
  evicted: count,
});
export type Telemetry = z.infer<typeof TelemetrySchema>;

export const FeedbackRecordSchema = z.object({
  type: z.literal('feedback'),
  id: z.string().min(1).max(64),
  deviceId,
  model: modelName,
  version: z.number().int().positive(),
  predictionId: z.string().max(DEVICE_LIMITS.idLength),
  /** The true label (classification) or value (regression) ... */
  label: z.union([z.string().max(DEVICE_LIMITS.labelLength), finite]),
  /** ... and what the model said. */
  predicted: z.union([z.string().max(DEVICE_LIMITS.labelLength), finite]),
  /** The raw input row, for retraining. */
  row: z.array(finite).max(DEVICE_LIMITS.features),
  at: instant,
});
export type FeedbackRecord = z.infer<typeof FeedbackRecordSchema>;

/** Hub -> device commands on `devices/{id}/cmd`; answers on `devices/{id}/cmd/result`. */
export const CommandSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('benchmark'), requestId: z.string(), envelope: z.unknown(), runs: z.number().int().positive().max(100_000).default(500) }),
  z.object({ type: z.literal('resend-status'), requestId: z.string() }),
]);
export type Command = z.infer<typeof CommandSchema>;

export const CommandResultSchema = z.object({
  requestId: z.string().max(DEVICE_LIMITS.idLength),
  deviceId,
  ok: z.boolean(),
  error: z.string().max(DEVICE_LIMITS.errorLength).optional(),
  result: z
    .record(z.string().max(DEVICE_LIMITS.idLength), finite)
    .refine((r) => Object.keys(r).length <= DEVICE_LIMITS.resultKeys, `at most ${DEVICE_LIMITS.resultKeys} result figures`)
    .optional(),
});
export type CommandResult = z.infer<typeof CommandResultSchema>;

/**
 * The drift reference a release carries: per feature, bin edges in standardised units (fitted
 * on the training split) and the share of training rows in each bin.
 */
export const DriftReferenceSchema = z.object({
  edges: z.array(z.array(finite)),
  expected: z.array(z.array(finite)),
});
export type DriftReference = z.infer<typeof DriftReferenceSchema>;

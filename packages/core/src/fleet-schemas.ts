/**
 * What devices report and the hub answers: telemetry, feedback, commands. Every record a
 * device sends carries an id unique on that device, so the hub can store it idempotently:
 * a record delivered twice after a reconnect is counted once.
 */
import { z } from 'zod';

const finite = z.number().refine(Number.isFinite, 'a finite number');
const count = z.number().int().nonnegative();

/** Upper bounds (ms) of the latency histogram's buckets; the last bucket is open-ended. */
export const LATENCY_BUCKETS_MS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 1000] as const;

/**
 * Per-row p95 latency from LATENCY_BUCKETS_MS counts, interpolated linearly inside the bucket
 * that holds the 95th percentile: reporting the bucket's upper edge would make a 2 ms limit
 * refuse anything past 1 ms. The open last bucket has no upper edge: its lower one is reported.
 */
export function p95FromBuckets(buckets: readonly number[]): number | null {
  const total = buckets.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = 0.95 * total;
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

export const FeatureStatsSchema = z.object({
  count,
  mean: finite,
  /** Sum of squared deviations from the mean (Welford's M2); variance = m2 / count. */
  m2: finite.nonnegative(),
  min: finite,
  max: finite,
  /** Counts per bin of the release's drift reference (standardised units). */
  histogram: z.array(count),
});
export type FeatureStats = z.infer<typeof FeatureStatsSchema>;

export const TelemetrySchema = z.object({
  type: z.literal('telemetry'),
  /** Unique per device: `<seq>`; the hub keys records on (device, id). */
  id: z.string().min(1).max(64),
  deviceId: z.string(),
  model: z.string(),
  version: z.number().int().nullable(),
  from: z.string(),
  to: z.string(),
  requests: count,
  rows: count,
  errors: count,
  rejected: count,
  /** Counts per LATENCY_BUCKETS_MS bucket (+1 open bucket) of per-row model latency. */
  latencyBuckets: z.array(count),
  /** Predicted class counts (by label) or, for regression, a value summary. */
  predictions: z.record(z.string(), count),
  features: z.array(FeatureStatsSchema),
  /** Telemetry records dropped on the device because its outbox was full (oldest first). */
  evicted: count,
});
export type Telemetry = z.infer<typeof TelemetrySchema>;

export const FeedbackRecordSchema = z.object({
  type: z.literal('feedback'),
  id: z.string().min(1).max(64),
  deviceId: z.string(),
  model: z.string(),
  version: z.number().int(),
  predictionId: z.string(),
  /** The true label (classification) or value (regression) ... */
  label: z.union([z.string(), finite]),
  /** ... and what the model said. */
  predicted: z.union([z.string(), finite]),
  /** The raw input row, for retraining. */
  row: z.array(finite),
  at: z.string(),
});
export type FeedbackRecord = z.infer<typeof FeedbackRecordSchema>;

/** Hub -> device commands on `devices/{id}/cmd`; answers on `devices/{id}/cmd/result`. */
export const CommandSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('benchmark'), requestId: z.string(), envelope: z.unknown(), runs: z.number().int().positive().max(100_000).default(500) }),
  z.object({ type: z.literal('resend-status'), requestId: z.string() }),
]);
export type Command = z.infer<typeof CommandSchema>;

export const CommandResultSchema = z.object({
  requestId: z.string(),
  deviceId: z.string(),
  ok: z.boolean(),
  error: z.string().optional(),
  result: z.record(z.string(), z.number()).optional(),
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

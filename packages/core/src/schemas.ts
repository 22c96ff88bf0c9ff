/**
 * Schemas of everything that crosses a boundary: signed manifests, MQTT payloads, config
 * files. Parse at the edge with these; inside, trust the inferred types.
 */
import { z } from 'zod';
import { DriftReferenceSchema } from './fleet-schemas.js';

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex sha256');
const name = z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, "letters, digits, '.', '_' or '-'");
const finite = z.number().refine(Number.isFinite, 'a finite number');

export const TaskSchema = z.enum(['classification', 'regression']);
export type Task = z.infer<typeof TaskSchema>;

/** Longest category or column name a spec may carry: keeps a manifest (and a 422) bounded. */
export const MAX_CATEGORY_CHARS = 200;
/** Most categories one column may keep (one-hot width, ordinal codes). */
export const MAX_CATEGORIES = 1000;

const category = z.string().max(MAX_CATEGORY_CHARS);

/** What fills a gap in a column: the rule it was fitted by on the training split, and the value. */
export const ImputeSchema = z.object({
  rule: z.enum(['median', 'mean', 'most-frequent', 'constant']),
  value: z.union([finite, category]),
});
export type Impute = z.infer<typeof ImputeSchema>;

/**
 * One column of the data a device receives, and the model features it becomes: a number as it
 * is, one-hot over the kept categories (anything else to the last, "other" feature), or the
 * category's index in `categories`.
 */
export const ColumnSpecSchema = z.discriminatedUnion('kind', [
  z.object({ name: z.string().min(1).max(MAX_CATEGORY_CHARS), kind: z.literal('numeric'), impute: ImputeSchema.optional() }),
  z.object({ name: z.string().min(1).max(MAX_CATEGORY_CHARS), kind: z.literal('one-hot'), categories: z.array(category).min(1).max(MAX_CATEGORIES), impute: ImputeSchema.optional() }),
  z.object({ name: z.string().min(1).max(MAX_CATEGORY_CHARS), kind: z.literal('ordinal'), categories: z.array(category).min(1).max(MAX_CATEGORIES), impute: ImputeSchema.optional() }),
]);
export type ColumnSpec = z.infer<typeof ColumnSpecSchema>;

/** Model features a column becomes: one-hot keeps one per category plus the "other" bucket. */
export const columnWidth = (c: ColumnSpec): number => (c.kind === 'one-hot' ? c.categories.length + 1 : 1);

/** How raw feature values become model input; fitted on the training split only. */
export const PreprocessingSchema = z.object({
  /**
   * The columns a device receives when they are not the model's features one for one (text
   * columns, imputed gaps). Absent in specs that take numbers in feature order.
   */
  columns: z.array(ColumnSpecSchema).min(1).optional(),
  kind: z.literal('standardize'),
  mean: z.array(finite),
  std: z.array(finite.refine((v) => v > 0, 'a positive std')),
  /** Regression targets are standardised for training; outputs are mapped back with these. */
  target: z.object({ mean: finite, std: finite }).optional(),
});
export type Preprocessing = z.infer<typeof PreprocessingSchema>;

/** What a model takes and gives, as the device must know it to serve the model. */
export const ModelSpecSchema = z
  .object({
    task: TaskSchema,
    target: z.string(),
    features: z.array(z.string()).min(1),
    /** Shape of one row as the model sees it, e.g. [64] or [8, 8, 1]. */
    inputShape: z.array(z.number().int().positive()).min(1),
    labels: z.array(z.string()).optional(),
    preprocessing: PreprocessingSchema,
  })
  .refine((s) => s.preprocessing.mean.length === s.features.length && s.preprocessing.std.length === s.features.length, {
    message: 'preprocessing has one mean and std per feature',
  })
  .refine((s) => s.inputShape.reduce((a, b) => a * b, 1) === s.features.length, { message: 'inputShape covers every feature' })
  .refine((s) => !s.preprocessing.columns || s.preprocessing.columns.reduce((n, c) => n + columnWidth(c), 0) === s.features.length, {
    message: 'preprocessing columns encode to exactly the model features',
  })
  .refine((s) => !s.preprocessing.columns || new Set(s.preprocessing.columns.map((c) => c.name)).size === s.preprocessing.columns.length, {
    message: 'preprocessing columns have distinct names',
  })
  .refine((s) => s.task === 'regression' || (s.labels?.length ?? 0) >= 2, { message: 'a classifier has at least two labels' });
export type ModelSpec = z.infer<typeof ModelSpecSchema>;

export const ArtifactFormatSchema = z.enum(['tfjs-layers', 'tfjs-uint8', 'tfjs-float16', 'tflite-int8', 'tflite-float32']);
export type ArtifactFormat = z.infer<typeof ArtifactFormatSchema>;

export const ArtifactRefSchema = z.object({
  sha256,
  size: z.number().int().nonnegative(),
  format: ArtifactFormatSchema,
  runtime: z.string(),
  /** Transfer in chunks of this many bytes; each chunk's sha256 lets a download resume safely. */
  chunkSize: z.number().int().positive(),
  chunks: z.array(sha256),
  /** Fetch over HTTP(S) from here instead of MQTT chunks; the hashes are checked the same way. */
  url: z.string().url().optional(),
});
export type ArtifactRef = z.infer<typeof ArtifactRefSchema>;

/** What the device checks during probation, on real traffic, before it commits a version. */
export const BudgetsSchema = z.object({
  /** Largest p95 single-request latency (ms) the model may show on the device. */
  p95Ms: finite.positive().optional(),
  /** Largest share of requests the model may fail. */
  maxErrorRate: finite.min(0).max(1).optional(),
  /** How long the device watches real traffic before committing (ms). */
  probationMs: z.number().int().min(0).optional(),
  /** Fewest requests needed before latency and error rate are judged. */
  minRequests: z.number().int().min(1).optional(),
});
export type Budgets = z.infer<typeof BudgetsSchema>;

export const ReleaseSchema = z.object({
  type: z.literal('release'),
  model: name,
  version: z.number().int().positive(),
  channel: name,
  created: z.string(),
  expires: z.string(),
  artifact: ArtifactRefSchema,
  spec: ModelSpecSchema,
  /** Figures the hub measured on the test split in the device runtime. */
  validation: z.record(z.string(), finite),
  budgets: BudgetsSchema,
  /** Raw rows and the outputs the hub got for them: the agent's self-test after install. */
  selfTest: z.object({ rows: z.array(z.array(finite)), expected: z.array(z.array(finite)), tolerance: finite.nonnegative() }),
  /**
   * A signed instruction to go back to this (older) version. Only such a release may carry a
   * version at or below one the device has seen; it must be newer than the release it replaces.
   */
  rollback: z.boolean().optional(),
  /** Training-split distribution of each feature, for drift detection on the device. */
  reference: DriftReferenceSchema.optional(),
});
export type Release = z.infer<typeof ReleaseSchema>;

export const ReleaseKeyDocSchema = z.object({
  type: z.literal('release-key'),
  keyid: sha256,
  publicKey: z.string(),
  created: z.string(),
  expires: z.string(),
  /** Raised by every rotation: agents refuse a key document older than the newest they have seen. */
  version: z.number().int().nonnegative().optional(),
});
export type ReleaseKeyDoc = z.infer<typeof ReleaseKeyDocSchema>;

export const SignatureSchema = z.object({ keyid: z.string(), sig: z.string() });
export const envelopeOf = <T extends z.ZodTypeAny>(signed: T) =>
  z.object({ signed, signatures: z.array(SignatureSchema).min(1) });
export type Envelope<T> = { signed: T; signatures: { keyid: string; sig: string }[] };

/**
 * What travels on a release topic and what `edgeml sign` writes: the release envelope plus the
 * root-signed document that vouches for the key that signed it.
 */
export const SignedReleaseSchema = z.object({
  signed: z.unknown(),
  signatures: z.array(SignatureSchema),
  releaseKey: z.object({ signed: z.unknown(), signatures: z.array(SignatureSchema) }),
});
export type SignedRelease = { signed: Release; signatures: { keyid: string; sig: string }[]; releaseKey: Envelope<ReleaseKeyDoc> };

export const AgentStateIdSchema = z.enum([
  'idle',
  'downloading',
  'verifying',
  'installing',
  'probation',
  'committed',
  'rolling-back',
  'failed',
]);

export const DeviceStatusSchema = z.object({
  deviceId: name,
  online: z.boolean(),
  /** `active` once a version is committed and serving; otherwise the update step under way. */
  state: z.string().max(64),
  model: name.nullable(),
  version: z.number().int().nullable(),
  sha256: z.string().max(64).nullable(),
  previousVersion: z.number().int().nullable(),
  health: z.enum(['ok', 'degraded', 'failed', 'unknown']),
  /** Cut, not refused: a long error message is still worth seeing. */
  lastError: z.string().max(65_536).transform((e) => e.slice(0, 2_048)).nullable(),
  /** The version the last failed update tried to install (rolled back or refused). */
  failedVersion: z.number().int().nullable().default(null),
  /**
   * Device labels for targeting rollouts (from its config). The hub targets by the tags the
   * operator gave at enrolment when there are any (docs/SECURITY.md): these are a claim.
   */
  tags: z.array(z.string().max(64)).max(32).default([]),
  /** Recent serving figures, so a plain MQTT client sees health without the hub. */
  p95Ms: finite.nullable().default(null),
  requests: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).default(0),
  updatedAt: z.string().max(64),
});
export type DeviceStatus = z.infer<typeof DeviceStatusSchema>;

/** Retained on `devices/{id}/presence`; the agent's MQTT will publishes `online: false`. */
export const PresenceSchema = z.object({
  deviceId: name,
  online: z.boolean(),
  at: z.string().max(64),
});
export type Presence = z.infer<typeof PresenceSchema>;

export const AgentConfigSchema = z.object({
  deviceId: name,
  dataDir: z.string(),
  model: name,
  channel: name.default('stable'),
  broker: z.object({
    url: z.string(),
    username: z.string().optional(),
    password: z.string().optional(),
    /** CA certificate (PEM file) to trust for mqtts://. */
    ca: z.string().optional(),
  }),
  /** Path to the pinned root public key (PEM). */
  rootKey: z.string(),
  api: z
    .object({
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(0),
      token: z.string().optional(),
      /**
       * Host names the API answers to, in the Host and Origin headers (besides the loopback
       * names and the address it listens on); "*" answers any. A page in a browser on the device
       * (or a DNS-rebinding one) sends another Host or Origin and gets 403.
       */
      allowedHosts: z.array(z.string().min(1).max(253)).max(64).optional(),
    })
    .default({ host: '127.0.0.1', port: 0 }),
  /** Probation defaults; a release's signed budgets override them. */
  probation: z
    .object({ windowMs: z.number().int().min(0).default(10_000), minRequests: z.number().int().min(1).default(20), maxErrorRate: z.number().min(0).max(1).default(0.05) })
    .default({ windowMs: 10_000, minRequests: 20, maxErrorRate: 0.05 }),
  /**
   * Slows every update step and every artifact chunk by this many ms, so a fault-injection
   * test (or a demonstration) can stop the agent in a chosen state. Never set in production.
   */
  stepDelayMs: z.number().int().min(0).default(0),
  /**
   * Fault injection: the agent kills itself (SIGKILL) on reaching this named point of its update
   * path, e.g. "installing:after-rename" (docs/ARCHITECTURE.md lists them). The environment
   * variable EDGEML_FAULT_POINT does the same. Never set in production.
   */
  faultPoint: z.string().max(64).optional(),
  /** How the update path retries transient faults (network, stall, full disk). */
  update: z
    .object({
      /** First retry delay; each further retry doubles it, with full jitter. */
      retryBaseMs: z.number().int().min(1).default(1000),
      retryMaxMs: z.number().int().min(1).default(60_000),
      /** Retries of one update before it is abandoned (reported, never a verdict on the version). */
      maxRetries: z.number().int().min(0).default(20),
      /** A transfer that makes no progress for this long is a transient fault. */
      stallMs: z.number().int().min(100).default(30_000),
      /** Times a version is re-tried after the process died during its probation. */
      probationCrashRetries: z.number().int().min(0).default(1),
    })
    .default({ retryBaseMs: 1000, retryMaxMs: 60_000, maxRetries: 20, stallMs: 30_000, probationCrashRetries: 1 }),
  /** Labels the hub can target rollouts at (e.g. "canary", "site-a"). */
  tags: z.array(z.string()).default([]),
  telemetry: z
    .object({
      /** How often a telemetry record is cut and sent. */
      periodMs: z.number().int().min(50).default(60_000),
      /** Records kept on disk while offline; the oldest go first beyond this. */
      maxQueued: z.number().int().min(1).default(1000),
    })
    .default({ periodMs: 60_000, maxQueued: 1000 }),
});
export type AgentConfig = z.infer<typeof AgentConfigSchema>;

/** One line naming every problem zod found, with its path: what a user sees. */
export function describeZodError(e: z.ZodError): string {
  return e.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ');
}

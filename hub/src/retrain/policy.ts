/**
 * What the hub needs to retrain a model by itself: the release config's training fields (the
 * same file `edgeml release` reads in CI) and its `retrain` section, the policy that says when
 * a retrain fires and what a challenger must show to replace production.
 */
import { z } from 'zod';
import { ArtifactFormatSchema, BudgetsSchema, TaskSchema } from '@edgeml/core';

const share = z.number().min(0).max(1);

export const RetrainTriggersSchema = z
  .object({
    /** Live accuracy of production, from device feedback since the last run, below `below` over at least `minLabels` labels. */
    accuracy: z.object({ below: share, minLabels: z.number().int().positive().default(50) }).strict().optional(),
    /** PSI on any feature above `above`, once production has served at least `minSamples` rows. */
    drift: z.object({ above: z.number().positive(), minSamples: z.number().int().positive().default(500) }).strict().optional(),
    /** Every `everyMs`, whatever the figures say (with at least one new label since the last run). */
    schedule: z.object({ everyMs: z.number().int().positive() }).strict().optional(),
    /** This many new valid labels since the last run. */
    newLabels: z.object({ atLeast: z.number().int().positive() }).strict().optional(),
  })
  .strict()
  .default({});
export type RetrainTriggers = z.infer<typeof RetrainTriggersSchema>;

export const RetrainPolicySchema = z
  .object({
    triggers: RetrainTriggersSchema,
    /** Share of the valid feedback, the newest by time, held out from training to judge champion against challenger. */
    holdoutShare: z.number().gt(0).lt(1).default(0.3),
    /** Fewest holdout rows a verdict is taken on; fewer and the run records "not enough labels". */
    minHoldout: z.number().int().positive().default(20),
    /** The challenger must beat production on the feedback holdout by at least this (accuracy, or R^2). */
    margin: share.default(0.02),
    /** ...and may fall at most this much below production on the base test split. */
    maxBaseDrop: share.default(0.02),
    /** A feedback value further than this many spans of the base data's range outside it is refused. */
    rangeSlack: z.number().nonnegative().default(1),
    /** Worker time limit: past it the worker is killed (SIGKILL) and the run recorded as timed out. */
    timeLimitMs: z.number().int().positive().default(30 * 60_000),
    /** How often the hub evaluates the triggers. */
    checkEveryMs: z.number().int().min(50).default(60_000),
  })
  .strict();
export type RetrainPolicy = z.infer<typeof RetrainPolicySchema>;

/**
 * The release config's fields that say how a model is trained and shipped: one definition for
 * `edgeml release` (which adds its CI-side fields) and for the hub's retraining.
 */
export const releaseConfigFields = {
  model: z.string(),
  data: z.string(),
  target: z.string(),
  task: TaskSchema.optional(),
  arch: z.enum(['mlp', 'cnn']).default('mlp'),
  inputShape: z.array(z.number().int().positive()).optional(),
  seed: z.number().int().default(42),
  /** Most training epochs (default: the trainer's early stopping decides). */
  epochs: z.number().int().positive().optional(),
  format: ArtifactFormatSchema.default('tflite-int8'),
  channel: z.string().default('stable'),
  budgets: BudgetsSchema.default({}),
  /** A staged rollout plan (see `edgeml rollout`); without it the release goes to the whole channel. */
  rollout: z.unknown().optional(),
  /** When the hub retrains the model by itself, and what a challenger must show (`edgeml hub start --retrain-config`). */
  retrain: RetrainPolicySchema.optional(),
};

/** The release config as the hub reads it: the training fields, the rest kept as given (the whole config goes into each version's lineage). */
export const TrainingConfigSchema = z.object({ ...releaseConfigFields, gates: z.record(z.string(), z.number()).default({}) }).passthrough();
export type TrainingConfig = z.infer<typeof TrainingConfigSchema>;

/** A model the hub retrains: its config, where it came from, and the policy (defaults when the config has none). */
export interface RetrainTarget {
  config: TrainingConfig;
  /** The config file; `data` is relative to its folder. */
  configPath: string;
  policy: RetrainPolicy;
}

/**
 * What the hub hands a retraining worker and what the worker hands back, as files in the run's
 * folder. Both sides parse with these schemas: the worker is another process, and what it
 * wrote may be cut short by a kill.
 */
import { z } from 'zod';
import { ArtifactFormatSchema, DriftReferenceSchema, ModelSpecSchema, ReleaseSchema, TaskSchema } from '@edgeml/core';

export const LabelledRowSchema = z.object({ row: z.array(z.number()), label: z.string() });

export const JobSchema = z.object({
  /** The CSV to train on: base train and validation rows plus the training feedback. */
  trainCsv: z.string(),
  target: z.string(),
  task: TaskSchema.optional(),
  arch: z.enum(['mlp', 'cnn']),
  inputShape: z.array(z.number().int().positive()).optional(),
  seed: z.number().int(),
  epochs: z.number().int().positive().optional(),
  format: ArtifactFormatSchema,
  /** The base test split and the feedback holdout, in the base data's feature order. */
  baseTest: z.array(LabelledRowSchema),
  holdout: z.array(LabelledRowSchema),
  /** The production version, evaluated on the same rows in its own runtime. */
  champion: z.object({ artifactFile: z.string(), format: ArtifactFormatSchema, spec: ModelSpecSchema }).optional(),
  /** Single-row runs when measuring latency (the gates' p50/p95/p99). */
  latencyRuns: z.number().int().positive().default(500),
  outDir: z.string(),
});
export type Job = z.infer<typeof JobSchema>;

/** Accuracy (classification) or R^2 (regression) on one set of rows; null on an empty set. */
export const ScoresSchema = z.object({ baseTest: z.number().nullable(), holdout: z.number().nullable() });
export type Scores = z.infer<typeof ScoresSchema>;

export const ResultSchema = z.object({
  artifactFile: z.string(),
  format: ArtifactFormatSchema,
  runtime: z.string(),
  task: TaskSchema,
  spec: ModelSpecSchema,
  selfTest: ReleaseSchema.shape.selfTest,
  reference: DriftReferenceSchema,
  /** Headline figures on the candidate's own test split (what a release records as validation). */
  figures: z.record(z.string(), z.number()),
  metrics: z.record(z.string(), z.unknown()),
  measured: z.object({
    accuracy: z.number().optional(),
    macroF1: z.number().optional(),
    rmse: z.number().optional(),
    r2: z.number().optional(),
    p50Ms: z.number(),
    p95Ms: z.number(),
    p99Ms: z.number(),
    throughput: z.number(),
    sizeBytes: z.number(),
    peakRssBytes: z.number(),
  }),
  challenger: ScoresSchema,
  champion: ScoresSchema.nullable(),
  trainRows: z.number().int(),
  backend: z.string().optional(),
});
export type WorkerResult = z.infer<typeof ResultSchema>;

export const RESULT_FILE = 'result.json';
export const JOB_FILE = 'job.json';

/**
 * The shape of training rows that preprocessing is fitted on. It lives with the runtime so that
 * fitting and applying preprocessing stay one implementation; building a Dataset from a CSV is
 * @edgeml/ml's job.
 */
import type { Task } from '@edgeml/core';

/** Numeric features and a target, row-major. */
export interface Dataset {
  /** The file the rows came from, for error messages. */
  file?: string;
  features: string[];
  target: string;
  task: Task;
  /** n * features.length raw (unscaled) feature values. */
  x: Float32Array;
  /** Class index into `labels`, or the regression value. */
  y: Float32Array;
  labels?: string[];
  n: number;
}

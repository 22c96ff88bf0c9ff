/**
 * The shape of training rows that preprocessing is fitted on. It lives with the runtime so that
 * fitting and applying preprocessing stay one implementation; building a Dataset from a CSV is
 * @edgeml/ml's job.
 */
import type { ColumnSpec, Task } from '@edgeml/core';

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
  /**
   * The rows' original cells, one per input column, when columns are encoded (text, gaps):
   * what the model directory's CSVs and a device are given.
   */
  raw?: string[][];
  /** The column rules `x` was encoded with (stored in the spec). */
  columns?: ColumnSpec[];
}

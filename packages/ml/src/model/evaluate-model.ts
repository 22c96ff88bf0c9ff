import type { ModelSpec } from '@edgeml/core';
import { readCsvFile } from '../data/csv.js';
import { buildDataset, type Dataset } from '../data/dataset.js';
import { evaluateRuntime, type Evaluation } from '../evaluate/evaluate.js';
import type { ModelRuntime } from '@edgeml/runtime';

/**
 * Read a CSV as input to an existing model: columns are matched by name (any order), a missing
 * feature or target column is an error naming it, and labels must be ones the model knows.
 */
export async function readDatasetFor(spec: ModelSpec, file: string): Promise<Dataset> {
  const table = await readCsvFile(file);
  const columns = spec.preprocessing.columns;
  return buildDataset(table, {
    target: spec.target,
    task: spec.task,
    features: columns ? columns.map((c) => c.name) : spec.features,
    ...(columns ? { columns } : {}),
    ...(spec.labels ? { labels: spec.labels } : {}),
  }).dataset;
}

export async function evaluateOnFile(runtime: ModelRuntime, spec: ModelSpec, file: string): Promise<Evaluation & { dataset: Dataset }> {
  const dataset = await readDatasetFor(spec, file);
  return { ...evaluateRuntime(runtime, spec, dataset), dataset };
}

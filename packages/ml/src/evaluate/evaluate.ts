import type { ModelSpec } from '@edgeml/core';
import type { Dataset } from '../data/dataset.js';
import { applyPreprocessing, outputsToTargets } from '@edgeml/runtime';
import type { ModelRuntime } from '@edgeml/runtime';
import { classificationMetrics, regressionMetrics, type Metrics } from './metrics.js';

export interface Evaluation {
  metrics: Metrics;
  /** Raw model outputs per row, n * outputSize: what agents are compared against. */
  outputs: Float32Array;
  /** Predicted class index or value per row. */
  predicted: Float32Array;
}

/** Evaluate a model through the runtime interface, exactly as a device would run it. */
export function evaluateRuntime(runtime: ModelRuntime, spec: ModelSpec, ds: Dataset, batchSize = 256): Evaluation {
  const f = spec.features.length;
  const x = applyPreprocessing(spec.preprocessing, ds.x);
  const outputs = new Float32Array(ds.n * runtime.info.outputSize);
  for (let start = 0; start < ds.n; start += batchSize) {
    const n = Math.min(batchSize, ds.n - start);
    outputs.set(runtime.predict(x.subarray(start * f, (start + n) * f), n), start * runtime.info.outputSize);
  }
  const predicted = outputsToTargets(spec, outputs, ds.n);
  const metrics = spec.task === 'classification' ? classificationMetrics(ds.y, predicted, spec.labels!) : regressionMetrics(ds.y, predicted);
  return { metrics, outputs, predicted };
}

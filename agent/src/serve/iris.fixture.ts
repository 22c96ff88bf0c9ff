/**
 * A real small model for the agent's tests: an MLP trained on iris (a second or two on the cpu
 * backend), loaded in the device runtime, wrapped in an unsigned release. Not built into dist.
 */
import { join } from 'node:path';
import type { Release } from '@edgeml/core';
import { buildDataset, readCsvFile, saveBundle, splitDataset, tfjsWasmLoader, trainModel } from '@edgeml/ml';
import type { LoadedModel } from './predictor.js';

export const irisCsv = join(import.meta.dirname, '../../../data/iris.csv');

export interface IrisFixture {
  artifact: Uint8Array;
  /** A loaded model per version, same weights: enough to tell versions apart. */
  load(version: number): Promise<LoadedModel>;
  /** Test rows, raw, in feature order, with their true labels. */
  rows: number[][];
  labels: string[];
  features: string[];
}

export async function trainIris(): Promise<IrisFixture> {
  const { dataset } = buildDataset(await readCsvFile(irisCsv), { target: 'species' });
  const splits = splitDataset(dataset, { seed: 7 });
  const trained = await trainModel(splits, { arch: 'mlp', seed: 7, epochs: 40, hidden: [16] });
  const artifact = await saveBundle(trained.model);
  trained.model.dispose();
  const spec = trained.spec;
  const f = spec.features.length;
  const test = splits.test;
  const rows = Array.from({ length: test.n }, (_, r) => Array.from(test.x.subarray(r * f, (r + 1) * f)));
  const loader = tfjsWasmLoader('tfjs-layers');
  return {
    artifact,
    rows,
    labels: Array.from(test.y, (k) => spec.labels![k]!),
    features: spec.features,
    async load(version) {
      const release: Release = {
        type: 'release',
        model: 'iris',
        version,
        channel: 'stable',
        created: new Date().toISOString(),
        expires: new Date(Date.now() + 86_400_000).toISOString(),
        artifact: { sha256: '0'.repeat(64), size: artifact.length, format: 'tfjs-layers', runtime: 'tfjs-wasm', chunkSize: 65536, chunks: [] },
        spec,
        validation: {},
        budgets: {},
        selfTest: { rows: [], expected: [], tolerance: 0 },
      };
      return { release, runtime: await loader(artifact) };
    },
  };
}

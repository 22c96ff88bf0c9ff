/**
 * A trained model on disk, as `edgeml train --out DIR` writes it: the tfjs artifact, a JSON
 * description (input spec with preprocessing, metrics, how it was trained), and the test split
 * and the calibration rows (see quantize/calibration.ts) as CSV so quantize and validate need
 * nothing else.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelSpecSchema, readJsonFile, sha256Hex, userError, writeFileAtomic, type ArtifactFormat, type ModelSpec } from '@edgeml/core';
import { z } from 'zod';
import type { Dataset } from '../data/dataset.js';

export const MODEL_FILES = {
  artifact: 'model.emtf',
  meta: 'edgeml-model.json',
  test: 'test.csv',
  calibration: 'calibration.csv',
  /** A quantized model's float original, so validate can measure what quantization changed on any data. */
  floatReference: 'float-reference.emtf',
} as const;

/** The artifact's file name in a model directory: `.tflite` files keep their usual extension. */
export const artifactFileName = (format: ArtifactFormat): string => (format.startsWith('tflite') ? 'model.tflite' : MODEL_FILES.artifact);

const MetaSchema = z.object({
  format: z.string(),
  runtime: z.string(),
  sha256: z.string(),
  sizeBytes: z.number(),
  spec: ModelSpecSchema,
  figures: z.record(z.string(), z.number()),
  metrics: z.unknown(),
  training: z.record(z.string(), z.unknown()),
  data: z.unknown(),
  /** What quantization did (see quantize/report.ts), for a model made by edgeml quantize. */
  quantization: z.unknown().optional(),
  created: z.string(),
});
export type ModelMeta = z.infer<typeof MetaSchema> & { format: ArtifactFormat };

/** Raw rows back to CSV text with the model's feature names and target label. */
export function datasetToCsv(ds: Dataset, spec: ModelSpec, limit = ds.n): string {
  // Encoded columns: the original cells (text, gaps), as a device is given them.
  if (spec.preprocessing.columns && ds.raw) return rawToCsv(ds, spec, limit);
  const f = spec.features.length;
  const lines = [[...spec.features, spec.target].join(',')];
  for (let r = 0; r < Math.min(limit, ds.n); r++) {
    const target = spec.task === 'classification' ? spec.labels![ds.y[r]!]! : String(ds.y[r]);
    lines.push([...Array.from(ds.x.subarray(r * f, (r + 1) * f), (v) => String(v)), target].join(','));
  }
  return lines.join('\n') + '\n';
}

const csvCell = (c: string): string => (/[",\r\n]/.test(c) ? `"${c.replace(/"/g, '""')}"` : c);

function rawToCsv(ds: Dataset, spec: ModelSpec, limit: number): string {
  const lines = [[...spec.preprocessing.columns!.map((c) => c.name), spec.target].map(csvCell).join(',')];
  for (let r = 0; r < Math.min(limit, ds.n); r++) {
    const target = spec.task === 'classification' ? spec.labels![ds.y[r]!]! : String(ds.y[r]);
    lines.push([...ds.raw![r]!, target].map(csvCell).join(','));
  }
  return lines.join('\n') + '\n';
}

export async function writeModelDir(
  dir: string,
  m: { artifact: Uint8Array; meta: Omit<ModelMeta, 'sha256' | 'sizeBytes' | 'created'>; test: Dataset; calibration: Dataset; floatReference?: Uint8Array },
): Promise<ModelMeta> {
  await mkdir(dir, { recursive: true });
  const meta: ModelMeta = { ...m.meta, sha256: sha256Hex(m.artifact), sizeBytes: m.artifact.length, created: new Date().toISOString() };
  await writeFileAtomic(join(dir, artifactFileName(meta.format)), m.artifact);
  await writeFile(join(dir, MODEL_FILES.test), datasetToCsv(m.test, meta.spec));
  await writeFile(join(dir, MODEL_FILES.calibration), datasetToCsv(m.calibration, meta.spec));
  if (m.floatReference) await writeFileAtomic(join(dir, MODEL_FILES.floatReference), m.floatReference);
  await writeFileAtomic(join(dir, MODEL_FILES.meta), JSON.stringify(meta, null, 2) + '\n');
  return meta;
}

export async function readModelDir(dir: string): Promise<{ meta: ModelMeta; artifact: Uint8Array }> {
  const meta = (await readJsonFile(join(dir, MODEL_FILES.meta), MetaSchema, 'model description')) as ModelMeta;
  const file = join(dir, artifactFileName(meta.format));
  let artifact: Uint8Array;
  try {
    artifact = await readFile(file);
  } catch {
    throw userError('file-missing', `${dir} has no ${artifactFileName(meta.format)}; is it a directory written by edgeml train or quantize?`);
  }
  if (sha256Hex(artifact) !== meta.sha256) throw userError('bad-artifact', `${file} does not match the sha256 in ${MODEL_FILES.meta}`);
  return { meta, artifact };
}

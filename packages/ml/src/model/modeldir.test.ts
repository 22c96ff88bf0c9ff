import { mkdtemp, readFile, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EdgemlError, sha256Hex, type ModelSpec } from '@edgeml/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readCsvFile } from '../data/csv.js';
import { buildDataset, type Dataset } from '../data/dataset.js';
import { MODEL_FILES, datasetToCsv, readModelDir, writeModelDir, type ModelMeta } from './modeldir.js';

const spec: ModelSpec = {
  task: 'classification',
  target: 'species',
  features: ['sepal_length', 'petal_width'],
  inputShape: [2],
  labels: ['setosa', 'virginica'],
  preprocessing: { kind: 'standardize', mean: [5.8, 1.2], std: [0.8, 0.7] },
};
const rows: Dataset = {
  features: spec.features,
  target: 'species',
  task: 'classification',
  labels: spec.labels!,
  x: Float32Array.from([5.1, 0.2, 6.7, 2.3, 4.9, 0.1]),
  y: Float32Array.from([0, 1, 0]),
  n: 3,
};
const artifact = new Uint8Array(Array.from({ length: 512 }, (_, i) => (i * 7) % 256));
const meta: Omit<ModelMeta, 'sha256' | 'sizeBytes' | 'created'> = {
  format: 'tfjs-layers',
  runtime: 'tfjs-wasm',
  spec,
  figures: { accuracy: 1, testRows: 3 },
  metrics: { task: 'classification' },
  training: { arch: 'mlp', seed: 7 },
  data: { rows: 3 },
};

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeml-modeldir-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function refusal(): Promise<EdgemlError> {
  const err = await readModelDir(dir).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(EdgemlError);
  expect((err as EdgemlError).exitCode).toBe(2);
  return err as EdgemlError;
}

describe('model directory', () => {
  it('reads back what it wrote: description and artifact bytes', async () => {
    const written = await writeModelDir(dir, { artifact, meta, test: rows, calibration: rows, floatReference: artifact });
    expect(written).toMatchObject({ ...meta, sha256: sha256Hex(artifact), sizeBytes: 512 });
    expect((await readdir(dir)).sort()).toEqual(Object.values(MODEL_FILES).sort());
    expect(Buffer.compare(await readFile(join(dir, MODEL_FILES.floatReference)), Buffer.from(artifact))).toBe(0);

    const read = await readModelDir(dir);
    expect(read.meta).toEqual(written);
    expect(Buffer.from(read.artifact).equals(Buffer.from(artifact))).toBe(true);
  });

  it('writes a test split that reads back to the same rows and labels', async () => {
    await writeModelDir(dir, { artifact, meta, test: rows, calibration: rows });
    const table = await readCsvFile(join(dir, MODEL_FILES.test));
    const { dataset } = buildDataset(table, { target: spec.target, features: spec.features, labels: spec.labels! });
    expect(table.header).toEqual(['sepal_length', 'petal_width', 'species']);
    expect([...dataset.x]).toEqual([...rows.x]);
    expect([...dataset.y]).toEqual([...rows.y]);
  });

  it('limits the CSV to the rows asked for', () => {
    expect(datasetToCsv(rows, spec, 1).trim().split('\n')).toHaveLength(2);
  });

  it('refuses a tampered artifact, naming it', async () => {
    await writeModelDir(dir, { artifact, meta, test: rows, calibration: rows });
    const file = join(dir, MODEL_FILES.artifact);
    const bytes = await readFile(file);
    bytes[100]! ^= 0xff;
    await writeFile(file, bytes);
    const err = await refusal();
    expect(err.code).toBe('bad-artifact');
    expect(err.message).toContain(file);
  });

  it('refuses a directory without its artifact', async () => {
    await writeModelDir(dir, { artifact, meta, test: rows, calibration: rows });
    await unlink(join(dir, MODEL_FILES.artifact));
    const err = await refusal();
    expect(err.code).toBe('file-missing');
    expect(err.message).toContain(dir);
  });

  it('refuses a directory without its description, naming the file', async () => {
    const err = await refusal();
    expect(err.code).toBe('file-missing');
    expect(err.message).toContain(join(dir, MODEL_FILES.meta));
  });

  it('refuses a description whose spec is invalid, naming the field', async () => {
    await writeModelDir(dir, { artifact, meta, test: rows, calibration: rows });
    const path = join(dir, MODEL_FILES.meta);
    const json = JSON.parse(await readFile(path, 'utf8'));
    json.spec.features = ['only_one'];
    await writeFile(path, JSON.stringify(json));
    const err = await refusal();
    expect(err.code).toBe('bad-config');
    expect(err.message).toContain(path);
    expect(err.message).toContain('spec');
  });
});

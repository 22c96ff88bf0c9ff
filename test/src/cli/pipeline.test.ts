/**
 * The model pipeline through the CLI, as CI would run it: train on the bundled datasets,
 * validate against gates (exit codes and JSON), quantize, and refuse bad input with exit 2.
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataFile, edgeml, tempDir } from '../helpers/cli.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir('pipeline')));
afterAll(() => cleanup());

const trainJson = async (args: string[]) => {
  const r = await edgeml(['train', ...args, '--json']);
  expect(r.stderr).not.toMatch(/internal error/);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as { sha256: string; figures: Record<string, number>; out: string };
};

describe('edgeml train', () => {
  it('trains breast_cancer (string labels) to at least 95% test accuracy', async () => {
    const m = await trainJson(['--data', dataFile('breast_cancer.csv'), '--target', 'diagnosis', '--out', join(dir, 'bc')]);
    expect(m.figures.accuracy).toBeGreaterThanOrEqual(0.95);
  });

  it('trains iris to at least 90% and is reproducible: same seed, same artifact bytes', async () => {
    const a = await trainJson(['--data', dataFile('iris.csv'), '--target', 'species', '--out', join(dir, 'iris-a'), '--seed', '7']);
    const b = await trainJson(['--data', dataFile('iris.csv'), '--target', 'species', '--out', join(dir, 'iris-b'), '--seed', '7']);
    expect(a.figures.accuracy).toBeGreaterThanOrEqual(0.9);
    expect(b.sha256).toBe(a.sha256);
    expect(b.figures).toEqual(a.figures);
    const c = await trainJson(['--data', dataFile('iris.csv'), '--target', 'species', '--out', join(dir, 'iris-c'), '--seed', '8']);
    expect(c.sha256).not.toBe(a.sha256);
  });

  it('infers regression for diabetes and reaches R^2 of at least 0.40', async () => {
    const m = await trainJson(['--data', dataFile('diabetes.csv'), '--target', 'progression', '--out', join(dir, 'diabetes')]);
    expect(m.figures.r2).toBeGreaterThanOrEqual(0.4);
    expect(m.figures.rmse).toBeGreaterThan(0);
  });

  it('refuses a missing target column with exit 2 and one line naming it', async () => {
    const r = await edgeml(['train', '--data', dataFile('iris.csv'), '--target', 'colour', '--out', join(dir, 'x')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no target column "colour"');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('refuses a non-numeric feature naming file, line and column', async () => {
    const file = join(dir, 'bad.csv');
    await writeFile(file, 'a,b,label\n1,2,x\n3,oops,y\n' + Array.from({ length: 20 }, (_, i) => `${i},${i},${i % 2 ? 'x' : 'y'}`).join('\n'));
    const r = await edgeml(['train', '--data', file, '--target', 'label', '--out', join(dir, 'x')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}:3: column "b" holds "oops"`);
  });

  it('starts from a user-supplied tfjs model.json', async () => {
    // A tfjs model as a user would bring it: model.json plus a weights file.
    const base = join(dir, 'user-model');
    await mkdir(base, { recursive: true });
    const { loadTf, useTrainingBackend } = await import('@edgeml/ml');
    await useTrainingBackend();
    const tf = await loadTf();
    const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 8, activation: 'relu' }), tf.layers.dense({ units: 3, activation: 'softmax' })] });
    await model.save(
      tf.io.withSaveHandler(async (a) => {
        await writeFile(join(base, 'weights.bin'), new Uint8Array(a.weightData as ArrayBuffer));
        await writeFile(join(base, 'model.json'), JSON.stringify({ modelTopology: a.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }] }));
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    const m = await trainJson(['--data', dataFile('iris.csv'), '--target', 'species', '--out', join(dir, 'iris-user'), '--base-model', join(base, 'model.json')]);
    expect(m.figures.accuracy).toBeGreaterThanOrEqual(0.8);
    const wrong = await edgeml(['train', '--data', dataFile('breast_cancer.csv'), '--target', 'diagnosis', '--out', join(dir, 'x'), '--base-model', join(base, 'model.json')]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('takes 4 inputs per row; the data has 30 features');
  });
});

describe('edgeml validate', () => {
  const model = () => join(dir, 'bc');

  it('passes gates with exit 0 and reports every figure in JSON', async () => {
    const r = await edgeml(['validate', '--model', model(), '--data', join(model(), 'test.csv'), '--min-accuracy', '0.9', '--max-p95-ms', '50', '--max-size-kb', '200', '--max-memory-mb', '1024', '--runs', '300', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.pass).toBe(true);
    for (const k of ['accuracy', 'macroF1', 'p50Ms', 'p95Ms', 'p99Ms', 'throughput', 'sizeBytes', 'peakRssBytes']) expect(typeof out.measured[k]).toBe('number');
    expect(out.gates.map((g: { gate: string }) => g.gate)).toEqual(['minAccuracy', 'maxP95Ms', 'maxSizeKb', 'maxMemoryMb']);
    expect(out.runtime).toBe('tfjs-wasm');
  });

  it('fails a gate with exit 1, naming the gate and both numbers', async () => {
    const r = await edgeml(['validate', '--model', model(), '--data', join(model(), 'test.csv'), '--min-accuracy', '0.999', '--runs', '200', '--json']);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out.pass).toBe(false);
    expect(out.gates[0]).toMatchObject({ gate: 'minAccuracy', limit: 0.999, pass: false });
    expect(r.stderr).toMatch(/minAccuracy: measured 0\.9\d+, minimum 0\.9990 \(failed\)/);
  });

  it('matches columns by name: a reordered CSV gives the same figures', async () => {
    const text = await readFile(join(model(), 'test.csv'), 'utf8');
    const rows = text.trim().split('\n').map((l) => l.split(','));
    const reordered = rows.map((r) => [...r].reverse().join(',')).join('\n') + '\n';
    await writeFile(join(dir, 'reordered.csv'), reordered);
    const a = JSON.parse((await edgeml(['validate', '--model', model(), '--data', join(model(), 'test.csv'), '--runs', '100', '--json'])).stdout);
    const b = JSON.parse((await edgeml(['validate', '--model', model(), '--data', join(dir, 'reordered.csv'), '--runs', '100', '--json'])).stdout);
    expect(b.metrics.accuracy).toBe(a.metrics.accuracy);
    expect(b.metrics.confusion).toEqual(a.metrics.confusion);
  });

  it('refuses a CSV missing a feature the model needs, naming it', async () => {
    const text = await readFile(join(model(), 'test.csv'), 'utf8');
    const dropped = text.trim().split('\n').map((l) => l.split(',').slice(1).join(',')).join('\n') + '\n';
    await writeFile(join(dir, 'dropped.csv'), dropped);
    const r = await edgeml(['validate', '--model', model(), '--data', join(dir, 'dropped.csv')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('column "radius_mean" that the model needs is missing');
  });
});

describe('edgeml quantize (tfjs variants)', () => {
  it('writes a uint8 variant about 4x smaller in weights, with accuracy within a point of float', async () => {
    const r = await edgeml(['quantize', '--model', join(dir, 'bc'), '--format', 'tfjs-uint8', '--out', join(dir, 'bc-u8'), '--json']);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout);
    const [float, small] = rep.variants;
    expect(small.format).toBe('tfjs-uint8');
    expect(small.weightRatio).toBeCloseTo(0.25, 2);
    expect(Math.abs(small.accuracy - float.accuracy)).toBeLessThanOrEqual(0.01);
    const v = await edgeml(['validate', '--model', join(dir, 'bc-u8'), '--data', join(dir, 'bc-u8', 'test.csv'), '--min-accuracy', '0.9', '--runs', '100', '--json']);
    expect(v.code).toBe(0);
  });

  it('writes a float16 variant with half the weight bytes', async () => {
    const r = await edgeml(['quantize', '--model', join(dir, 'bc'), '--format', 'tfjs-float16', '--out', join(dir, 'bc-f16'), '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).variants[1].weightRatio).toBeCloseTo(0.5, 3);
  });

  it('exports int8 TFLite with a report on float tfjs, float TFLite and int8 TFLite, and inspects it', async () => {
    const r = await edgeml(['quantize', '--model', join(dir, 'bc'), '--format', 'tflite-int8', '--out', join(dir, 'bc-int8'), '--json']);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.variants.map((v: { format: string; runtime: string }) => [v.format, v.runtime])).toEqual([
      ['tfjs-layers', 'tfjs-wasm'],
      ['tflite-float32', 'tflite-xnnpack'],
      ['tflite-int8', 'tflite-xnnpack'],
    ]);
    const [float, , int8] = rep.variants;
    expect(Math.abs(int8.accuracy - float.accuracy)).toBeLessThanOrEqual(0.01);
    expect(int8.weightRatio).toBeLessThanOrEqual(0.3);
    expect(rep.overheadBytes).toBeGreaterThan(0);
    expect(rep.agreement).toBeGreaterThanOrEqual(0.98);

    const info = await edgeml(['inspect', join(dir, 'bc-int8', 'model.tflite'), '--json']);
    expect(info.code).toBe(0);
    const parsed = JSON.parse(info.stdout);
    expect(parsed.schemaVersion).toBe(3);
    expect(parsed.operatorCodes.map((o: { name: string }) => o.name)).toEqual(expect.arrayContaining(['QUANTIZE', 'FULLY_CONNECTED', 'DEQUANTIZE']));
    const text = await edgeml(['inspect', join(dir, 'bc-int8', 'model.tflite')]);
    expect(text.stdout).toContain('TFLite model (schema v3)');

    const bytes = await readFile(join(dir, 'bc-int8', 'model.tflite'));
    await writeFile(join(dir, 'cut.tflite'), bytes.subarray(0, 200));
    const cut = await edgeml(['inspect', join(dir, 'cut.tflite')]);
    expect(cut.code).toBe(2);
    expect(cut.stderr).toMatch(/^edgeml: not a valid TFLite model/);
  });

  it('refuses an unknown format with exit 2', async () => {
    const r = await edgeml(['quantize', '--model', join(dir, 'bc'), '--format', 'int3', '--out', join(dir, 'x')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--format must be one of');
  });
});

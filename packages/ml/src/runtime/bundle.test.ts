import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EdgemlError } from '@edgeml/core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildModel } from '../train/architectures.js';
import { loadTf, useTrainingBackend, type tf as TfTypes, type Tfjs } from '../train/backend.js';
import { loadBundle, readBundle, saveBundle } from './bundle.js';
import { loadTfjsCpu } from './tfjs.js';

const rows = Float32Array.from([0.1, -1.2, 0.3, 2.0, -0.5, 0.7, 1.1, -0.2, 0, 0, 0, 0]);
let tf: Tfjs;
let model: TfTypes.LayersModel;
let bytes: Uint8Array;
let dir: string;

const predict = (m: TfTypes.LayersModel, x: Float32Array = rows) =>
  tf.tidy(() => Array.from((m.predict(tf.tensor2d(x, [x.length / 4, 4])) as TfTypes.Tensor).dataSync()));

beforeAll(async () => {
  await useTrainingBackend();
  tf = await loadTf();
  model = await buildModel({ arch: 'mlp', inputShape: [4], outputs: 3, task: 'classification', seed: 5, hidden: [8] });
  bytes = await saveBundle(model);
});
afterAll(() => model.dispose());
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeml-bundle-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function loadError(input: Uint8Array): Promise<EdgemlError> {
  const err = await loadBundle(input).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(EdgemlError);
  expect((err as EdgemlError).code).toBe('bad-artifact');
  return err as EdgemlError;
}

describe('tfjs bundle', () => {
  it('starts with the EMTF magic and a little-endian header length', () => {
    expect(Buffer.from(bytes.subarray(0, 4)).toString('ascii')).toBe('EMTF');
    const len = Buffer.from(bytes).readUInt32LE(4);
    const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + len)).toString('utf8'));
    expect(header).toHaveProperty('modelTopology');
    // 4x8 + 8 kernel/bias, 8x3 + 3: float32 each
    expect(bytes.length - 8 - len).toBe((4 * 8 + 8 + 8 * 3 + 3) * 4);
  });

  it('loads back a model that predicts exactly as the saved one', async () => {
    const loaded = await loadBundle(bytes);
    try {
      expect(predict(loaded)).toEqual(predict(model));
    } finally {
      loaded.dispose();
    }
  });

  it('saves the same bytes for the same model', async () => {
    expect(Buffer.from(await saveBundle(model)).equals(Buffer.from(bytes))).toBe(true);
  });

  it('loads from a Buffer read back from disk', async () => {
    const file = join(dir, 'model.emtf');
    await writeFile(file, bytes);
    const fromDisk = await readFile(file);
    const loaded = await loadBundle(fromDisk);
    try {
      expect(predict(loaded)).toEqual(predict(model));
    } finally {
      loaded.dispose();
    }
  });

  it('loads from a Buffer that is a view at an offset into a larger pool', async () => {
    const pool = Buffer.alloc(bytes.length + 13, 0xee);
    pool.set(bytes, 7);
    const view = pool.subarray(7, 7 + bytes.length);
    expect(view.byteOffset).toBe(7);
    const loaded = await loadBundle(view);
    try {
      expect(predict(loaded)).toEqual(predict(model));
    } finally {
      loaded.dispose();
    }
  });

  it('runs through the cpu runtime interface with its shape described', async () => {
    const runtime = await loadTfjsCpu(bytes);
    try {
      expect(runtime.info).toMatchObject({ runtime: 'tfjs-cpu', format: 'tfjs-layers', inputShape: [4], outputSize: 3 });
      expect(Array.from(runtime.predict(rows, 3))).toEqual(predict(model));
    } finally {
      runtime.dispose();
    }
  });

  it('refuses bad magic', async () => {
    const bad = Uint8Array.from(bytes);
    bad[0] = 'X'.charCodeAt(0);
    expect((await loadError(bad)).message).toContain('bad magic');
  });

  it('refuses input shorter than the fixed header', async () => {
    expect((await loadError(bytes.subarray(0, 6))).message).toContain('bad magic');
  });

  it('refuses input cut inside the JSON header', async () => {
    expect((await loadError(bytes.subarray(0, 40))).message).toContain('truncated');
  });

  it('refuses input cut inside the weights', async () => {
    await loadError(bytes.subarray(0, bytes.length - 4));
  });

  it('refuses a header that is not JSON', async () => {
    const bad = Uint8Array.from(bytes);
    bad[8] = '!'.charCodeAt(0);
    expect((await loadError(bad)).message).toContain('not JSON');
  });

  it('reads artifacts whose weights are a copy, not a view of the input', () => {
    const view = Buffer.concat([Buffer.alloc(3), Buffer.from(bytes)]).subarray(3);
    const artifacts = readBundle(view);
    expect((artifacts.weightData as ArrayBuffer).byteLength).toBe(bytes.length - 8 - Buffer.from(bytes).readUInt32LE(4));
  });
});

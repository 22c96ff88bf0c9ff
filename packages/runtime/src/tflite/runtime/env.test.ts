import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadInterpreter } from './env.js';

const wasmDir = join(dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-tflite/package.json')), 'wasm');
const GLUE = 'tflite_web_api_cc_simd.js';
const BINARY = 'tflite_web_api_cc_simd.wasm';
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeml-interpreter-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** A copy of the interpreter's folder with its binary replaced by `binary`. */
async function installWith(name: string, binary: Buffer | undefined): Promise<string> {
  const at = join(dir, name);
  await rm(at, { recursive: true, force: true });
  await mkdir(at, { recursive: true });
  await copyFile(join(wasmDir, GLUE), join(at, GLUE));
  if (binary) await writeFile(join(at, BINARY), binary);
  return at;
}

describe('loading the TFLite interpreter from a damaged install', () => {
  it('a truncated binary fails the load with tflite-env, quickly, instead of waiting forever', async () => {
    const whole = await readFile(join(wasmDir, BINARY));
    const at = await installWith('truncated', whole.subarray(0, whole.length >> 1));
    const t0 = Date.now();
    await expect(loadInterpreter(at, 30_000)).rejects.toMatchObject({ code: 'tflite-env' });
    expect(Date.now() - t0).toBeLessThan(20_000);
  });

  it('a missing binary names the file', async () => {
    const at = await installWith('missing', undefined);
    await expect(loadInterpreter(at)).rejects.toThrow(/tflite_web_api_cc_simd\.wasm/);
  });

  it('a binary that is not WebAssembly fails the same way', async () => {
    const at = await installWith('garbage', Buffer.from('not a wasm module'));
    await expect(loadInterpreter(at)).rejects.toMatchObject({ code: 'tflite-env' });
  });
});

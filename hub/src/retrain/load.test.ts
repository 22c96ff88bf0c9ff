import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRetrainTargets } from './load.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeml-retrain-load-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const config = async (name: string, extra: Record<string, unknown>) => {
  const file = join(dir, `${name}.json`);
  await writeFile(file, JSON.stringify({ model: name, data: 'data.csv', target: 'y', ...extra }));
  return file;
};

describe('retraining configs', () => {
  it('takes a plain release config, with default triggers when it has no retrain section', async () => {
    const [t] = await loadRetrainTargets([await config('plain', {})]);
    expect(t!.config.model).toBe('plain');
    expect(t!.policy.triggers).toBeDefined();
  });

  it('refuses, naming the field, a config whose model a run could not train as released', async () => {
    for (const [name, extra] of [
      ['text', { categorical: 'one-hot' }],
      ['gaps', { impute: 'median' }],
      ['imported', { tflite: { file: 'model.tflite' } }],
    ] as const) {
      const file = await config(name, extra);
      await expect(loadRetrainTargets([file])).rejects.toMatchObject({ code: 'retrain-unsupported', message: expect.stringContaining(`"${Object.keys(extra)[0]}"`) as unknown });
    }
  });
});

/**
 * Values finite as doubles but beyond float32 (1e39) are refused where they would enter a
 * model offline too: in `edgeml batch` (CSV and JSON lines) and in training data, each with
 * one clear error naming the row and the feature.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLOAT32_MAX } from '@edgeml/core';
import { dataFile, edgeml, tempDir } from '../helpers/cli.js';

let dir: string;
let cleanup: () => Promise<void>;
let model: string;
let iris: string[];

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('intercept-f32'));
  model = join(dir, 'iris');
  const r = await edgeml(['train', '--data', dataFile('iris.csv'), '--target', 'species', '--out', model, '--seed', '7']);
  expect(r.code, r.stderr).toBe(0);
  iris = (await readFile(dataFile('iris.csv'), 'utf8')).trim().split(/\r?\n/);
}, 180_000);
afterAll(() => cleanup());

describe('float32 range in batch and training data', () => {
  it('refuses a CSV batch row beyond float32, naming the line and column', async () => {
    const input = join(dir, 'in.csv');
    const rows = iris.slice(0, 6);
    rows[3] = '5.1,3.5,1e39,0.2,setosa';
    rows[5] = '5.1,-3.5e38,1.4,0.2,setosa';
    await writeFile(input, rows.join('\n') + '\n');
    const r = await edgeml(['batch', '--in', input, '--out', join(dir, 'out.csv'), '--model', model, '--on-error', 'skip', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as { predicted: number; bad: number; errors: { line: number; error: string }[] };
    expect(summary.predicted).toBe(3);
    expect(summary.errors).toEqual([
      expect.objectContaining({ line: 4, error: `column "petal_length" holds "1e39", outside the float32 range (|x| <= ${FLOAT32_MAX})` }),
      expect.objectContaining({ line: 6, error: `column "sepal_width" holds "-3.5e38", outside the float32 range (|x| <= ${FLOAT32_MAX})` }),
    ]);
    const strict = await edgeml(['batch', '--in', input, '--out', join(dir, 'strict.csv'), '--model', model]);
    expect(strict.code).toBe(1);
    expect(strict.stderr).toBe(`edgeml: ${input}:4: column "petal_length" holds "1e39", outside the float32 range (|x| <= ${FLOAT32_MAX})\n`);
  });

  it('refuses a JSON-lines batch record beyond float32', async () => {
    const input = join(dir, 'in.jsonl');
    const lines = [
      { sepal_length: 5.1, sepal_width: 3.5, petal_length: 1.4, petal_width: 0.2 },
      { sepal_length: 5.1, sepal_width: 3.5, petal_length: 1.4, petal_width: 1e39 },
      [5.1, 3.5, 1e39, 0.2],
    ];
    await writeFile(input, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const r = await edgeml(['batch', '--in', input, '--out', join(dir, 'out.jsonl'), '--model', model, '--on-error', 'skip', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as { predicted: number; errors: { line: number; error: string }[] };
    expect(summary.predicted).toBe(1);
    expect(summary.errors.map((e) => [e.line, e.error])).toEqual([
      [2, `feature "petal_width" is 1e+39, outside the float32 range (|x| <= ${FLOAT32_MAX})`],
      [3, `feature "petal_length" is 1e+39, outside the float32 range (|x| <= ${FLOAT32_MAX})`],
    ]);
  });

  it('refuses training data beyond float32, naming the line and column', async () => {
    const data = join(dir, 'train.csv');
    const rows = [...iris];
    rows[7] = '5.1,3.5,1.4,-1e39,setosa';
    await writeFile(data, rows.join('\n') + '\n');
    const r = await edgeml(['train', '--data', data, '--target', 'species', '--out', join(dir, 'bad-model')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`\nedgeml: ${data}:8: column "petal_width" holds -1e39, outside the float32 range the model computes in (|x| <= ${FLOAT32_MAX})\n`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

/**
 * `edgeml train` reports figures a reader can trust: macro-F1 over the classes the test split
 * has, a warning naming a class with fewer than 5 test rows (or none), a warning for a test
 * split under 30 rows, per-class recall when classes are imbalanced, and row counts that say
 * which rows trained, which stopped training, and which were held out.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '@edgeml/ml';
import { dataFile, edgeml, tempDir } from '../helpers/cli.js';

let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('metrics'));
});
afterAll(async () => cleanup?.());

interface ClassRow { label: string; f1: number; support: number }

describe('edgeml train figures', () => {
  it('averages macro-F1 over the classes in the test split and warns about thin and absent classes', async () => {
    const [header, ...lines] = (await readFile(dataFile('iris.csv'), 'utf8')).trim().split(/\r?\n/);
    // 8 rows of each species, and one row of a fourth class that cannot reach the test split.
    const species = ['setosa', 'versicolor', 'virginica'];
    const picked = species.flatMap((s) => lines.filter((l) => l.endsWith(`,${s}`)).slice(0, 8));
    await writeFile(join(dir, 'small.csv'), [header, ...picked, '5.0,3.0,3.0,1.0,rare'].join('\n') + '\n');
    const r = await edgeml(['train', '--data', join(dir, 'small.csv'), '--target', 'species', '--out', join(dir, 'small'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.rows).toEqual({ train: 19, validation: 3, test: 3 });
    const present = (out.metrics.perClass as ClassRow[]).filter((c) => c.support > 0);
    expect(out.metrics.classesPresent).toBe(3);
    expect(out.metrics.macroF1).toBeCloseTo(present.reduce((a, c) => a + c.f1, 0) / 3, 12);
    expect(out.warnings).toEqual(
      expect.arrayContaining([
        'the test split has only 3 rows (fewer than 30); one row moves the figures by 33.3 points',
        'class "rare" has no test rows and is left out of macro-F1',
        'classes "setosa" (1), "versicolor" (1), "virginica" (1) have fewer than 5 test rows: their recall and F1 rest on a row or two',
      ]),
    );

    const text = await edgeml(['train', '--data', join(dir, 'small.csv'), '--target', 'species', '--out', join(dir, 'small-text')]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^trained mlp \(classification\) on 19 train rows, stopped by 3 validation rows at best epoch \d+ of \d+; 3 test rows held out \(25 in the data\)$/m);
    expect(text.stdout).toMatch(/^test split, 3 rows \(tfjs-wasm\): accuracy /m);
    expect(text.stderr).toContain('warning: the test split has only 3 rows (fewer than 30)');
    expect(text.stderr).toContain('warning: class "rare" has no test rows and is left out of macro-F1');
  });

  it('prints per-class recall when the classes are imbalanced', async () => {
    const random = seededRandom(5);
    const lines = ['vibration,temperature,state'];
    for (let i = 0; i < 240; i++) {
      const fault = i % 10 === 0;
      lines.push(`${((fault ? 3 : 1) + random()).toFixed(3)},${((fault ? 70 : 50) + 10 * random()).toFixed(2)},${fault ? 'fault' : 'ok'}`);
    }
    await writeFile(join(dir, 'machines.csv'), lines.join('\n') + '\n');
    const r = await edgeml(['train', '--data', join(dir, 'machines.csv'), '--target', 'state', '--out', join(dir, 'machines')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^per-class recall \(imbalanced classes\): fault \d\.\d{3} \(4 rows\), ok \d\.\d{3} \(32 rows\)$/m);
    expect(r.stderr).not.toContain('fewer than 30');
    expect(r.stderr).toContain('warning: class "fault" (4) has fewer than 5 test rows');
  });
});

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EdgemlError } from '@edgeml/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readCsvFile } from './csv.js';
import { buildDataset, subset, type BuildOptions } from './dataset.js';
import { splitDataset } from './split.js';

const dataDir = new URL('../../../../data/', import.meta.url).pathname;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeml-dataset-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function fixture(text: string): Promise<string> {
  const file = join(dir, 'data.csv');
  await writeFile(file, text);
  return file;
}

async function refusal(text: string, opts: BuildOptions): Promise<{ file: string; err: EdgemlError }> {
  const file = await fixture(text);
  const table = await readCsvFile(file);
  let err: unknown;
  try {
    buildDataset(table, opts);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(EdgemlError);
  expect((err as EdgemlError).exitCode).toBe(2);
  return { file, err: err as EdgemlError };
}

describe('buildDataset refusals', () => {
  it('refuses a missing target column naming the file, the column and the columns there are', async () => {
    const { file, err } = await refusal('a,b,y\n1,2,x\n', { target: 'label' });
    expect(err.code).toBe('missing-target');
    expect(err.message).toBe(`${file}: no target column "label"; the columns are a, b, y`);
  });

  it('refuses a non-numeric feature naming its line and column', async () => {
    const { file, err } = await refusal('a,b,y\n1,2,x\n3,four,z\n', { target: 'y' });
    expect(err.code).toBe('non-numeric');
    expect(err.message).toBe(`${file}:3: column "b" holds "four", not a number`);
  });

  it.each(['', 'NA', 'nan', 'NULL', 'None'])('refuses a missing value written as "%s" naming its line and column', async (cell) => {
    const { file, err } = await refusal(`a,b,y\n1,2,x\n3,${cell},z\n`, { target: 'y' });
    expect(err.code).toBe('missing-value');
    expect(err.message).toContain(`${file}:3: column "b" is empty`);
  });

  it('refuses a non-finite feature naming its line and column', async () => {
    const { file, err } = await refusal('a,b,y\n1,Infinity,x\n3,4,z\n', { target: 'y' });
    expect(err.code).toBe('non-finite');
    expect(err.message).toContain(`${file}:2: column "b"`);
  });

  it('refuses a missing target value naming its line and the target', async () => {
    const { file, err } = await refusal('a,b,y\n1,2,x\n3,4,\n', { target: 'y' });
    expect(err.code).toBe('missing-value');
    expect(err.message).toBe(`${file}:3: target column "y" is empty`);
  });

  it('refuses a target with one class only naming the file and the target', async () => {
    const { file, err } = await refusal('a,b,y\n1,2,yes\n3,4,yes\n5,6,yes\n', { target: 'y', task: 'classification' });
    expect(err.code).toBe('one-class');
    expect(err.message).toContain(file);
    expect(err.message).toContain('"y" has only one class ("yes")');
  });

  it('refuses a label a model does not know naming its line', async () => {
    const { file, err } = await refusal('a,b,y\n1,2,yes\n3,4,maybe\n', { target: 'y', labels: ['no', 'yes'] });
    expect(err.code).toBe('unknown-label');
    expect(err.message).toContain(`${file}:3: label "maybe"`);
  });

  it('refuses a regression target that is not a number naming its line and the target', async () => {
    const { file, err } = await refusal('a,b,y\n1,2,3.5\n3,4,high\n', { target: 'y', task: 'regression' });
    expect(err.code).toBe('non-numeric');
    expect(err.message).toContain(`${file}:3: target column "y" holds "high"`);
  });

  it('refuses a feature a model needs that the file lacks, naming the file and the column', async () => {
    const { file, err } = await refusal('a,y\n1,x\n2,z\n', { target: 'y', features: ['a', 'b'] });
    expect(err.code).toBe('missing-column');
    expect(err.message).toBe(`${file}: column "b" that the model needs is missing`);
  });

  it('refuses a file with only the target column', async () => {
    const { file, err } = await refusal('y\nx\nz\n', { target: 'y' });
    expect(err.code).toBe('no-features');
    expect(err.message).toContain(file);
  });

  it('refuses fewer rows than a split needs naming the file', async () => {
    const rows = Array.from({ length: 12 }, (_, i) => `${i},${i % 3},${i % 2 ? 'odd' : 'even'}`);
    const file = await fixture(['a,b,y', ...rows].join('\n'));
    const { dataset } = buildDataset(await readCsvFile(file), { target: 'y' });
    let err: unknown;
    try {
      splitDataset(dataset, { seed: 1 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(EdgemlError);
    expect(err).toMatchObject({ code: 'too-few-rows', exitCode: 2 });
    expect((err as Error).message).toContain('12 rows');
    expect((err as Error).message).toContain(file);
  });
});

describe('buildDataset conversion', () => {
  it('turns a table into row-major features, class indices and sorted labels', async () => {
    const file = await fixture('a,b,y\n1,2,yes\n3,4,no\n5.5,-6,yes\n');
    const { dataset } = buildDataset(await readCsvFile(file), { target: 'y' });
    expect(dataset).toMatchObject({ features: ['a', 'b'], target: 'y', task: 'classification', labels: ['no', 'yes'], n: 3 });
    expect([...dataset.x]).toEqual([1, 2, 3, 4, 5.5, -6]);
    expect([...dataset.y]).toEqual([1, 0, 1]);
  });

  it('sorts numeric labels by value, not as text', async () => {
    const rows = ['10', '9', '2', '10', '9', '2'].map((t, i) => `${i},${t}`);
    const { dataset } = buildDataset(await readCsvFile(await fixture(['a,y', ...rows].join('\n'))), { target: 'y', task: 'classification' });
    expect(dataset.labels).toEqual(['2', '9', '10']);
  });

  it('takes exactly the features asked for, in that order', async () => {
    const file = await fixture('a,b,c,y\n1,2,3,x\n4,5,6,z\n');
    const { dataset } = buildDataset(await readCsvFile(file), { target: 'y', features: ['c', 'a'] });
    expect(dataset.features).toEqual(['c', 'a']);
    expect([...dataset.x]).toEqual([3, 1, 6, 4]);
  });

  it('reports column types, missing values, constant columns, duplicates, class balance and ranges', async () => {
    const file = await fixture(['a,b,note,label', '1,5,x,yes', '2,5,,no', '3,5,NA,yes', '1,5,x,yes', '4,5,y,no'].join('\n'));
    const { report } = buildDataset(await readCsvFile(file), { target: 'label', features: ['a', 'b'] });
    expect(report).toMatchObject({ file, rows: 5, task: 'classification', target: 'label', duplicateRows: 1, classBalance: { no: 2, yes: 3 } });
    expect(report.columns).toEqual([
      { name: 'a', type: 'numeric', missing: 0, nonFinite: 0, min: 1, max: 4, mean: 2.2, constant: false },
      { name: 'b', type: 'numeric', missing: 0, nonFinite: 0, min: 5, max: 5, mean: 5, constant: true },
      { name: 'note', type: 'string', missing: 2, nonFinite: 0, min: null, max: null, mean: null, constant: false, distinct: 2 },
      { name: 'label', type: 'string', missing: 0, nonFinite: 0, min: null, max: null, mean: null, constant: false, distinct: 2 },
    ]);
    expect(report.warnings).toEqual(['feature "b" is constant; it carries no information', '1 duplicate rows']);
  });

  it('warns when classes are imbalanced by more than 10:1', async () => {
    const rows = Array.from({ length: 23 }, (_, i) => `${i},${i < 22 ? 'common' : 'rare'}`);
    const { report } = buildDataset(await readCsvFile(await fixture(['a,y', ...rows].join('\n'))), { target: 'y' });
    expect(report.classBalance).toEqual({ common: 22, rare: 1 });
    expect(report.warnings).toContain('classes are imbalanced by more than 10:1');
  });

  it('copies the rows asked for into a new dataset', async () => {
    const { dataset } = buildDataset(await readCsvFile(await fixture('a,b,y\n1,2,x\n3,4,z\n5,6,x\n')), { target: 'y' });
    const picked = subset(dataset, [2, 0]);
    expect(picked.n).toBe(2);
    expect([...picked.x]).toEqual([5, 6, 1, 2]);
    expect([...picked.y]).toEqual([0, 0]);
    expect(picked.labels).toEqual(dataset.labels);
  });
});

describe('task inference', () => {
  it('reads digits 0-9 as classification', async () => {
    const { dataset } = buildDataset(await readCsvFile(join(dataDir, 'digits.csv')), { target: 'digit' });
    expect(dataset.task).toBe('classification');
    expect(dataset.labels).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    expect(dataset.features).toHaveLength(64);
  });

  it('reads diabetes progression as regression', async () => {
    const { dataset, report } = buildDataset(await readCsvFile(join(dataDir, 'diabetes.csv')), { target: 'progression' });
    expect(dataset.task).toBe('regression');
    expect(dataset.labels).toBeUndefined();
    expect(report.classBalance).toBeUndefined();
    expect(dataset.y[0]).toBe(151);
  });

  it('reads string labels as classification', async () => {
    const { dataset, report } = buildDataset(await readCsvFile(join(dataDir, 'iris.csv')), { target: 'species' });
    expect(dataset.task).toBe('classification');
    expect(report.classBalance).toEqual({ setosa: 50, versicolor: 50, virginica: 50 });
  });

  it('reads fractional numeric targets as regression even when few', async () => {
    const { dataset } = buildDataset(await readCsvFile(await fixture('a,y\n1,0.5\n2,1.5\n3,0.5\n')), { target: 'y' });
    expect(dataset.task).toBe('regression');
  });

  it('lets the caller override the inferred task', async () => {
    const { dataset } = buildDataset(await readCsvFile(join(dataDir, 'diabetes.csv')), { target: 'progression', task: 'classification' });
    expect(dataset.task).toBe('classification');
  });
});

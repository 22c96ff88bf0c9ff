import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EdgemlError } from '@edgeml/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseCsv, readCsvFile } from './csv.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeml-csv-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function fixture(text: string): Promise<string> {
  const file = join(dir, 'data.csv');
  await writeFile(file, text);
  return file;
}

async function refusal(text: string): Promise<{ file: string; err: EdgemlError }> {
  const file = await fixture(text);
  const err = await readCsvFile(file).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(EdgemlError);
  expect((err as EdgemlError).exitCode).toBe(2);
  return { file, err: err as EdgemlError };
}

describe('readCsvFile', () => {
  it('reads header, trimmed cells and the line each row came from, skipping blank lines', async () => {
    const table = await readCsvFile(await fixture('\uFEFFa, b ,y\n1,2,x\n\n3, 4,z\n'));
    expect(table.header).toEqual(['a', 'b', 'y']);
    expect(table.rows).toEqual([
      ['1', '2', 'x'],
      ['3', '4', 'z'],
    ]);
    expect(table.lines).toEqual([2, 4]);
  });

  it('refuses a missing file naming it', async () => {
    const file = join(dir, 'absent.csv');
    const err = await readCsvFile(file).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'file-missing', exitCode: 2 });
    expect((err as Error).message).toContain(file);
  });

  it('refuses an empty file naming it', async () => {
    const { file, err } = await refusal('');
    expect(err.code).toBe('empty-file');
    expect(err.message).toContain(file);
  });

  it('refuses a file of blank lines as empty', async () => {
    const { err } = await refusal('\n\n  \n');
    expect(err.code).toBe('empty-file');
  });

  it('refuses a header-only file naming it', async () => {
    const { file, err } = await refusal('a,b,y\n');
    expect(err.code).toBe('empty-file');
    expect(err.message).toBe(`${file}: the file has a header but no data rows`);
  });

  it('refuses a ragged row naming its line', async () => {
    const { file, err } = await refusal('a,b,y\n1,2,x\n\n3,4\n5,6,z\n');
    expect(err.code).toBe('ragged-row');
    expect(err.message).toBe(`${file}:4: row has 2 fields, the header has 3`);
  });

  it('refuses a row with too many fields naming its line', async () => {
    const { file, err } = await refusal('a,b,y\n1,2,x,extra\n');
    expect(err.code).toBe('ragged-row');
    expect(err.message).toContain(`${file}:2:`);
  });

  it('refuses a duplicate header column naming the column and the header line', async () => {
    const { file, err } = await refusal('a,b,a,y\n1,2,3,x\n');
    expect(err.code).toBe('bad-header');
    expect(err.message).toBe(`${file}:1: column "a" appears twice in the header`);
  });

  it('refuses an unnamed header column naming its position', async () => {
    const { file, err } = await refusal('a,,y\n1,2,x\n');
    expect(err.code).toBe('bad-header');
    expect(err.message).toBe(`${file}:1: column 2 has an empty name`);
  });

  it('refuses an unclosed quote naming the file', async () => {
    const { file, err } = await refusal('a,b,y\n1,"2,x\n');
    expect(err.code).toBe('bad-csv');
    expect(err.message).toContain(file);
  });

  it('names <input> when parsing text without a file', () => {
    expect(() => parseCsv('a,b\n')).toThrow('<input>: the file has a header but no data rows');
  });
});

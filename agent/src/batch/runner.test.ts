/**
 * The batch runner on a real model (iris MLP, wasm runtime) and real files: outputs, bad rows
 * in both modes with their lines, and resuming an interrupted run.
 */
import { appendFile, mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isEdgemlError, sha256Hex } from '@edgeml/core';
import { trainIris, type IrisFixture } from '../serve/iris.fixture.js';
import { Predictor } from '../serve/predictor.js';
import { checkpointPath, readCheckpoint } from './checkpoint.js';
import { errorsPath, runBatch, type BatchModel, type BatchOptions } from './runner.js';

let dir: string;
let iris: IrisFixture;
let model: BatchModel;
let predictor: Predictor;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeml-batch-'));
  iris = await trainIris();
  const loaded = await iris.load(3);
  predictor = new Predictor();
  predictor.swap(loaded);
  model = { name: 'iris', version: 3, sha256: sha256Hex(iris.artifact), spec: loaded.release.spec, runtime: loaded.runtime };
});
afterAll(async () => {
  predictor?.swap(null)?.runtime.dispose();
  await rm(dir, { recursive: true, force: true });
});

const header = () => ['id', ...iris.features, 'species'].join(',');
const csvRow = (i: number) => [`r${i}`, ...iris.rows[i % iris.rows.length]!, iris.labels[i % iris.rows.length]].join(',');
const file = (name: string) => join(dir, name);
const run = (o: Partial<BatchOptions> & { input: string; output: string }) => runBatch({ model, ...o });
const catching = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (e) {
    return e as Error & { code?: string; exitCode?: number };
  }
  throw new Error('expected a failure');
};

describe('runBatch', () => {
  it('writes one CSV row per input row: line, the input echoed, prediction, probabilities, model and version', async () => {
    const input = file('plain.csv');
    await writeFile(input, [header(), ...Array.from({ length: 40 }, (_, i) => csvRow(i))].join('\n') + '\n');
    const s = await run({ input, output: file('plain.out.csv'), batchSize: 16 });
    expect(s).toMatchObject({ records: 40, predicted: 40, bad: 0, errorsFile: null, interrupted: false, model: { name: 'iris', version: 3 } });
    const lines = (await readFile(file('plain.out.csv'), 'utf8')).trimEnd().split('\n');
    expect(lines[0]).toBe(`line,${header()},prediction,confidence,p_setosa,p_versicolor,p_virginica,model,model_version`);
    expect(lines).toHaveLength(41);
    const want = predictor.predict(Array.from({ length: 40 }, (_, i) => iris.rows[i % iris.rows.length]));
    lines.slice(1).forEach((l, i) => {
      const cells = l.split(',');
      expect(cells[0]).toBe(String(i + 2));
      expect(cells.slice(1, 7).join(',')).toBe(csvRow(i));
      const p = want.predictions[i] as { label: string; probabilities: number[] };
      expect(cells[7]).toBe(p.label);
      cells.slice(9, 12).forEach((v, c) => expect(Number(v)).toBeCloseTo(p.probabilities[c]!, 5));
      expect(cells.slice(12)).toEqual(['iris', '3']);
    });
    expect(await stat(checkpointPath(file('plain.out.csv'))).catch(() => null)).toBeNull();
  });

  it('reads JSON lines (named features with extra keys, or arrays) and writes JSON lines', async () => {
    const input = file('in.jsonl');
    const named = Object.fromEntries(iris.features.map((f, j) => [f, iris.rows[0]![j]]));
    await writeFile(input, [JSON.stringify({ id: 'a', ...named }), '', JSON.stringify(iris.rows[1]), JSON.stringify({ ...named, id: 'b' })].join('\n'));
    const s = await run({ input, output: file('out.jsonl') });
    expect(s).toMatchObject({ records: 3, predicted: 3, bad: 0 });
    const out = (await readFile(file('out.jsonl'), 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(out.map((o) => o.line)).toEqual([1, 3, 4]);
    expect(out[0]).toMatchObject({ input: { id: 'a', ...named }, model: 'iris', model_version: 3 });
    expect(Object.keys(out[0].probabilities)).toEqual(['setosa', 'versicolor', 'virginica']);
    expect(out[0].confidence).toBe(out[0].probabilities[out[0].prediction]);
    expect(out[1].input).toEqual(iris.rows[1]);
  });

  describe('bad rows', () => {
    const bad = () =>
      [
        header(),
        csvRow(0),
        `r1,5.1,abc,1.4,0.2,setosa`,
        csvRow(2),
        `r3,5.1,3.5,,0.2,setosa`,
        `r4,5.1,3.5`,
        csvRow(5),
        `r6,5.1,3.5,1.4,NaN,setosa`,
        `r7,"5.1,3.5,1.4,0.2,setosa`,
      ].join('\n') + '\n';

    it('skip: predicts the good rows, names each bad line, and writes them to <out>.errors.jsonl', async () => {
      const input = file('bad.csv');
      await writeFile(input, bad());
      const output = file('bad-skip.csv');
      const s = await run({ input, output, onError: 'skip', batchSize: 2 });
      expect(s).toMatchObject({ records: 8, predicted: 3, bad: 5, errorsFile: errorsPath(output) });
      expect(s.errors).toEqual([
        { line: 3, error: 'column "sepal_width" holds "abc", not a finite number' },
        { line: 5, error: 'column "petal_length" is empty' },
        { line: 6, error: 'has 3 fields, the header has 6' },
        { line: 8, error: 'column "petal_width" holds "NaN", not a finite number' },
        { line: 9, error: 'a quoted field opened on line 9 is never closed' },
      ]);
      const errors = (await readFile(errorsPath(output), 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l));
      expect(errors.map((e) => e.line)).toEqual([3, 5, 6, 8, 9]);
      expect(errors[0].text).toBe('r1,5.1,abc,1.4,0.2,setosa');
      const out = (await readFile(output, 'utf8')).trimEnd().split('\n');
      expect(out.slice(1).map((l) => l.split(',')[0])).toEqual(['2', '4', '7']);
    });

    it('fail: stops at the first bad line with exit code 1, keeping the rows before it', async () => {
      const input = file('bad.csv');
      await writeFile(input, bad());
      const output = file('bad-fail.csv');
      const e = await catching(run({ input, output, onError: 'fail' }));
      expect(isEdgemlError(e)).toBe(true);
      expect(e.exitCode).toBe(1);
      expect(e.message).toBe(`${input}:3: column "sepal_width" holds "abc", not a finite number`);
      const out = (await readFile(output, 'utf8')).trimEnd().split('\n');
      expect(out.slice(1).map((l) => l.split(',')[0])).toEqual(['2']);
      // The run can go on past the bad line with skip, without redoing line 2.
      const s = await run({ input, output, onError: 'skip', resume: true });
      expect(s).toMatchObject({ resumedFrom: 1, records: 8, predicted: 3, bad: 5 });
      const all = (await readFile(output, 'utf8')).trimEnd().split('\n');
      expect(all.slice(1).map((l) => l.split(',')[0])).toEqual(['2', '4', '7']);
    });

    it('names JSON lines that are not JSON or miss a feature', async () => {
      const input = file('bad.jsonl');
      const named = Object.fromEntries(iris.features.map((f, j) => [f, iris.rows[0]![j]]));
      await writeFile(input, [JSON.stringify(named), '{"sepal_length": 1,', JSON.stringify({ ...named, petal_width: undefined }), JSON.stringify({ ...named, petal_width: '1' }), '[1, 2]', '7'].join('\n'));
      const s = await run({ input, output: file('bad.out.jsonl'), onError: 'skip' });
      expect(s.errors.map((e) => [e.line, e.error.replace(/: .*JSON.*/, ': (parser message)')])).toEqual([
        [2, 'not valid JSON: (parser message)'],
        [3, 'feature "petal_width" is missing'],
        [4, 'feature "petal_width" is string, not a number'],
        [5, 'has 2 values, the model takes 4 (sepal_length, sepal_width, petal_length, petal_width)'],
        [6, 'expected an object of named features or an array of 4 numbers, not number'],
      ]);
    });

    it('refuses a header without the model features before writing anything', async () => {
      const input = file('nohead.csv');
      await writeFile(input, 'a,b\n1,2\n');
      const e = await catching(run({ input, output: file('nohead.out.csv') }));
      expect(e.message).toBe(`${input}: columns "sepal_length", "sepal_width", "petal_length", "petal_width" that the model needs are missing from the header`);
      expect(e.exitCode).toBe(2);
      expect(await stat(file('nohead.out.csv')).catch(() => null)).toBeNull();
    });
  });

  describe('resume', () => {
    const big = async (name: string, n: number) => {
      const input = file(name);
      const lines = [header()];
      for (let i = 0; i < n; i++) lines.push(i % 97 === 13 ? `bad${i},1,2,x,4,setosa` : csvRow(i));
      await writeFile(input, lines.join('\n') + '\n');
      return input;
    };

    it('continues an interrupted run from its checkpoint, dropping what was written after it, to the same output', async () => {
      const input = await big('resume.csv', 3000);
      const reference = file('resume-ref.csv');
      await run({ input, output: reference, onError: 'skip', batchSize: 64 });

      const output = file('resume-out.csv');
      const abort = new AbortController();
      const first = await run({
        input,
        output,
        onError: 'skip',
        batchSize: 64,
        checkpointRows: 200,
        signal: abort.signal,
        onProgress: (p) => p.records > 1000 && abort.abort(),
      });
      expect(first.interrupted).toBe(true);
      const c = (await readCheckpoint(output))!;
      expect(c.records).toBe(first.records);
      expect((await stat(output)).size).toBe(c.output.bytes);
      // A crash after the checkpoint leaves output the checkpoint does not cover: it must go.
      await appendFile(output, '9999,half a row');
      await appendFile(errorsPath(output), '{"line": 9999');

      const second = await run({ input, output, onError: 'skip', batchSize: 64, resume: true });
      expect(second.resumedFrom).toBe(c.records);
      expect(second).toMatchObject({ records: 3000, interrupted: false });
      expect(await readFile(output, 'utf8')).toBe(await readFile(reference, 'utf8'));
      expect(await readFile(errorsPath(output), 'utf8')).toBe(await readFile(errorsPath(reference), 'utf8'));
      expect(await stat(checkpointPath(output)).catch(() => null)).toBeNull();
    });

    it('refuses to resume when the input changed or the model is another one', async () => {
      const input = await big('resume2.csv', 500);
      const output = file('resume2-out.csv');
      const abort = new AbortController();
      await run({ input, output, onError: 'skip', batchSize: 32, signal: abort.signal, onProgress: () => abort.abort() });
      const other = { ...model, version: 4, sha256: 'f'.repeat(64) };
      const e1 = await catching(runBatch({ model: other, input, output, onError: 'skip', resume: true }));
      expect(e1.message).toMatch(/was started with model iris 3, not iris 4: one output must come from one model; start over without --resume/);
      await utimes(input, new Date(), new Date(Date.now() + 5000));
      const e2 = await catching(run({ input, output, onError: 'skip', resume: true }));
      expect(e2.message).toMatch(/resume2\.csv changed since the interrupted run/);
      // Without --resume the run starts over.
      const s = await run({ input, output, onError: 'skip' });
      expect(s).toMatchObject({ resumedFrom: 0, records: 500 });
    });
  });
});

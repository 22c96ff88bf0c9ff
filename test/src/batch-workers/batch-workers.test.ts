/**
 * `edgeml batch --workers N` on the digits int8 TFLite model: the output of several worker
 * threads is the very bytes of one, and of the model run on the calling thread; a run killed
 * with SIGKILL resumes to the same bytes; bad rows keep their line numbers in both modes, also
 * in blocks far from the file's start.
 */
import { spawn } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBatch, startBatchWorkers, type BatchWorkers } from '@edgeml/agent';
import { readModelDir } from '@edgeml/ml';
import { loadTfliteRuntime } from '@edgeml/tflite';
import { dataFile, edgeml, repoRoot, tempDir } from '../helpers/cli.js';

const model = join(repoRoot, 'test/fixtures/digits-int8');
let dir: string;
let cleanup: () => Promise<void>;
let header: string;
let pixels: string[];

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('batch-workers'));
  const lines = (await readFile(dataFile('digits.csv'), 'utf8')).trim().split('\n');
  header = lines[0]!;
  pixels = lines.slice(1);
});
afterAll(() => cleanup());

/** `n` digits rows (cycled) behind an id column; `edit` may replace a row's text by its index. */
async function digitsCsv(name: string, n: number, edit?: (i: number, row: string) => string): Promise<string> {
  const parts = [`id,${header}\n`];
  for (let i = 0; i < n; i++) {
    const row = `${i},${pixels[i % pixels.length]!}`;
    parts.push(`${edit ? edit(i, row) : row}\n`);
  }
  const file = join(dir, name);
  await writeFile(file, parts.join(''));
  return file;
}

async function inProcess(input: string, output: string, onError: 'skip' | 'fail' = 'fail') {
  const { meta, artifact } = await readModelDir(model);
  const runtime = await loadTfliteRuntime(artifact);
  try {
    return await runBatch({ input, output, onError, model: { name: 'digits-int8', version: `sha256:${meta.sha256.slice(0, 12)}`, sha256: meta.sha256, spec: meta.spec, runtime } });
  } finally {
    runtime.dispose();
  }
}

describe('edgeml batch --workers', () => {
  it('writes the same bytes with 1 and 2 workers as the model run on one thread, quoted multi-line cells and CRLF included', async () => {
    // ~4 blocks of input; quoted cells that span lines and CRLF endings shift lines against records.
    const input = await digitsCsv('mixed.csv', 25_000, (i, row) => {
      const [id, ...rest] = row.split(',');
      if (i % 997 === 5) return `"${id}\nsecond line, with a comma",${rest.join(',')}`;
      if (i % 13 === 0) return `${row}\r`;
      return row;
    });
    const ref = join(dir, 'mixed-ref.csv');
    const summary = await inProcess(input, ref);
    expect(summary.predicted).toBe(25_000);
    const expected = await readFile(ref);
    for (const workers of ['1', '2']) {
      const out = join(dir, `mixed-w${workers}.csv`);
      const r = await edgeml(['batch', '--in', input, '--out', out, '--model', model, '--workers', workers, '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ records: 25_000, predicted: 25_000, bad: 0 });
      expect((await readFile(out)).equals(expected), `--workers ${workers} differs from the single-thread output`).toBe(true);
    }
  });

  it('resumes a run with 2 workers killed by SIGKILL mid-file to the bytes of an uninterrupted run', async () => {
    const n = 100_000;
    const input = await digitsCsv('big.csv', n);
    const reference = join(dir, 'big-ref.csv');
    const ref = await edgeml(['batch', '--in', input, '--out', reference, '--model', model, '--workers', '1']);
    expect(ref.code, ref.stderr).toBe(0);

    const out = join(dir, 'big-out.csv');
    const progress = `${out}.progress.json`;
    const child = spawn(process.execPath, [join(repoRoot, 'cli/bin/edgeml.js'), 'batch', '--in', input, '--out', out, '--model', model, '--workers', '2', '--checkpoint-rows', '5000'], { stdio: 'ignore' });
    const exited = new Promise((r) => child.once('exit', r));
    let done = 0;
    const deadline = Date.now() + 90_000;
    while (done === 0 && Date.now() < deadline && child.exitCode === null) {
      await new Promise((r) => setTimeout(r, 5));
      done = await readFile(progress, 'utf8').then((t) => JSON.parse(t).records as number, () => 0);
    }
    child.kill('SIGKILL');
    await exited;
    expect(child.signalCode, 'the run ended before it could be killed; make the input larger').toBe('SIGKILL');
    const checkpoint = JSON.parse(await readFile(progress, 'utf8'));
    expect(checkpoint.records).toBeGreaterThan(0);
    expect(checkpoint.records).toBeLessThan(n);
    // A run with workers checkpoints where the next record starts, and seeks there on resume.
    expect(checkpoint.resumeAt.offset).toBeGreaterThan(0);
    expect(checkpoint.resumeAt.lines).toBe(checkpoint.records + 1);

    const r = await edgeml(['batch', '--in', input, '--out', out, '--model', model, '--workers', '2', '--resume', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.resumedFrom).toBe(checkpoint.records);
    expect(summary.records).toBe(n);
    expect((await readFile(out)).equals(await readFile(reference))).toBe(true);
    expect(await stat(progress).catch(() => null)).toBeNull();
  }, 225_000);

  describe('bad rows far into the file keep their line numbers', () => {
    // Line 1 is the header; a row spanning two lines early on shifts every later line by one.
    const n = 30_000;
    const badInput = () =>
      digitsCsv('bad.csv', n, (i, row) => {
        const [id, ...rest] = row.split(',');
        if (i === 10) return `"${id}\nnote",${rest.join(',')}`; // lines 12-13
        if (i === 15_000) return `${id},${rest.slice(0, 10).join(',')},x0,${rest.slice(11).join(',')}`; // line 15003
        if (i === 29_000) return `${id},${rest.slice(0, 20).join(',')}`; // line 29003
        return row;
      });

    it('skip: every bad line is reported and the output equals the single-thread run', async () => {
      const input = await badInput();
      const ref = join(dir, 'skip-ref.csv');
      await inProcess(input, ref, 'skip');
      const out = join(dir, 'skip.csv');
      const r = await edgeml(['batch', '--in', input, '--out', out, '--model', model, '--workers', '2', '--on-error', 'skip']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^done: ${n - 2} rows predicted, 2 bad, of ${n} read`));
      expect(r.stdout).toContain('line 15003: column "p1_2" holds "x0", not a finite number');
      expect(r.stdout).toContain('line 29003: has 21 fields, the header has 66');
      const errors = (await readFile(`${out}.errors.jsonl`, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { line: number });
      expect(errors.map((e) => e.line)).toEqual([15003, 29003]);
      expect((await readFile(out)).equals(await readFile(ref))).toBe(true);
      expect(await readFile(`${out}.errors.jsonl`, 'utf8')).toBe(await readFile(`${ref}.errors.jsonl`, 'utf8'));
    });

    it('fail: stops at the first bad line with exit 1 naming it, and resumes with skip to the skip run\'s output', async () => {
      const input = await badInput();
      const out = join(dir, 'fail.csv');
      const r = await edgeml(['batch', '--in', input, '--out', out, '--model', model, '--workers', '2']);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`edgeml: ${input}:15003: column "p1_2" holds "x0", not a finite number\n`);
      const resumed = await edgeml(['batch', '--in', input, '--out', out, '--model', model, '--workers', '2', '--on-error', 'skip', '--resume', '--json']);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(JSON.parse(resumed.stdout)).toMatchObject({ records: n, predicted: n - 2, bad: 2 });
      expect((await readFile(out)).equals(await readFile(join(dir, 'skip-ref.csv')))).toBe(true);
    });
  });

  it('fails the run with the loading error when one of the workers cannot load the model, writing nothing', async () => {
    // The second worker's runtime registry has no TFLite loader; the first loads the real one.
    const runtimes = join(dir, 'half-runtimes.mjs');
    const real = pathToFileURL(join(repoRoot, 'packages/runtime/dist/index.js')).href;
    await writeFile(
      runtimes,
      `import { threadId } from 'node:worker_threads';\nexport function half() {\n  const loader = async (a) => (await import(${JSON.stringify(real)})).createTfliteRuntime(a);\n  return threadId % 2 ? { 'tflite-int8': loader } : {};\n}\n`,
    );
    const input = await digitsCsv('half.csv', 20_000);
    const out = join(dir, 'half-out.csv');
    const { meta, artifact } = await readModelDir(model);
    const runtime = await loadTfliteRuntime(artifact);
    try {
      const run = runBatch({
        input,
        output: out,
        model: { name: 'digits-int8', version: 1, sha256: meta.sha256, spec: meta.spec, runtime, artifact: { bytes: Uint8Array.from(artifact), format: 'tflite-int8' } },
        workers: { count: 2, runtimes: { module: pathToFileURL(runtimes).href, export: 'half' } },
      });
      await expect(run).rejects.toThrow(/has no runtime for tflite-int8/);
    } finally {
      runtime.dispose();
    }
    expect(await stat(out).catch(() => null)).toBeNull();
  });

  describe('workers started ahead of the run (startBatchWorkers)', () => {
    const loadModel = async () => {
      const { meta, artifact } = await readModelDir(model);
      return { meta, artifact: { bytes: Uint8Array.from(artifact), format: 'tflite-int8' as const }, runtime: await loadTfliteRuntime(artifact) };
    };
    const runtimesModule = async () => {
      const file = join(dir, 'all-runtimes.mjs');
      const real = pathToFileURL(join(repoRoot, 'packages/runtime/dist/index.js')).href;
      await writeFile(file, `export function all() {\n  const loader = async (a) => (await import(${JSON.stringify(real)})).createTfliteRuntime(a);\n  return { 'tflite-int8': loader };\n}\n`);
      return { module: pathToFileURL(file).href, export: 'all' };
    };
    /** The workers, with a record of whether they were closed. */
    const watched = (w: BatchWorkers) => {
      const state = { closed: false };
      const close = w.close.bind(w);
      w.close = () => {
        state.closed = true;
        return close();
      };
      return state;
    };

    it('are taken over by the run, which writes the same bytes and closes them', async () => {
      const input = await digitsCsv('ahead.csv', 20_000);
      const ref = join(dir, 'ahead-ref.csv');
      await inProcess(input, ref);
      const { meta, artifact, runtime } = await loadModel();
      const runtimes = await runtimesModule();
      const workers = startBatchWorkers(2, runtimes, artifact);
      const state = watched(workers);
      try {
        const out = join(dir, 'ahead-out.csv');
        const summary = await runBatch({
          input,
          output: out,
          model: { name: 'digits-int8', version: `sha256:${meta.sha256.slice(0, 12)}`, sha256: meta.sha256, spec: meta.spec, runtime, artifact },
          workers: { count: 2, runtimes, started: workers },
        });
        expect(summary.predicted).toBe(20_000);
        expect((await readFile(out)).equals(await readFile(ref))).toBe(true);
        expect(state.closed).toBe(true);
      } finally {
        runtime.dispose();
        await workers.close();
      }
    });

    it('are closed when the run cannot begin', async () => {
      const { meta, artifact, runtime } = await loadModel();
      const runtimes = await runtimesModule();
      const workers = startBatchWorkers(2, runtimes, artifact);
      const state = watched(workers);
      try {
        const run = runBatch({
          input: join(dir, 'no-such-input.csv'),
          output: join(dir, 'never.csv'),
          model: { name: 'digits-int8', version: 1, sha256: meta.sha256, spec: meta.spec, runtime, artifact },
          workers: { count: 2, runtimes, started: workers },
        });
        await expect(run).rejects.toThrow(/cannot read/);
        expect(state.closed).toBe(true);
      } finally {
        runtime.dispose();
        await workers.close();
      }
    });
  });

  it('refuses --workers 0 with exit 2', async () => {
    const input = await digitsCsv('small.csv', 10);
    const r = await edgeml(['batch', '--in', input, '--out', join(dir, 'small-out.csv'), '--model', model, '--workers', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('edgeml: the number of workers must be a whole number of at least 1\n');
  });
});

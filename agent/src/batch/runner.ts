/**
 * Offline batch inference: streams an input file through the model in runtime batches and
 * streams the predictions out. Memory holds one batch, whatever the file size. Bad records
 * are reported with their line (skipped, or the run stops); the run can be interrupted at any
 * instant and resumed from its last checkpoint without redoing finished records.
 */
import { createReadStream } from 'node:fs';
import { mkdir, open, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { checkFailed, userError, type ModelSpec } from '@edgeml/core';
import type { ModelRuntime } from '@edgeml/ml';
import { createPipeline } from '../serve/pipeline.js';
import { readCheckpoint, removeCheckpoint, writeCheckpoint, type Checkpoint } from './checkpoint.js';
import { createWriter, formatOfPath, openReader, type DataFormat } from './formats.js';

/** A model ready to run, from an agent's active slot or a model directory. */
export interface BatchModel {
  name: string;
  /** The signed release version, or `sha256:<prefix>` for a model directory. */
  version: number | string;
  sha256: string;
  spec: ModelSpec;
  runtime: ModelRuntime;
}

export interface BatchProgress {
  records: number;
  predicted: number;
  bad: number;
  bytesRead: number;
  totalBytes: number;
}

export interface BatchOptions {
  input: string;
  output: string;
  inputFormat?: DataFormat;
  outputFormat?: DataFormat;
  model: BatchModel;
  onError?: 'skip' | 'fail';
  /** Rows per runtime call (default 256). */
  batchSize?: number;
  /** Continue the interrupted run recorded in `<output>.progress.json`, if there is one. */
  resume?: boolean;
  /** Stops the run at the next batch boundary, with a checkpoint to resume from. */
  signal?: AbortSignal;
  onProgress?: (p: BatchProgress) => void;
  /** Checkpoint after this many records or this many ms, whichever comes first. */
  checkpointRows?: number;
  checkpointMs?: number;
}

export interface BatchSummary {
  input: string;
  output: string;
  /** `<output>.errors.jsonl` when a record was bad, else null. */
  errorsFile: string | null;
  model: { name: string; version: number | string };
  /** Input records read in total, including those done before a resume. */
  records: number;
  predicted: number;
  bad: number;
  /** Records a resumed run found already done. */
  resumedFrom: number;
  seconds: number;
  rowsPerSecond: number;
  /** The first bad records, with their lines. */
  errors: { line: number; error: string }[];
  /** True when stopped by the signal; run again with resume to finish. */
  interrupted: boolean;
}

export const errorsPath = (out: string) => `${out}.errors.jsonl`;

export async function runBatch(o: BatchOptions): Promise<BatchSummary> {
  const started = performance.now();
  const input = resolve(o.input);
  const output = resolve(o.output);
  const errFile = errorsPath(output);
  const batchSize = o.batchSize ?? 256;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw userError('bad-usage', 'the batch size must be a whole number of at least 1');
  if (input === output) throw userError('bad-usage', 'the output file must not be the input file');
  const inFormat = o.inputFormat ?? formatOfPath(input);
  if (!inFormat) throw userError('bad-usage', `cannot tell the format of ${input} from its name; give the input format (csv or jsonl)`);
  const outFormat = o.outputFormat ?? formatOfPath(output) ?? inFormat;
  let info;
  try {
    info = await stat(input);
  } catch (e) {
    throw userError('file-missing', `cannot read ${input}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const { model } = o;
  const pipe = createPipeline(model.spec, model.runtime);

  const previous = o.resume ? await readCheckpoint(output) : undefined;
  if (previous) await checkResumable(previous, { input, size: info.size, mtimeMs: info.mtimeMs, inFormat, outFormat, model, output });
  else await removeCheckpoint(output);

  const x = new Float32Array(batchSize * pipe.width);
  let n = 0;
  const stream = createReadStream(input, { highWaterMark: 1 << 18 });
  let reader, writer;
  try {
    reader = await openReader({ input: stream, file: input, format: inFormat, pipe, x, slot: () => n, echoAs: outFormat });
    writer = createWriter(outFormat, model.spec, reader.echoColumns, model, input);
  } catch (e) {
    stream.destroy();
    throw e;
  }

  await mkdir(dirname(output), { recursive: true });
  const out = await openAt(output, previous?.output.bytes);
  let outPos = previous?.output.bytes ?? 0;
  if (!previous) outPos += await writeAll(out, writer.header(), 0);
  let errPos = previous?.errors.bytes ?? 0;
  let err: FileHandle | undefined = errPos > 0 ? await openAt(errFile, errPos) : undefined;
  if (!err) await rm(errFile, { force: true });

  const lines = new Array<number>(batchSize);
  const echoes = new Array<string>(batchSize);
  let errText = '';
  const skip = previous?.records ?? 0;
  let records = 0;
  let predicted = previous?.predicted ?? 0;
  let bad = previous?.bad ?? 0;
  const firstErrors: { line: number; error: string }[] = [];
  const every = { rows: o.checkpointRows ?? 65_536, ms: o.checkpointMs ?? 2_000 };
  let sinceCheckpoint = 0;
  let lastCheckpoint = performance.now();

  // Output is written in large pieces: one write per batch would spend its time waiting on I/O.
  let outParts: string[] = [];
  let outChars = 0;
  const drain = async () => {
    if (outParts.length) {
      outPos += await writeAll(out, outParts.join(''), outPos);
      outParts = [];
      outChars = 0;
    }
    if (errText) {
      err ??= await open(errFile, 'a');
      errPos += await writeAll(err, errText, errPos);
      errText = '';
    }
  };

  const checkpoint = async (done: number) => {
    await drain();
    await out.sync();
    await err?.sync();
    await writeCheckpoint(output, {
      schema: 1,
      input: { path: input, size: info.size, mtimeMs: info.mtimeMs, format: inFormat },
      output: { format: outFormat, bytes: outPos },
      errors: { bytes: errPos },
      model: { name: model.name, version: model.version, sha256: model.sha256 },
      records: done,
      predicted,
      bad,
      updatedAt: new Date().toISOString(),
    });
    sinceCheckpoint = 0;
    lastCheckpoint = performance.now();
  };

  /** Run the rows gathered so far and queue their output; `done` records are then finished. */
  const flush = async (done: number) => {
    if (n > 0) {
      const predictions = pipe.run(x, n);
      let text = '';
      for (let i = 0; i < n; i++) text += writer.row(lines[i]!, echoes[i]!, predictions[i]!);
      outParts.push(text);
      outChars += text.length;
      predicted += n;
      sinceCheckpoint += n;
      n = 0;
    }
    if (sinceCheckpoint >= every.rows || performance.now() - lastCheckpoint >= every.ms) await checkpoint(done);
    else if (outChars >= 1 << 18 || errText.length >= 1 << 16) await drain();
    o.onProgress?.({ records: done, predicted, bad, bytesRead: stream.bytesRead, totalBytes: info.size });
  };

  let interrupted = false;
  try {
    for await (const rec of reader.records()) {
      records++;
      if (records <= skip) continue;
      if ('error' in rec) {
        if (o.onError !== 'skip') {
          // Everything before the bad record is kept, so a resume (say, with skip) starts at it.
          await flush(records - 1);
          await checkpoint(records - 1);
          throw checkFailed('bad-row', `${input}:${rec.line}: ${rec.error}`);
        }
        bad++;
        if (firstErrors.length < 20) firstErrors.push({ line: rec.line, error: rec.error });
        errText += JSON.stringify({ line: rec.line, error: rec.error, text: rec.text.slice(0, 1000) }) + '\n';
        continue;
      }
      lines[n] = rec.line;
      echoes[n] = rec.echo;
      n++;
      if (n === batchSize) {
        await flush(records);
        if (o.signal?.aborted) {
          interrupted = true;
          break;
        }
      }
    }
    if (interrupted) await checkpoint(records);
    else {
      await flush(records);
      await drain();
      await out.sync();
      await err?.sync();
      await removeCheckpoint(output);
    }
  } finally {
    stream.destroy();
    await out.close();
    await err?.close();
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    input,
    output,
    errorsFile: bad > 0 ? errFile : null,
    model: { name: model.name, version: model.version },
    records,
    predicted,
    bad,
    resumedFrom: skip,
    seconds,
    rowsPerSecond: (records - skip) / Math.max(seconds, 1e-9),
    errors: firstErrors,
    interrupted,
  };
}

async function checkResumable(
  c: Checkpoint,
  now: { input: string; size: number; mtimeMs: number; inFormat: DataFormat; outFormat: DataFormat; model: BatchModel; output: string },
): Promise<void> {
  const again = 'start over without --resume';
  if (c.input.path !== now.input) throw userError('resume-mismatch', `${now.output} was started from ${c.input.path}, not ${now.input}; ${again}`);
  if (c.input.size !== now.size || c.input.mtimeMs !== now.mtimeMs) throw userError('resume-mismatch', `${now.input} changed since the interrupted run; ${again}`);
  if (c.input.format !== now.inFormat || c.output.format !== now.outFormat) throw userError('resume-mismatch', `the interrupted run read ${c.input.format} and wrote ${c.output.format}; ${again} or use the same formats`);
  if (c.model.sha256 !== now.model.sha256) {
    throw userError('resume-mismatch', `${now.output} was started with model ${c.model.name} ${c.model.version}, not ${now.model.name} ${now.model.version}: one output must come from one model; ${again}`);
  }
  let size = 0;
  try {
    size = (await stat(now.output)).size;
  } catch {
    size = -1;
  }
  if (size < c.output.bytes) throw userError('resume-mismatch', `${now.output} is shorter than its checkpoint (${size} < ${c.output.bytes} bytes); ${again}`);
}

/** Open a file for writing at `bytes` (truncating what lies beyond), or create it empty. */
async function openAt(path: string, bytes: number | undefined): Promise<FileHandle> {
  if (bytes === undefined) return open(path, 'w');
  const fh = await open(path, 'r+');
  await fh.truncate(bytes);
  return fh;
}

async function writeAll(fh: FileHandle, text: string, position: number): Promise<number> {
  if (!text) return 0;
  const buf = Buffer.from(text, 'utf8');
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off, position + off);
    off += bytesWritten;
  }
  return buf.length;
}

/** The batch runner's file handling, shared by its in-process and worker paths. */
import { open, stat, type FileHandle } from 'node:fs/promises';
import { userError } from '@edgeml/core';
import type { Checkpoint } from './checkpoint.js';
import { CodecError } from './decode.js';
import type { DataFormat } from './formats.js';
import type { BatchModel, BatchSummary } from './runner.js';

/** A codec call; its input errors become the user errors they are. */
export async function codecCall<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof CodecError) throw userError(e.code, e.message);
    throw e;
  }
}

export async function checkResumable(
  c: Checkpoint,
  now: { input: string; size: number; mtimeMs: number; inFormat: DataFormat; outFormat: DataFormat; model: { name: string; version: number | string; sha256: string }; output: string },
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
export async function openAt(path: string, bytes: number | undefined): Promise<FileHandle> {
  if (bytes === undefined) return open(path, 'w');
  const fh = await open(path, 'r+');
  await fh.truncate(bytes);
  return fh;
}

export async function writeAll(fh: FileHandle, data: string | Uint8Array, position: number): Promise<number> {
  if (!data.length) return 0;
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off, position + off);
    off += bytesWritten;
  }
  return buf.length;
}

/** What a run did, as both the single-thread and the worker-thread runs report it. */
export function batchSummary(
  files: { input: string; output: string; errFile: string },
  model: Pick<BatchModel, 'name' | 'version'>,
  done: { records: number; predicted: number; bad: number; skip: number; errors: BatchSummary['errors']; interrupted: boolean },
  started: number,
): BatchSummary {
  const seconds = (performance.now() - started) / 1000;
  return {
    input: files.input,
    output: files.output,
    errorsFile: done.bad > 0 ? files.errFile : null,
    model: { name: model.name, version: model.version },
    records: done.records,
    predicted: done.predicted,
    bad: done.bad,
    resumedFrom: done.skip,
    seconds,
    rowsPerSecond: (done.records - done.skip) / Math.max(seconds, 1e-9),
    errors: done.errors,
    interrupted: done.interrupted,
  };
}

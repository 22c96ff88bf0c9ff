/**
 * Batch inference on several cores: worker threads each decode a block of the input, run their
 * own interpreter over its rows and encode the output (model-worker.ts); this thread reads the
 * file in blocks cut at record boundaries (split.ts), hands them out, and writes the answers in
 * input order, so the output is the same bytes whatever the number of workers. At most two
 * blocks per worker are in flight: memory is a few blocks, whatever the file size.
 *
 * Checkpoints fall at block boundaries and record the input offset of the next record, so a
 * resumed run seeks there. A run stopped by its signal finishes the blocks in flight first.
 */
import { mkdir, open, rm, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { checkFailed } from '@edgeml/core';
import { removeCheckpoint, writeCheckpoint, type Checkpoint } from './checkpoint.js';
import { batchSummary, codecCall, openAt, writeAll } from './files.js';
import type { DataFormat } from './formats.js';
import type { BlockRequest, WorkerSetup } from './parallel-wire.js';
import { startPool, type Ok, type Pool } from './pool.js';
import { BlockReader, type Block } from './split.js';
import type { BatchModel, BatchOptions, BatchSummary } from './runner.js';

/** Input is read in blocks of this size; a block is the unit a worker decodes, runs and encodes. */
const BLOCK_BYTES = 1 << 20;
const IN_FLIGHT_PER_WORKER = 2;

export interface ParallelRun {
  input: string;
  output: string;
  errFile: string;
  inFormat: DataFormat;
  outFormat: DataFormat;
  size: number;
  mtimeMs: number;
  batchSize: number;
  model: BatchModel;
  previous: Checkpoint | undefined;
  workers: number;
  setup: WorkerSetup;
  /** Workers started ahead of the run with the model's artifact; else the run starts its own. */
  started?: Pool;
}

export async function runParallel(o: BatchOptions, r: ParallelRun, started: number): Promise<BatchSummary> {
  const { previous, model } = r;
  let inFh: FileHandle;
  try {
    inFh = await open(r.input, 'r');
  } catch (e) {
    await r.started?.close();
    throw e;
  }
  // Workers load their interpreters while this thread opens the files and reads the first block,
  // unless they were started earlier still, while the caller checked the model.
  const { runtimes, format, artifact, codec, batchSize } = r.setup;
  const pool = r.started ?? startPool(r.workers, { runtimes, format, artifact });
  pool.configure({ codec, batchSize });
  let outFh: FileHandle | undefined;
  let errFh: FileHandle | undefined;
  const resumeAt = previous?.resumeAt;
  let columns = resumeAt?.columns;
  const skip = previous?.records ?? 0;
  let records = skip;
  let predicted = previous?.predicted ?? 0;
  let bad = previous?.bad ?? 0;
  let outBytes = previous?.output.bytes ?? 0;
  let errBytes = previous?.errors.bytes ?? 0;
  const firstErrors: { line: number; error: string }[] = [];
  const every = { rows: o.checkpointRows ?? 65_536, ms: o.checkpointMs ?? 2_000 };
  let sinceCheckpoint = 0;
  let lastCheckpoint = performance.now();
  let interrupted = false;
  // Output buffers written out, to go back to a worker with the next request.
  const spareOut: ArrayBuffer[] = [];

  /**
   * Flush the outputs and record a checkpoint of what was written when it was called. The
   * writes already done are in the files; later ones may reach the disk with the flush too,
   * which is harmless: a resume truncates the files to the recorded lengths.
   */
  const checkpoint = async (at: Checkpoint['resumeAt'], counts: { records: number; predicted: number; bad: number; outBytes: number; errBytes: number }) => {
    sinceCheckpoint = 0;
    lastCheckpoint = performance.now();
    await outFh?.sync();
    await errFh?.sync();
    const c: Checkpoint = {
      schema: 1,
      input: { path: r.input, size: r.size, mtimeMs: r.mtimeMs, format: r.inFormat },
      output: { format: r.outFormat, bytes: counts.outBytes },
      errors: { bytes: counts.errBytes },
      model: { name: model.name, version: model.version, sha256: model.sha256 },
      records: counts.records,
      predicted: counts.predicted,
      bad: counts.bad,
      updatedAt: new Date().toISOString(),
    };
    if (at) c.resumeAt = at;
    await writeCheckpoint(r.output, c);
  };
  // The periodic checkpoint runs beside the loop, which keeps the workers fed while the disk
  // flushes; one at a time, and a failure ends the run at the next block.
  let background: Promise<void> | undefined;
  let backgroundFailed: unknown;
  const settle = async () => {
    await background;
    if (backgroundFailed !== undefined) throw backgroundFailed as Error; // rethrown as caught
  };

  try {
    if (previous) {
      outFh = await openAt(r.output, previous.output.bytes);
      if (errBytes > 0) errFh = await openAt(r.errFile, errBytes);
      else await rm(r.errFile, { force: true });
    }
    const max = r.workers * IN_FLIGHT_PER_WORKER;
    const reader = new BlockReader(inFh, r.inFormat, BLOCK_BYTES, { start: resumeAt ?? { offset: 0, lines: 0 }, size: r.size, spread: max, firstRecordAlone: columns === undefined });
    const inFlight: { block: Block; reply: Promise<Ok> }[] = [];
    // Blocks that could not be cut at a record boundary go in order to one worker.
    let inOrder: number | undefined;
    // The worker whose decoder reads the header.
    let headerWorker: number | undefined;
    let reading = true;
    let seq = 0;
    for (;;) {
      // Until the header is read, one block at a time to the worker whose decoder reads it.
      while (reading && inFlight.length < max && (columns !== undefined || inFlight.length === 0)) {
        if (o.signal?.aborted) {
          reading = false;
          break;
        }
        const block = await reader.next();
        if (!block) {
          reading = false;
          break;
        }
        if (block.last) reading = false;
        const req: BlockRequest = { seq: seq++, bytes: block.bytes, last: block.last };
        if (spareOut.length) req.spare = spareOut.splice(0);
        await pool.firstReady();
        let w: number;
        if (columns === undefined) {
          w = headerWorker ??= pool.leastBusy();
          if (req.seq === 0) req.lineBase = block.lineBase;
        } else if (!block.cut && inOrder !== undefined) w = inOrder;
        else {
          w = pool.leastBusy();
          req.lineBase = block.lineBase;
          req.columns = columns;
          if (!block.cut) inOrder = w;
        }
        inFlight.push({ block, reply: quiet(pool.send(w, req)) });
      }
      const next = inFlight.shift();
      if (!next) break;
      const { block } = next;
      const a = await codecCall(next.reply);
      if (backgroundFailed !== undefined) throw backgroundFailed as Error; // rethrown as caught
      // A worker that failed to load gets no blocks: its failure must still end the run.
      const failed = pool.failure();
      if (failed) throw failed;
      reader.recycle(a.input);
      if (a.columns && columns === undefined) columns = a.columns;
      if (a.header !== undefined && !outFh) {
        await mkdir(dirname(r.output), { recursive: true });
        outFh = await openAt(r.output, undefined);
        outBytes = await writeAll(outFh, a.header, 0);
        await rm(r.errFile, { force: true });
      }
      const before = { records, predicted, bad, outBytes, errBytes };
      if (a.out.length) {
        if (!outFh) throw new Error('rows to write before the input header was read');
        outBytes += await writeAll(outFh, a.out, outBytes);
      }
      if (a.out.byteLength > 0) spareOut.push(a.out.buffer as ArrayBuffer);
      if (a.errText) {
        errFh ??= await open(r.errFile, 'w');
        errBytes += await writeAll(errFh, a.errText, errBytes);
      }
      records += a.records;
      predicted += a.predicted;
      bad += a.badCount;
      for (const e of a.bad) if (firstErrors.length < 20) firstErrors.push(e);
      sinceCheckpoint += a.predicted;
      o.onProgress?.({ records, predicted, bad, bytesRead: block.end, totalBytes: r.size });
      const after = columns && block.cut ? { offset: block.end, lines: block.lineBase + block.lineCount, columns } : undefined;
      if (a.fatal) {
        // The good rows before the bad record are written; a resume (say, with skip) reads the
        // block again from its start, truncating what was written after that.
        await settle();
        if (block.cut && columns) await checkpoint({ offset: block.offset, lines: block.lineBase, columns }, before);
        else await checkpoint(undefined, { records, predicted, bad, outBytes, errBytes });
        throw checkFailed('bad-row', `${r.input}:${a.fatal.line}: ${a.fatal.error}`);
      }
      if (o.signal?.aborted) {
        reading = false;
        interrupted = true;
      }
      const counts = { records, predicted, bad, outBytes, errBytes };
      if (outFh && interrupted && inFlight.length === 0) {
        await settle();
        await checkpoint(after, counts);
      } else if (outFh && !interrupted && !block.last && !background && (sinceCheckpoint >= every.rows || performance.now() - lastCheckpoint >= every.ms)) {
        background = checkpoint(after, counts).then(
          () => (background = undefined),
          (e: unknown) => {
            backgroundFailed ??= e;
            background = undefined;
          },
        );
      }
    }
    await settle();
    if (!interrupted) {
      await outFh?.sync();
      await errFh?.sync();
      await removeCheckpoint(r.output);
    }
  } finally {
    // Nothing may write the checkpoint after the run has ended (or removed it).
    await background;
    await pool.close();
    await inFh.close();
    await outFh?.close();
    await errFh?.close();
  }
  return batchSummary(r, model, { records, predicted, bad, skip, errors: firstErrors, interrupted }, started);
}

/** Replies nobody awaits (a run that failed early) must not surface as unhandled rejections. */
function quiet<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

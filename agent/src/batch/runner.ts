/**
 * Offline batch inference: streams an input file through the model in runtime batches and
 * streams the predictions out. With `workers` (what `edgeml batch` passes), worker threads each
 * decode, run and encode whole blocks of the file (parallel.ts). Without, this thread runs the
 * model while reading, parsing, formatting and writing run beside it in the codec (a worker
 * thread when there is a core to spare, see codec.ts). Memory holds a few blocks of input and
 * output, whatever the file size. Bad records are reported with their line (skipped, or the run
 * stops); the run can be interrupted at any instant and resumed from its last checkpoint
 * without redoing finished records.
 */
import { existsSync } from 'node:fs';
import { mkdir, open, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkFailed, userError, type ArtifactFormat, type ModelSpec } from '@edgeml/core';
import type { ModelRuntime } from '@edgeml/runtime';
import { readCheckpoint, removeCheckpoint, writeCheckpoint, type Checkpoint } from './checkpoint.js';
import { openCodec, type CodecDecoded, type Written } from './codec.js';
import { batchSummary, checkResumable, codecCall, openAt, writeAll } from './files.js';
import { formatOfPath, type DataFormat } from './formats.js';
import { runParallel } from './parallel.js';
import { MODEL_WORKER_URL, startPool, type BatchWorkers, type Pool } from './pool.js';
import type { RuntimeSource } from './parallel-wire.js';

/** A model ready to run, from an agent's active slot or a model directory. */
export interface BatchModel {
  name: string;
  /** The signed release version, or `sha256:<prefix>` for a model directory. */
  version: number | string;
  sha256: string;
  spec: ModelSpec;
  runtime: ModelRuntime;
  /** The artifact the runtime was loaded from: worker threads load their own interpreter from it. */
  artifact?: { bytes: Uint8Array; format: ArtifactFormat };
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
  /**
   * Decode input and encode output in a worker thread beside the model (default: when there is
   * more than one core); false keeps everything on this thread.
   */
  threads?: boolean;
  /**
   * Run the model in `count` worker threads, each decoding, predicting and encoding whole
   * blocks (parallel.ts); needs the model's artifact and where the workers find the runtimes.
   * Without it (or resuming a run checkpointed without an input offset) the model runs on this
   * thread.
   */
  workers?: {
    count: number;
    runtimes: RuntimeSource;
    /**
     * Workers already loading the model's artifact (startBatchWorkers, with the very bytes of
     * `model.artifact`): the run takes them over and closes them. A command starts them before
     * it loads the model on its own thread, so the two loads run side by side.
     */
    started?: BatchWorkers;
  };
}

/**
 * Start `count` batch workers loading `artifact`, ahead of runBatch (see BatchOptions.workers).
 * `count` must be a whole number of at least 1.
 */
export function startBatchWorkers(count: number, runtimes: RuntimeSource, artifact: { bytes: Uint8Array; format: ArtifactFormat }): BatchWorkers {
  checkWorkerCount(count);
  return startPool(count, { runtimes, format: artifact.format, artifact: artifact.bytes });
}

function checkWorkerCount(count: number): void {
  if (!Number.isInteger(count) || count < 1) throw userError('bad-usage', 'the number of workers must be a whole number of at least 1');
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

/** Input is read in blocks of this size; a block is the unit the codec and the model work on. */
const BLOCK_BYTES = 1 << 20;
/** Blocks decoded ahead of the one the model runs on. */
const READ_AHEAD = 2;

export async function runBatch(o: BatchOptions): Promise<BatchSummary> {
  const early = o.workers?.started;
  try {
    return await run(o);
  } catch (e) {
    // Workers started for a run that never began: nothing else will stop them.
    await early?.close();
    throw e;
  }
}

async function run(o: BatchOptions): Promise<BatchSummary> {
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
  const { runtime } = model;
  const width = model.spec.features.length;
  const outSize = runtime.info.outputSize;

  const previous = o.resume ? await readCheckpoint(output) : undefined;
  if (previous) await checkResumable(previous, { input, size: info.size, mtimeMs: info.mtimeMs, inFormat, outFormat, model, output });
  else await removeCheckpoint(output);
  const skip = previous?.records ?? 0;

  const artifact = model.artifact;
  if (o.workers && artifact && (!previous || previous.resumeAt) && existsSync(fileURLToPath(MODEL_WORKER_URL))) {
    checkWorkerCount(o.workers.count);
    const early = o.workers.started;
    // Workers started with other bytes or another count would run another model: start afresh.
    const fits = early && early.count === o.workers.count && early.artifact.bytes === artifact.bytes && early.artifact.format === artifact.format;
    if (early && !fits) await early.close();
    const codec = { file: input, spec: model.spec, echoAs: outFormat, onError: o.onError ?? 'fail', skip: 0, inFormat, model: { name: model.name, version: model.version }, outSize };
    return runParallel(o, {
      input,
      output,
      errFile,
      inFormat,
      outFormat,
      size: info.size,
      mtimeMs: info.mtimeMs,
      batchSize,
      model,
      previous,
      workers: o.workers.count,
      setup: { codec, batchSize, runtimes: o.workers.runtimes, format: artifact.format, artifact: artifact.bytes },
      ...(fits ? { started: early as Pool } : {}),
    }, started);
  }
  // The run goes on this thread: workers started for it are not needed.
  await o.workers?.started?.close();

  const codec = await openCodec(
    { file: input, spec: model.spec, echoAs: outFormat, onError: o.onError ?? 'fail', skip, inFormat, model: { name: model.name, version: model.version }, outSize, blockBytes: BLOCK_BYTES },
    o.threads,
  );
  // Every call's failure is seen where it is awaited; calls nobody awaits (a run stopped early)
  // must not surface as unhandled rejections.
  const quiet = <T>(p: Promise<T>): Promise<T> => {
    p.catch(() => undefined);
    return p;
  };

  // What has been handed to the codec to write, and (after a sync) what is on disk.
  let opened = false;
  let records = skip;
  let predicted = previous?.predicted ?? 0;
  let bad = previous?.bad ?? 0;
  const firstErrors: { line: number; error: string }[] = [];
  const every = { rows: o.checkpointRows ?? 65_536, ms: o.checkpointMs ?? 2_000 };
  let sinceCheckpoint = 0;
  let lastCheckpoint = performance.now();
  let checkpoints: Promise<void> = Promise.resolve();
  let checkpointFailed: unknown;

  // The runner's own handles on the output files, to flush them to the disk for checkpoints
  // without either thread waiting (the worker writes through its own descriptors).
  let outHandle: FileHandle | undefined;
  let errHandle: FileHandle | undefined;
  let written: Promise<Written> = Promise.resolve({ outBytes: previous?.output.bytes ?? 0, errBytes: previous?.errors.bytes ?? 0 });

  /**
   * Checkpoint what has been handed over so far: the codec writes in order, so once the last
   * write is answered and the files are flushed, they hold exactly that. Runs beside the model;
   * the next one waits for it.
   */
  let checkpointing = false;
  const checkpoint = () => {
    const at = { records, predicted, bad };
    const through = written;
    sinceCheckpoint = 0;
    lastCheckpoint = performance.now();
    checkpointing = true;
    checkpoints = checkpoints.then(async () => {
      const w = await through;
      await outHandle?.sync();
      if (w.errBytes > 0) {
        errHandle ??= await open(errFile, 'r');
        await errHandle.sync();
      }
      await writeCheckpoint(output, {
        schema: 1,
        input: { path: input, size: info.size, mtimeMs: info.mtimeMs, format: inFormat },
        output: { format: outFormat, bytes: w.outBytes },
        errors: { bytes: w.errBytes },
        model: { name: model.name, version: model.version, sha256: model.sha256 },
        ...at,
        updatedAt: new Date().toISOString(),
      });
      checkpointing = false;
    });
    checkpoints.catch((e: unknown) => (checkpointFailed ??= e));
    return checkpoints;
  };

  const openOutputs = async (header: string) => {
    await mkdir(dirname(output), { recursive: true });
    outHandle = await openAt(output, previous?.output.bytes);
    const outBytes = (previous?.output.bytes ?? 0) + (previous ? 0 : await writeAll(outHandle, header, 0));
    const errBytes = previous?.errors.bytes ?? 0;
    if (errBytes > 0) errHandle = await openAt(errFile, errBytes);
    else await rm(errFile, { force: true });
    await codec.open({ output, outBytes, errors: errFile, errBytes });
    written = Promise.resolve({ outBytes, errBytes });
    opened = true;
  };

  const ahead: Promise<CodecDecoded>[] = [];
  let ended = false;

  let interrupted = false;
  try {
    for (let i = 0; i < READ_AHEAD; i++) ahead.push(quiet(codec.next()));
    for (;;) {
      const d = await codecCall(ahead.shift()!);
      if (d.done) ended = true;
      if (checkpointFailed) throw checkpointFailed as Error; // rethrown as caught
      if (d.header !== undefined && !opened) await openOutputs(d.header);
      // Run the model over the block's rows, a runtime batch at a time.
      // Sized for the block's capacity, not its rows, so the buffer fits the blocks after it too.
      const outputs = d.outputs && d.outputs.length >= d.n * outSize ? d.outputs : new Float32Array(d.rowRecords.length * outSize);
      let r = 0;
      while (r < d.n) {
        const m = Math.min(batchSize, d.n - r);
        const into = outputs.subarray(r * outSize, (r + m) * outSize);
        const got = runtime.predict(d.x.subarray(r * width, (r + m) * width), m, into);
        if (got !== into) outputs.set(got, r * outSize);
        r += m;
        o.onProgress?.({ records: d.rowRecords[r - 1]!, predicted: predicted + r, bad, bytesRead: d.bytesRead, totalBytes: info.size });
        if (o.signal?.aborted) break;
      }
      const aborted = o.signal?.aborted === true;
      // Stopped at a batch boundary: the block counts up to the last row run.
      const through = aborted && r > 0 ? d.rowRecords[r - 1]! : d.records;
      const more = !ended && !aborted && !d.fatal;
      const put = codec.put(outputs, r, through, { x: d.x, rowRecords: d.rowRecords }, more);
      written = quiet(put.written);
      // The block after the ones already asked for comes back with this block's write.
      if (put.decoded) ahead.push(quiet(put.decoded));
      for (const e of d.bad) {
        if (e.record > through) break;
        bad++;
        if (firstErrors.length < 20) firstErrors.push({ line: e.line, error: e.error });
      }
      predicted += r;
      records = through;
      sinceCheckpoint += r;
      if (aborted) {
        interrupted = true;
        break;
      }
      if (d.fatal) {
        // Everything before the bad record is kept, so a resume (say, with skip) starts at it.
        await checkpoint();
        throw checkFailed('bad-row', `${input}:${d.fatal.line}: ${d.fatal.error}`);
      }
      if (d.done) break;
      // One checkpoint at a time: when flushing is slower than the model, the next one covers more.
      if (opened && !checkpointing && (sinceCheckpoint >= every.rows || performance.now() - lastCheckpoint >= every.ms)) {
        // A failure is kept in checkpointFailed and ends the run at the next block.
        checkpoint().catch(() => undefined);
      }
    }
    // Calls are answered in order: once the last write is, every write before it is done.
    const w = await written;
    await checkpoints;
    if (interrupted) await checkpoint();
    else {
      await outHandle?.sync();
      if (w.errBytes > 0) {
        errHandle ??= await open(errFile, 'r');
        await errHandle.sync();
      }
      await removeCheckpoint(output);
    }
  } finally {
    await codec.close();
    await outHandle?.close();
    await errHandle?.close();
  }
  return batchSummary({ input, output, errFile }, model, { records, predicted, bad, skip, errors: firstErrors, interrupted }, started);
}


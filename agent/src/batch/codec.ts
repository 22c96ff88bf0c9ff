/**
 * Everything batch inference does besides running the model: reading the input file, decoding
 * it into standardised rows, encoding the model's outputs and writing them (and the bad
 * records) to the output files. The runner's thread runs the model; this runs beside it in a
 * worker thread (codec-worker.ts) when the machine has a core to spare, else inline. Both run
 * the same code, so the output is the same bytes.
 *
 * File I/O here is synchronous on purpose: in the worker it blocks nobody, and it never waits on
 * the model thread's event loop, which is busy running the model. (Async reads issued from the
 * model's thread complete only when it yields, which starved the pipeline.)
 */
import { closeSync, existsSync, openSync, readSync, writeSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { CsvDecoder } from './decode-csv.js';
import { CodecError, type BadRecord, type Decoded, type Decoder, type DecoderOptions, type EchoRows, type LineDecoder, type Spare } from './decode.js';
import { OutputEncoder, type DataFormat, type ModelStamp } from './formats.js';

export interface CodecOptions extends DecoderOptions {
  inFormat: DataFormat;
  model: ModelStamp;
  /** Values the model gives per row. */
  outSize: number;
  /** Bytes per read; a block is the unit the codec and the runner work on. */
  blockBytes: number;
}

/**
 * A decoded block, with the output header once the input's columns are known, and an outputs
 * buffer handed back from an earlier block to reuse.
 */
export type CodecDecoded = Decoded & { header?: string; bytesRead: number; outputs?: Float32Array };

/** Where output goes: files the runner has created (or truncated to a checkpoint) already. */
export interface OutputFiles {
  output: string;
  outBytes: number;
  errors: string;
  errBytes: number;
}

/** Bytes written to each file so far. */
export interface Written {
  outBytes: number;
  errBytes: number;
}

export class BatchCodec {
  private encoder: OutputEncoder | undefined;
  /** Decoded blocks whose output has not been written yet, oldest first. */
  private readonly waiting: { echo: EchoRows; bad: BadRecord[]; block: Buffer }[] = [];
  // Buffers come back after use and are used again: a run allocates a handful, whatever its size.
  private readonly blocks: Buffer[] = [];
  private readonly spares: Spare[] = [];
  private readonly outputs: Float32Array[] = [];
  private readonly input: number;
  private readPos = 0;
  private out: { fd: number; pos: number; errPath: string; errFd: number | undefined; errPos: number } | undefined;

  private constructor(
    private readonly o: CodecOptions,
    private readonly decoder: Decoder,
  ) {
    this.input = openSync(o.file, 'r');
  }

  static async create(o: CodecOptions): Promise<BatchCodec> {
    return new BatchCodec(o, await createDecoder(o));
  }

  /** Read and decode the next block of input (the end of the input once it is reached). */
  next(): CodecDecoded {
    const buf = this.blocks.pop() ?? Buffer.allocUnsafeSlow(this.o.blockBytes);
    let n = 0;
    while (n < buf.length) {
      const got = readSync(this.input, buf, n, buf.length - n, this.readPos + n);
      if (got === 0) break;
      n += got;
    }
    this.readPos += n;
    const { decoded, echo } = this.decoder.decode(n === 0 ? null : buf.subarray(0, n), this.spares.pop());
    this.waiting.push({ echo, bad: decoded.bad, block: buf });
    const out: CodecDecoded = Object.assign(decoded, { bytesRead: this.readPos });
    const spareOutputs = this.outputs.pop();
    if (spareOutputs) out.outputs = spareOutputs;
    if (decoded.columns && !this.encoder) {
      this.encoder = new OutputEncoder(this.o.echoAs, this.o.spec, decoded.columns, this.o.model, this.o.file);
      out.header = this.encoder.header;
    }
    return out;
  }

  open(f: OutputFiles): void {
    this.out = { fd: openSync(f.output, 'r+'), pos: f.outBytes, errPath: f.errors, errFd: undefined, errPos: f.errBytes };
    if (f.errBytes > 0) this.out.errFd = openSync(f.errors, 'r+');
  }

  /**
   * Write the output of the oldest decoded block: its first `rows` rows, with the model's
   * `outputs` for them, and its bad records up to record `through`. `done` hands the block's
   * row buffers back for reuse.
   */
  put(outputs: Float32Array, rows: number, through: number, done?: Spare): Written {
    const block = this.waiting.shift();
    if (!block) throw new Error('output for a block that was never decoded');
    try {
      return this.write(block, outputs, rows, through);
    } finally {
      this.blocks.push(block.block);
      this.outputs.push(outputs);
      if (done) this.spares.push(done);
    }
  }

  private write(block: { echo: EchoRows; bad: BadRecord[] }, outputs: Float32Array, rows: number, through: number): Written {
    const out = this.out;
    if (!out) {
      if (rows > 0 || block.bad.length > 0) throw new Error('output before the output files were opened');
      return { outBytes: 0, errBytes: 0 };
    }
    if (rows > 0) {
      if (!this.encoder) throw new Error('rows to write before the input header was read');
      out.pos += writeAll(out.fd, this.encoder.encode(block.echo, outputs, rows, this.o.outSize), out.pos);
    }
    let text = '';
    for (const b of block.bad) if (b.record <= through) text += JSON.stringify({ line: b.line, error: b.error, text: b.text }) + '\n';
    if (text) {
      out.errFd ??= openSync(out.errPath, 'w');
      out.errPos += writeAll(out.errFd, Buffer.from(text, 'utf8'), out.errPos);
    }
    return { outBytes: out.pos, errBytes: out.errPos };
  }

  close(): void {
    closeSync(this.input);
    if (this.out) {
      closeSync(this.out.fd);
      if (this.out.errFd !== undefined) closeSync(this.out.errFd);
      this.out = undefined;
    }
  }
}

function writeAll(fd: number, data: Uint8Array, position: number): number {
  let off = 0;
  while (off < data.length) off += writeSync(fd, data, off, data.length - off, position + off);
  return data.length;
}

/** The codec as the runner uses it, in this thread or in a worker. Calls are answered in order. */
export interface CodecClient {
  readonly threaded: boolean;
  next(): Promise<CodecDecoded>;
  open(f: OutputFiles): Promise<void>;
  /**
   * Write a block's output; answers with the bytes each file holds after it. Moves `outputs`
   * and the block's row buffers `done` (do not use them afterwards). Flushing to the disk is
   * the caller's, on its own file handles, so neither thread waits for the disk. With `next`,
   * the same exchange also reads and decodes the next block: one message each way per block,
   * since every message wakes the other thread.
   */
  put(outputs: Float32Array, rows: number, through: number, done: Spare, next: boolean): { written: Promise<Written>; decoded?: Promise<CodecDecoded> };
  close(): Promise<void>;
}

/** What crosses from the worker for an error: a CodecError keeps its code. */
export type WireError = { code?: string; message: string; stack?: string };

export function toWire(e: unknown): WireError {
  if (e instanceof CodecError) return { code: e.code, message: e.message };
  return { message: e instanceof Error ? e.message : String(e), ...(e instanceof Error && e.stack ? { stack: e.stack } : {}) };
}

export function fromWire(w: WireError): Error {
  if (w.code !== undefined) return new CodecError(w.code, w.message);
  const e = new Error(`batch worker: ${w.message}`);
  if (w.stack) e.stack = `${e.message}\n(worker) ${w.stack}`;
  return e;
}

const WORKER_URL = new URL('./codec-worker.js', import.meta.url);

/**
 * A worker when one helps: more than one core, and the compiled worker script at hand (running
 * from TypeScript sources, as tests do, there is none). `threads` forces the choice.
 */
export async function openCodec(o: CodecOptions, threads?: boolean): Promise<CodecClient> {
  const useWorker = threads ?? (availableParallelism() > 1 && existsSync(fileURLToPath(WORKER_URL)));
  return useWorker ? workerCodec(o) : inlineCodec(await BatchCodec.create(o));
}

/** The codec on this thread, failing as the worker does: after one failure, every call fails. */
function inlineCodec(codec: BatchCodec): CodecClient {
  let failure: unknown;
  const guard = async <T>(fn: () => T): Promise<T> => {
    if (failure !== undefined) throw failure as Error; // the first failure, rethrown as caught
    try {
      return fn();
    } catch (e) {
      failure = e;
      throw e;
    }
  };
  return {
    threaded: false,
    next: () => guard(() => codec.next()),
    open: (f) => guard(() => codec.open(f)),
    put(outputs, rows, through, done, next) {
      const written = guard(() => codec.put(outputs, rows, through, done));
      return next ? { written, decoded: guard(() => codec.next()) } : { written };
    },
    close: async () => codec.close(),
  };
}

type Reply = { ok: true; value?: unknown } | { ok: false; error: WireError };

function workerCodec(o: CodecOptions): CodecClient {
  const worker = new Worker(WORKER_URL, { workerData: o });
  const pending: { resolve: (v: unknown) => void; reject: (e: Error) => void }[] = [];
  let failed: Error | undefined;
  const failAll = (e: Error) => {
    failed ??= e;
    for (const p of pending.splice(0)) p.reject(e);
  };
  worker.on('message', (reply: Reply) => {
    const p = pending.shift();
    if (!p) return;
    if (reply.ok) p.resolve(reply.value);
    else p.reject(fromWire(reply.error));
  });
  worker.on('error', (e) => failAll(e));
  worker.on('exit', (code) => failAll(new Error(`the batch worker exited (code ${code})`)));
  const call = <T>(message: object, transfer: ArrayBuffer[] = []): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (failed) return reject(failed);
      pending.push({ resolve: resolve as (v: unknown) => void, reject });
      worker.postMessage(message, transfer);
    });
  return {
    threaded: true,
    next: () => call({ op: 'next' }),
    open: (f) => call({ op: 'open', files: f }),
    put(outputs, rows, through, done, next) {
      const both = call<{ written: Written; decoded?: CodecDecoded }>({ op: 'put', outputs, rows, through, done, next }, [
        outputs.buffer as ArrayBuffer,
        done.x.buffer as ArrayBuffer,
        done.rowRecords.buffer as ArrayBuffer,
      ]);
      const written = both.then((b) => b.written);
      if (!next) return { written };
      return { written, decoded: both.then((b) => b.decoded!) };
    },
    async close() {
      try {
        await call({ op: 'close' });
      } catch {
        // A worker that failed has nothing left to close.
      }
      failed ??= new Error('the batch codec is closed');
      await worker.terminate();
    },
  };
}

/** The decoder for a file: one choice for the single-thread codec and every batch worker. */
export async function createDecoder(o: DecoderOptions & { inFormat: DataFormat }): Promise<LineDecoder> {
  // JSON lines need the model's input checks; CSV needs nothing heavy unless columns are encoded.
  if (o.inFormat !== 'csv') return new (await import('./decode-jsonl.js')).JsonlDecoder(o);
  if (o.spec.preprocessing.columns) return new (await import('./decode-columns.js')).ColumnsCsvDecoder(o);
  return new CsvDecoder(o);
}

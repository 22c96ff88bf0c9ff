/**
 * A batch worker thread: decodes blocks of the input, runs its own interpreter over their rows
 * and encodes the output bytes, so that every step of a block runs on the worker's core. The
 * thread that started it reads the file, hands out blocks and writes the answers in order
 * (parallel.ts). It loads the interpreter as soon as it starts, which may be before the run is
 * known (the command starts its workers while it checks the model); the run's setup is the first
 * message. Messages are handled one at a time, in the order they come.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ModelRuntime, RuntimeRegistry } from '@edgeml/runtime';
import { createDecoder, toWire } from './codec.js';
import type { BadRecord, LineDecoder, Spare } from './decode.js';
import { OutputEncoder } from './formats.js';
import type { BlockReply, BlockRequest, RunSetup, WorkerLoad } from './parallel-wire.js';

const port = parentPort!;
const load = workerData as WorkerLoad;

let setup: RunSetup;
let decoder: LineDecoder;
let runtime: ModelRuntime;
let encoder: OutputEncoder | undefined;
let failure: unknown;
let outputs = new Float32Array(0);
/** The last block's row buffers, decoded into again: a block is done with them before the next. */
let rows: Spare | undefined;
/** Output buffers the main thread has written out (see BlockRequest.spare). */
const outPool: ArrayBuffer[] = [];
/** Enough spare output buffers for the blocks in flight; more would only hold memory. */
const MAX_POOLED = 4;
/**
 * A block is decoded, run and encoded this many bytes at a time: a step's rows, features and
 * outputs stay in the core's cache from one step to the next, instead of a block's MBs going
 * out to memory and back three times.
 */
const STEP_BYTES = 64 << 10;
/** Rows of the warm-up call: the default runtime batch, the call size a run makes most... */
const WARM_ROWS = 256;
/** ...unless the rows are big: a 224x224 image model warms with one row, not 150 MB of them. */
const WARM_VALUES = 1 << 16;

try {
  const mod = (await import(load.runtimes.module)) as Record<string, () => RuntimeRegistry>;
  const registry = mod[load.runtimes.export]?.();
  const loader = registry?.[load.format];
  if (!loader) throw new Error(`${load.runtimes.module} has no runtime for ${load.format}`);
  runtime = await loader(load.artifact);
  // One call ahead of the run: the interpreter's first call sets up its buffers and the runtime's
  // code gets compiled, which would otherwise be the first block's latency.
  const row = runtime.info.inputShape.reduce((a, b) => a * b, 1);
  const warm = Math.max(1, Math.min(WARM_ROWS, Math.floor(WARM_VALUES / row)));
  runtime.predict(new Float32Array(row * warm), warm);
  port.postMessage({ ready: true });
} catch (e) {
  failure = e;
  port.postMessage({ ready: false, error: toWire(e) });
}

// One message at a time: a block must wait for the decoder its run's setup creates.
let queue: Promise<void> = Promise.resolve();
port.on('message', (m: BlockRequest | { run: RunSetup }) => {
  queue = queue.then(() => handle(m));
});

/** Never rejects: a failure is kept and answers every block after it. */
async function handle(m: BlockRequest | { run: RunSetup }): Promise<void> {
  if ('run' in m) {
    try {
      setup = m.run;
      decoder = await createDecoder(setup.codec);
    } catch (e) {
      failure ??= e;
    }
    return;
  }
  try {
    for (const b of m.spare ?? []) if (outPool.length < MAX_POOLED) outPool.push(b);
    if (failure !== undefined) throw failure as Error; // the first failure, rethrown as caught
    const reply = block(m);
    port.postMessage(reply, [reply.out.buffer as ArrayBuffer, reply.input]);
  } catch (e) {
    failure ??= e;
    port.postMessage({ seq: m.seq, ok: false, error: toWire(e) } satisfies BlockReply);
  }
}

function block(m: BlockRequest): BlockReply & { ok: true } {
  if (m.lineBase !== undefined) decoder.rebase(m.lineBase);
  if (m.columns) {
    decoder.useColumns(m.columns);
    encoder ??= newEncoder(m.columns);
  }
  const before = decoder.position.records;
  const { outSize } = setup.codec;
  const width = setup.codec.spec.features.length;
  const out = new Collector();
  let errText = '';
  const bad: { line: number; error: string }[] = [];
  let badCount = 0;
  let predicted = 0;
  let columns: string[] | undefined;
  let header: string | undefined;
  let fatal: BadRecord | undefined;
  let records = before;
  const bytes = m.bytes;
  let pos = 0;
  for (;;) {
    let piece: ReturnType<LineDecoder['decode']>;
    if (pos < bytes.length) {
      // Steps end at a line break (a record may still go on, as at a block's end: the decoder carries it).
      const lf = pos + STEP_BYTES < bytes.length ? bytes.indexOf(10, pos + STEP_BYTES) : -1;
      const end = lf < 0 ? bytes.length : lf + 1;
      piece = decoder.decode(bytes.subarray(pos, end), rows);
      pos = end;
      rows = { x: piece.decoded.x, rowRecords: piece.decoded.rowRecords };
    } else if (m.last) piece = decoder.decode(null);
    else break;
    const { decoded: d, echo } = piece;
    if (d.columns && !encoder) {
      columns = d.columns;
      encoder = newEncoder(d.columns);
      header = encoder.header;
    }
    if (d.n > 0) {
      if (outputs.length < d.n * outSize) outputs = new Float32Array(d.rowRecords.length * outSize);
      for (let r = 0; r < d.n; r += setup.batchSize) {
        const k = Math.min(setup.batchSize, d.n - r);
        const into = outputs.subarray(r * outSize, (r + k) * outSize);
        const got = runtime.predict(d.x.subarray(r * width, (r + k) * width), k, into);
        if (got !== into) outputs.set(got, r * outSize);
      }
      if (!encoder) throw new Error('rows before the input header was read');
      out.append(encoder.encode(echo, outputs, d.n, outSize));
      predicted += d.n;
    }
    for (const b of d.bad) {
      badCount++;
      if (bad.length < 20) bad.push({ line: b.line, error: b.error });
      errText += JSON.stringify({ line: b.line, error: b.error, text: b.text }) + '\n';
    }
    records = d.records;
    if (d.fatal) {
      fatal = d.fatal;
      break;
    }
    if (d.done) break;
  }
  const input = bytes.buffer as ArrayBuffer;
  const reply: BlockReply & { ok: true } = { seq: m.seq, ok: true, out: out.bytes(), input, errText, predicted, records: records - before, bad, badCount };
  if (fatal) reply.fatal = { line: fatal.line, error: fatal.error };
  if (columns) reply.columns = columns;
  if (header !== undefined) reply.header = header;
  return reply;
}

/**
 * A block's output bytes, in a buffer of their own to transfer: a pooled one while it is big
 * enough (the encoder's own bytes are a view of its buffer, valid until its next call).
 */
class Collector {
  private buf: Uint8Array = EMPTY;
  private n = 0;

  append(bytes: Uint8Array): void {
    if (this.n + bytes.length > this.buf.length) {
      const next = buffer(this.n + bytes.length);
      next.set(this.buf.subarray(0, this.n));
      this.buf = next;
    }
    this.buf.set(bytes, this.n);
    this.n += bytes.length;
  }

  bytes(): Uint8Array {
    // An empty view of a buffer of its own, not of the shared EMPTY (which transfer would detach).
    return this.n === 0 ? new Uint8Array(0) : this.buf.subarray(0, this.n);
  }
}

const EMPTY = new Uint8Array(0);

/** A buffer of `size` bytes at least: a pooled one when one is big enough. */
function buffer(size: number): Uint8Array {
  const i = outPool.findIndex((b) => b.byteLength >= size);
  // Twice what is asked (the rows of a block come a step at a time), so it fits later blocks.
  return new Uint8Array(i >= 0 ? outPool.splice(i, 1)[0]! : new ArrayBuffer(Math.max(1 << 16, size * 2)));
}

function newEncoder(columns: string[]): OutputEncoder {
  return new OutputEncoder(setup.codec.echoAs, setup.codec.spec, columns, setup.codec.model, setup.codec.file);
}

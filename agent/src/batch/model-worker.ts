/**
 * A batch worker thread: decodes blocks of the input, runs its own interpreter over their rows
 * and encodes the output bytes, so that every step of a block runs on the worker's core. The
 * thread that started it reads the file, hands out blocks and writes the answers in order
 * (parallel.ts). Requests are answered in the order they come.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ModelRuntime, RuntimeRegistry } from '@edgeml/runtime';
import { createDecoder, toWire } from './codec.js';
import type { BadRecord, LineDecoder, Spare } from './decode.js';
import { OutputEncoder } from './formats.js';
import type { BlockReply, BlockRequest, WorkerSetup } from './parallel-wire.js';

const port = parentPort!;
const setup = workerData as WorkerSetup;

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

try {
  decoder = await createDecoder(setup.codec);
  const mod = (await import(setup.runtimes.module)) as Record<string, () => RuntimeRegistry>;
  const registry = mod[setup.runtimes.export]?.();
  const loader = registry?.[setup.format];
  if (!loader) throw new Error(`${setup.runtimes.module} has no runtime for ${setup.format}`);
  runtime = await loader(setup.artifact);
  port.postMessage({ ready: true });
} catch (e) {
  failure = e;
  port.postMessage({ ready: false, error: toWire(e) });
}

port.on('message', (m: BlockRequest) => {
  try {
    for (const b of m.spare ?? []) if (outPool.length < MAX_POOLED) outPool.push(b);
    if (failure !== undefined) throw failure as Error; // the first failure, rethrown as caught
    const reply = block(m);
    port.postMessage(reply, [reply.out.buffer as ArrayBuffer, reply.input]);
  } catch (e) {
    failure ??= e;
    port.postMessage({ seq: m.seq, ok: false, error: toWire(e) } satisfies BlockReply);
  }
});

function block(m: BlockRequest): BlockReply & { ok: true } {
  if (m.lineBase !== undefined) decoder.rebase(m.lineBase);
  if (m.columns) {
    decoder.useColumns(m.columns);
    encoder ??= newEncoder(m.columns);
  }
  const before = decoder.position.records;
  const pieces = [decoder.decode(m.bytes, rows)];
  if (m.last && !pieces[0]!.decoded.done) pieces.push(decoder.decode(null));
  const first = pieces[0]!.decoded;
  rows = { x: first.x, rowRecords: first.rowRecords };
  const { outSize } = setup.codec;
  const width = setup.codec.spec.features.length;
  const parts: Uint8Array[] = [];
  let errText = '';
  const bad: { line: number; error: string }[] = [];
  let badCount = 0;
  let predicted = 0;
  let columns: string[] | undefined;
  let header: string | undefined;
  let fatal: BadRecord | undefined;
  let records = before;
  for (const { decoded: d, echo } of pieces) {
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
      // The encoder's bytes are a view of its own buffer: this copy is the one that moves.
      parts.push(moving(encoder.encode(echo, outputs, d.n, outSize)));
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
  }
  // Buffer.concat may take a slice of Node's shared pool, which must not be transferred.
  const out = parts.length === 1 ? parts[0]! : parts.length === 0 ? new Uint8Array(0) : moving(Buffer.concat(parts));
  const input = m.bytes.buffer as ArrayBuffer;
  const reply: BlockReply & { ok: true } = { seq: m.seq, ok: true, out, input, errText, predicted, records: records - before, bad, badCount };
  if (fatal) reply.fatal = { line: fatal.line, error: fatal.error };
  if (columns) reply.columns = columns;
  if (header !== undefined) reply.header = header;
  return reply;
}

/** A copy of `bytes` in a buffer of its own (a pooled one when one is big enough), to transfer. */
function moving(bytes: Uint8Array): Uint8Array {
  const i = outPool.findIndex((b) => b.byteLength >= bytes.length);
  // A quarter more than asked, so blocks a little longer than this one fit it later.
  const buf = i >= 0 ? outPool.splice(i, 1)[0]! : new ArrayBuffer(Math.max(64, Math.ceil(bytes.length * 1.25)));
  const out = new Uint8Array(buf, 0, bytes.length);
  out.set(bytes);
  return out;
}

function newEncoder(columns: string[]): OutputEncoder {
  return new OutputEncoder(setup.codec.echoAs, setup.codec.spec, columns, setup.codec.model, setup.codec.file);
}

/**
 * A batch worker thread: decodes blocks of the input, runs its own interpreter over their rows
 * and encodes the output bytes, so that every step of a block runs on the worker's core. The
 * thread that started it reads the file, hands out blocks and writes the answers in order
 * (parallel.ts). Requests are answered in the order they come.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ModelRuntime, RuntimeRegistry } from '@edgeml/runtime';
import { createDecoder, toWire } from './codec.js';
import type { BadRecord, LineDecoder } from './decode.js';
import { OutputEncoder } from './formats.js';
import type { BlockReply, BlockRequest, WorkerSetup } from './parallel-wire.js';

const port = parentPort!;
const setup = workerData as WorkerSetup;

let decoder: LineDecoder;
let runtime: ModelRuntime;
let encoder: OutputEncoder | undefined;
let failure: unknown;
let outputs = new Float32Array(0);

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
    if (failure !== undefined) throw failure as Error; // the first failure, rethrown as caught
    const reply = block(m);
    port.postMessage(reply, [reply.out.buffer as ArrayBuffer]);
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
  const pieces = [decoder.decode(m.bytes)];
  if (m.last && !pieces[0]!.decoded.done) pieces.push(decoder.decode(null));
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
      parts.push(encoder.encode(echo, outputs, d.n, outSize).slice());
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
  const out = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  const reply: BlockReply & { ok: true } = { seq: m.seq, ok: true, out, errText, predicted, records: records - before, bad, badCount };
  if (fatal) reply.fatal = { line: fatal.line, error: fatal.error };
  if (columns) reply.columns = columns;
  if (header !== undefined) reply.header = header;
  return reply;
}

function newEncoder(columns: string[]): OutputEncoder {
  return new OutputEncoder(setup.codec.echoAs, setup.codec.spec, columns, setup.codec.model, setup.codec.file);
}

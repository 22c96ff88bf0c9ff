/**
 * The batch codec's worker thread: reads and decodes input blocks, encodes and writes output
 * rows, while the runner's thread runs the model. Requests are answered in the order they come;
 * after a failure every request is answered with it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { BatchCodec, toWire, type CodecDecoded, type CodecOptions, type OutputFiles } from './codec.js';
import type { Spare } from './decode.js';

type Request =
  | { op: 'next' }
  | { op: 'open'; files: OutputFiles }
  | { op: 'put'; outputs: Float32Array; rows: number; through: number; done: Spare; next: boolean }
  | { op: 'close' };


const port = parentPort!;

/** A decoded block's buffers go to the runner's thread without a copy. */
const moved = (d: CodecDecoded): ArrayBuffer[] => {
  const list = [d.x.buffer as ArrayBuffer, d.rowRecords.buffer as ArrayBuffer];
  if (d.outputs) list.push(d.outputs.buffer as ArrayBuffer);
  return list;
};
let codec: BatchCodec | undefined;
let failure: unknown;
try {
  codec = await BatchCodec.create(workerData as CodecOptions);
} catch (e) {
  failure = e;
}

port.on('message', (m: Request) => {
  try {
    if (m.op === 'close') {
      codec?.close();
      port.postMessage({ ok: true });
      return;
    }
    if (failure !== undefined) throw failure as Error; // the first failure, rethrown as caught
    const c = codec!;
    switch (m.op) {
      case 'next': {
        const d = c.next();
        port.postMessage({ ok: true, value: d }, moved(d));
        return;
      }
      case 'open':
        c.open(m.files);
        break;
      case 'put': {
        const written = c.put(m.outputs, m.rows, m.through, m.done);
        const decoded = m.next ? c.next() : undefined;
        port.postMessage({ ok: true, value: { written, decoded } }, decoded ? moved(decoded) : []);
        return;
      }
    }
    port.postMessage({ ok: true });
  } catch (e) {
    // A failed write leaves the output behind what was asked: nothing after it may be written.
    failure ??= e;
    port.postMessage({ ok: false, error: toWire(e) });
  }
});

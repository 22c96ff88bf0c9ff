/**
 * The batch codec's worker thread: reads and decodes input blocks, encodes and writes output
 * rows, while the runner's thread runs the model. Requests are answered in the order they come;
 * after a failure every request is answered with it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { BatchCodec, toWire, type CodecOptions, type OutputFiles } from './codec.js';
import type { Spare } from './decode.js';

type Request =
  | { op: 'next' }
  | { op: 'open'; files: OutputFiles }
  | { op: 'put'; outputs: Float32Array; rows: number; through: number; done: Spare }
  | { op: 'close' };


const port = parentPort!;
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
    if (failure !== undefined) throw failure;
    const c = codec!;
    switch (m.op) {
      case 'next': {
        const d = c.next();
        const moved = [d.x.buffer as ArrayBuffer, d.rowRecords.buffer as ArrayBuffer];
        if (d.outputs) moved.push(d.outputs.buffer as ArrayBuffer);
        port.postMessage({ ok: true, value: d }, moved);
        return;
      }
      case 'open':
        c.open(m.files);
        break;
      case 'put':
        port.postMessage({ ok: true, value: c.put(m.outputs, m.rows, m.through, m.done) });
        return;
    }
    port.postMessage({ ok: true });
  } catch (e) {
    // A failed write leaves the output behind what was asked: nothing after it may be written.
    failure ??= e;
    port.postMessage({ ok: false, error: toWire(e) });
  }
});

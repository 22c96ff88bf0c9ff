/**
 * The agent's local API in a process of its own, for the HTTP batch benchmark: as on a device,
 * the server's process holds the API, the predictor and the model, nothing else (the bench
 * process also holds tfjs, trained models and their data, whose collections would be charged to
 * the server). The raw runtime is timed in this process too, between the HTTP runs, so both
 * sides of each ratio run under the same conditions.
 *
 * `node http-server.js ARTIFACT RELEASE_JSON BATCH_F32 ROWS`, started with an IPC channel: sends
 * `{ port }` once listening, then answers messages:
 * - `{ op: 'raw', ms }` -> `{ msPerCall }`: ModelRuntime.predict on the ROWS preprocessed rows
 * - `{ op: 'raw-cpu', ms }` -> `{ cpuMsPerCall }`
 * - `{ op: 'cpu-start' }` -> `{}` and `{ op: 'cpu-stop' }` -> `{ cpuMs }`: this process's CPU time in between
 */
import { readFileSync } from 'node:fs';
import { Predictor, startApi } from '@edgeml/agent';
import { silentLogger, type Release } from '@edgeml/core';
import { createTfliteRuntime } from '@edgeml/tflite';
import { timeRound } from './stats.js';

type Request = { op: 'raw'; ms: number } | { op: 'raw-cpu'; ms: number } | { op: 'cpu-start' } | { op: 'cpu-stop' };

const [artifactFile, releaseFile, batchFile, rowsArg] = process.argv.slice(2);
const rows = Number(rowsArg);
const runtime = await createTfliteRuntime(readFileSync(artifactFile!));
const release = JSON.parse(readFileSync(releaseFile!, 'utf8')) as Release;
const bytes = readFileSync(batchFile!);
const batch = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
const out = new Float32Array(rows * runtime.info.outputSize);
const predictor = new Predictor();
predictor.swap({ release, runtime });
const api = await startApi({ host: '127.0.0.1', port: 0, predictor, log: silentLogger, health: () => ({ status: 'ok' }) });

const predict = () => runtime.predict(batch, rows, out);

/** CPU ms per call over `ms` of wall time. */
function cpuPerCall(ms: number): number {
  for (let i = 0; i < 20; i++) predict();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < ms || n < 20) {
    predict();
    n++;
  }
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000 / n;
}

let cpu0 = process.cpuUsage();
process.on('message', (m: Request) => {
  try {
    if (m.op === 'raw') process.send!({ msPerCall: timeRound(predict, { minTimeMs: m.ms, warmup: 20, minIterations: 20 }).msPerCall });
    else if (m.op === 'raw-cpu') process.send!({ cpuMsPerCall: cpuPerCall(m.ms) });
    else if (m.op === 'cpu-start') {
      cpu0 = process.cpuUsage();
      process.send!({});
    } else {
      const c = process.cpuUsage(cpu0);
      process.send!({ cpuMs: (c.user + c.system) / 1000 });
    }
  } catch (e) {
    process.send!({ error: e instanceof Error ? e.message : String(e) });
  }
});
process.on('disconnect', () => {
  api.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
process.send!({ port: Number(new URL(api.url).port) });

/**
 * HTTP throughput at batch 256 (issue 13): 256-row requests to POST /v1/predict with the JSON
 * body and with the compact body (float32 rows in, float32 outputs out), against the raw
 * runtime's rows/s on the same rows in the same round. Each body's answers are checked against
 * the raw runtime's before anything is timed.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Predictor, startApi } from '@edgeml/agent';
import { silentLogger } from '@edgeml/core';
import { createTfliteRuntime } from '@edgeml/tflite';
import type { DeviceModel } from '../device.js';
import { benchInputs } from '../rounds.js';
import type { BenchContext, Table } from '../section.js';
import { pairedRatio, summarize, timeRound, type Ratio, type Target } from '../stats.js';

const BATCH = 256;
const COMPACT_TARGET: Target = { op: '>=', value: 0.7, source: 'issue 13' };
const JSON_TARGET: Target = { op: '>=', value: 0.5, source: 'issue 13' };

function post(agent: Agent, port: number, body: Buffer, headers: Record<string, string>): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = request({ agent, host: '127.0.0.1', port, method: 'POST', path: '/v1/predict', headers: { ...headers, 'content-length': body.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const all = Buffer.concat(chunks);
        if (res.statusCode !== 200) reject(new Error(`POST /v1/predict answered ${res.statusCode}: ${all.toString('utf8').slice(0, 300)}`));
        else resolve(all);
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const JSON_HEADERS = { 'content-type': 'application/json' };
const compactHeaders = (width: number) => ({ 'content-type': 'application/octet-stream', 'x-edgeml-features': String(width) });

/** The outputs of an answer, as float32 values in row order. */
const compactOutputs = (b: Buffer) => Float32Array.from({ length: b.length / 4 }, (_, i) => b.readFloatLE(i * 4));
const jsonOutputs = (b: Buffer) => Float32Array.from((JSON.parse(b.toString('utf8')) as { predictions: { probabilities: number[] }[] }).predictions.flatMap((p) => p.probabilities));

/** Largest difference allowed: one step of the int8 softmax output (scale 1/256), as input rounding may differ by an ulp. */
const STEP = 1 / 256 + 1e-6;

function check(what: string, got: Float32Array, want: Float32Array, k: number): void {
  if (got.length !== want.length) throw new Error(`${what}: ${got.length} outputs, the raw runtime gave ${want.length}`);
  let worst = 0;
  let argmaxDiffers = 0;
  for (let r = 0; r < got.length / k; r++) {
    let a = 0;
    let b = 0;
    for (let c = 0; c < k; c++) {
      worst = Math.max(worst, Math.abs(got[r * k + c]! - want[r * k + c]!));
      if (got[r * k + c]! > got[r * k + a]!) a = c;
      if (want[r * k + c]! > want[r * k + b]!) b = c;
    }
    if (a !== b) argmaxDiffers++;
  }
  if (worst > STEP || argmaxDiffers > 0) throw new Error(`${what}: answers differ from the raw runtime's (largest difference ${worst}, ${argmaxDiffers} labels differ)`);
}

const CLIENT = fileURLToPath(new URL('../http-client.js', import.meta.url));

/**
 * A client in its own process (http-client.ts) posting `bodyFile` for `ms`: its requests/s, and
 * the server's CPU ms per request (this process's CPU time while the client ran, over every
 * request it sent: the server is all this process does meanwhile). CPU time per request holds
 * still on a busy machine where wall-clock rates swing with what else runs.
 */
async function requestsPerRound(port: number, bodyFile: string, contentType: string, width: number, ms: number): Promise<{ perSecond: number; cpuMsPerRequest: number }> {
  const c0 = process.cpuUsage();
  const r = await new Promise<{ requestsPerSecond: number; requests: number }>((resolve, reject) => {
    execFile(process.execPath, [CLIENT, String(port), bodyFile, contentType, String(width), String(ms)], { timeout: 120_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`the HTTP client failed: ${stderr.trim() || err.message}`));
      else resolve(JSON.parse(stdout) as { requestsPerSecond: number; requests: number });
    });
  });
  const c = process.cpuUsage(c0);
  return { perSecond: r.requestsPerSecond, cpuMsPerRequest: (c.user + c.system) / 1000 / r.requests };
}

/** CPU ms per call of `fn` over `ms` of wall time. */
function cpuPerCall(fn: () => void, ms: number): number {
  for (let i = 0; i < 20; i++) fn();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < ms || n < 20) {
    fn();
    n++;
  }
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000 / n;
}

export async function measureHttpBatch(ctx: BenchContext, dm: DeviceModel): Promise<{ table: Table; ratios: Ratio[]; notes: string[]; details: Record<string, unknown> }> {
  const width = dm.trained.spec.features.length;
  const { batch } = benchInputs(dm.trained, BATCH);
  const rows = Array.from({ length: BATCH }, (_, k) => dm.rawRows[k % dm.rawRows.length]!);
  const jsonBody = Buffer.from(JSON.stringify({ rows }));
  const compactBody = Buffer.from(Float32Array.from(rows.flat()).buffer);
  const fig = { raw: [] as number[], json: [] as number[], compact: [] as number[], rawCpu: [] as number[], jsonCpu: [] as number[], compactCpu: [] as number[] };
  const dir = await mkdtemp(join(tmpdir(), 'edgeml-bench-http-'));
  const files = { json: join(dir, 'rows.json'), compact: join(dir, 'rows.f32') };
  await writeFile(files.json, jsonBody);
  await writeFile(files.compact, compactBody);
  try {
    ctx.progress(`measuring ${BATCH}-row POST /v1/predict, JSON and compact bodies, against the raw runtime`);
    for (let round = -1; round < ctx.rounds; round++) {
      const runtime = await createTfliteRuntime(dm.artifact);
      const predictor = new Predictor();
      predictor.swap({ release: dm.release, runtime });
      const api = await startApi({ host: '127.0.0.1', port: 0, predictor, log: silentLogger, health: () => ({ status: 'ok' }) });
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const port = Number(new URL(api.url).port);
        const k = runtime.info.outputSize;
        const want = runtime.predict(batch, BATCH).slice();
        if (round < 0) {
          check('compact body', compactOutputs(await post(agent, port, compactBody, compactHeaders(width))), want, k);
          check('JSON body', jsonOutputs(await post(agent, port, jsonBody, JSON_HEADERS)), want, k);
        }
        const out = new Float32Array(BATCH * k);
        const raw = (BATCH * 1000) / timeRound(() => runtime.predict(batch, BATCH, out), { minTimeMs: ctx.roundMs, warmup: 20, minIterations: 20 }).msPerCall;
        // The client is another process, as a device application is: the server's thread does only the server's work.
        const compact = await requestsPerRound(port, files.compact, 'application/octet-stream', width, ctx.roundMs * 2);
        const json = await requestsPerRound(port, files.json, 'application/json', width, ctx.roundMs * 2);
        const rawCpu = cpuPerCall(() => runtime.predict(batch, BATCH, out), ctx.roundMs);
        if (round < 0) continue;
        fig.raw.push(raw);
        fig.compact.push(BATCH * compact.perSecond);
        fig.json.push(BATCH * json.perSecond);
        // Rows per CPU-second of the server against rows per CPU-second of the bare runtime.
        fig.rawCpu.push((BATCH * 1000) / rawCpu);
        fig.compactCpu.push((BATCH * 1000) / compact.cpuMsPerRequest);
        fig.jsonCpu.push((BATCH * 1000) / json.cpuMsPerRequest);
        ctx.progress(
          `  http batch round ${round + 1}/${ctx.rounds}: raw ${Math.round(raw)} rows/s, compact ${Math.round(fig.compact.at(-1)!)}, JSON ${Math.round(fig.json.at(-1)!)}; per CPU-second: raw ${Math.round(fig.rawCpu.at(-1)!)}, compact ${Math.round(fig.compactCpu.at(-1)!)}, JSON ${Math.round(fig.jsonCpu.at(-1)!)}`,
        );
      } finally {
        agent.destroy();
        await api.close();
        predictor.swap(null);
        runtime.dispose();
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return {
    table: {
      title: `${BATCH} rows per call; rows/s, median (p25-p75) of ${ctx.rounds} rounds`,
      columns: [
        { key: 'path', header: 'path' },
        { key: 'rows', header: 'rows/s', digits: 0 },
        { key: 'cpu', header: 'rows per CPU-second (server)', digits: 0 },
      ],
      rows: [
        { path: `POST /v1/predict, compact body (float32 in and out), ${BATCH} rows`, rows: summarize(fig.compact), cpu: summarize(fig.compactCpu) },
        { path: `POST /v1/predict, JSON body {"rows": [...]}, ${BATCH} rows`, rows: summarize(fig.json), cpu: summarize(fig.jsonCpu) },
        { path: `raw runtime: ModelRuntime.predict, batch ${BATCH} (preprocessed)`, rows: summarize(fig.raw), cpu: summarize(fig.rawCpu) },
      ],
    },
    ratios: [
      pairedRatio(`HTTP compact body rows/s vs raw runtime rows/s, batch ${BATCH}`, { label: 'compact rows/s', values: fig.compact }, { label: 'raw rows/s', values: fig.raw }, COMPACT_TARGET),
      pairedRatio(`HTTP JSON body rows/s vs raw runtime rows/s, batch ${BATCH}`, { label: 'JSON rows/s', values: fig.json }, { label: 'raw rows/s', values: fig.raw }, JSON_TARGET),
      pairedRatio(`HTTP compact body rows per server CPU-second vs the raw runtime's, batch ${BATCH} (steady under load)`, { label: 'compact rows/CPU-s', values: fig.compactCpu }, { label: 'raw rows/CPU-s', values: fig.rawCpu }),
      pairedRatio(`HTTP JSON body rows per server CPU-second vs the raw runtime's, batch ${BATCH} (steady under load)`, { label: 'JSON rows/CPU-s', values: fig.jsonCpu }, { label: 'raw rows/CPU-s', values: fig.rawCpu }),
    ],
    notes: [
      `batch ${BATCH}: one client in its own process (as an application on the device), one keep-alive connection, one request at a time, parsing each answer (JSON.parse, or a Float32Array view); the server is startApi in the bench process; ${ctx.roundMs * 2} ms per body per round; each body's answers were checked against the raw runtime's outputs for the same rows (within one int8 output step, same labels) before timing`,
      "rows per CPU-second: the bench process's CPU time (all its threads) while the client ran, per row served, against the CPU time of the bare runtime call; on a busy machine wall-clock rows/s of a two-process setup swing with the scheduler, CPU time per row much less",
    ],
    details: { batch: fig },
  };
}

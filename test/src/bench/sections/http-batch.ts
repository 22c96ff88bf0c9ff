/**
 * HTTP throughput at batch 256 (issue 13): 256-row requests to POST /v1/predict with the JSON
 * body and with the compact body (float32 rows in, float32 outputs out), against the raw
 * runtime's rows/s on the same rows in the same round. Each body is measured twice: one request
 * at a time on one connection (a round trip per request: latency, the client's own parse), and
 * with CONNECTIONS keep-alive connections each keeping one request in flight, as a
 * high-throughput client sends (the server always has the next request waiting). Issue 13's
 * targets are judged on the second. Each body's answers are checked against the raw runtime's
 * before anything is timed.
 */
import { spawn } from 'node:child_process';
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
/** Connections of the high-throughput client, each with one request in flight. */
export const CONNECTIONS = 4;
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

const COMPACT_TYPE = 'application/octet-stream';
const JSON_HEADERS = { 'content-type': 'application/json' };
const compactHeaders = (width: number) => ({ 'content-type': COMPACT_TYPE, 'x-edgeml-features': String(width) });

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
 * A client in its own process (http-client.ts) posting `bodyFile` for `ms` on `connections`
 * connections, after a warm-up: its requests/s, and the server's CPU ms per request (this
 * process's CPU time from the client's `timed` line to its result, over the requests timed: the
 * server is all this process does meanwhile). CPU time per request holds still on a busy
 * machine where wall-clock rates swing with what else runs.
 */
function requestsPerRound(port: number, bodyFile: string, contentType: string, width: number, ms: number, connections: number): Promise<{ perSecond: number; cpuMsPerRequest: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLIENT, String(port), bodyFile, contentType, String(width), String(ms), String(connections), String(Math.max(100, ms / 2))], { stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    let out = '';
    let err = '';
    let c0: NodeJS.CpuUsage | undefined;
    let result: { perSecond: number; cpuMsPerRequest: number } | undefined;
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      for (let i = out.indexOf('\n'); i >= 0; i = out.indexOf('\n')) {
        const line = out.slice(0, i);
        out = out.slice(i + 1);
        if (line === 'timed') c0 = process.cpuUsage();
        else if (c0) {
          const c = process.cpuUsage(c0);
          const r = JSON.parse(line) as { requestsPerSecond: number; requests: number };
          result = { perSecond: r.requestsPerSecond, cpuMsPerRequest: (c.user + c.system) / 1000 / r.requests };
        }
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (result) resolve(result);
      else reject(new Error(`the HTTP client failed (${signal ?? `exit ${code}`}): ${err.trim() || 'no result'}`));
    });
  });
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
  /** Per body: one connection one request at a time (`seq`), and CONNECTIONS connections (`many`). */
  const fig = {
    raw: [] as number[],
    rawCpu: [] as number[],
    compactSeq: [] as number[],
    compactMany: [] as number[],
    jsonSeq: [] as number[],
    jsonMany: [] as number[],
    compactCpu: [] as number[],
    jsonCpu: [] as number[],
  };
  const dir = await mkdtemp(join(tmpdir(), 'edgeml-bench-http-'));
  const files = { json: join(dir, 'rows.json'), compact: join(dir, 'rows.f32') };
  await writeFile(files.json, jsonBody);
  await writeFile(files.compact, compactBody);
  try {
    ctx.progress(`measuring ${BATCH}-row POST /v1/predict, JSON and compact bodies, 1 and ${CONNECTIONS} connections, against the raw runtime`);
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
        // The raw runtime is timed before each HTTP run and the round's figure is their mean
        // time per call: drift on a shared machine then hits both sides of each ratio alike.
        const rawMs: number[] = [];
        const timeRaw = () => rawMs.push(timeRound(() => runtime.predict(batch, BATCH, out), { minTimeMs: ctx.roundMs / 2, warmup: 20, minIterations: 20 }).msPerCall);
        // The client is another process, as a device application is: the server's thread does only the server's work.
        const ms = ctx.roundMs * 2;
        timeRaw();
        const compactMany = await requestsPerRound(port, files.compact, COMPACT_TYPE, width, ms, CONNECTIONS);
        timeRaw();
        const jsonMany = await requestsPerRound(port, files.json, 'application/json', width, ms, CONNECTIONS);
        timeRaw();
        const compactSeq = await requestsPerRound(port, files.compact, COMPACT_TYPE, width, ms, 1);
        timeRaw();
        const jsonSeq = await requestsPerRound(port, files.json, 'application/json', width, ms, 1);
        const raw = (BATCH * 1000) / (rawMs.reduce((a, b) => a + b, 0) / rawMs.length);
        const rawCpu = cpuPerCall(() => runtime.predict(batch, BATCH, out), ctx.roundMs);
        if (round < 0) continue;
        fig.raw.push(raw);
        fig.compactMany.push(BATCH * compactMany.perSecond);
        fig.jsonMany.push(BATCH * jsonMany.perSecond);
        fig.compactSeq.push(BATCH * compactSeq.perSecond);
        fig.jsonSeq.push(BATCH * jsonSeq.perSecond);
        // Rows per CPU-second of the server (with the server kept busy) against the bare runtime's.
        fig.rawCpu.push((BATCH * 1000) / rawCpu);
        fig.compactCpu.push((BATCH * 1000) / compactMany.cpuMsPerRequest);
        fig.jsonCpu.push((BATCH * 1000) / jsonMany.cpuMsPerRequest);
        const r = (v: number[]) => Math.round(v.at(-1)!);
        ctx.progress(
          `  http batch round ${round + 1}/${ctx.rounds}: raw ${r(fig.raw)} rows/s; ${CONNECTIONS} connections: compact ${r(fig.compactMany)}, JSON ${r(fig.jsonMany)}; one at a time: compact ${r(fig.compactSeq)}, JSON ${r(fig.jsonSeq)}; per CPU-second: raw ${r(fig.rawCpu)}, compact ${r(fig.compactCpu)}, JSON ${r(fig.jsonCpu)}`,
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
  const conns = `${CONNECTIONS} keep-alive connections, one request in flight on each`;
  return {
    table: {
      title: `${BATCH} rows per call; rows/s, median (p25-p75) of ${ctx.rounds} rounds`,
      columns: [
        { key: 'path', header: 'path' },
        { key: 'rows', header: 'rows/s', digits: 0 },
        { key: 'cpu', header: 'rows per CPU-second (server)', digits: 0 },
      ],
      rows: [
        { path: `POST /v1/predict, compact body (float32 in and out), ${BATCH} rows, ${CONNECTIONS} connections`, rows: summarize(fig.compactMany), cpu: summarize(fig.compactCpu) },
        { path: `POST /v1/predict, JSON body {"rows": [...]}, ${BATCH} rows, ${CONNECTIONS} connections`, rows: summarize(fig.jsonMany), cpu: summarize(fig.jsonCpu) },
        { path: `POST /v1/predict, compact body, ${BATCH} rows, 1 connection, one request at a time`, rows: summarize(fig.compactSeq), cpu: '' },
        { path: `POST /v1/predict, JSON body, ${BATCH} rows, 1 connection, one request at a time`, rows: summarize(fig.jsonSeq), cpu: '' },
        { path: `raw runtime: ModelRuntime.predict, batch ${BATCH} (preprocessed)`, rows: summarize(fig.raw), cpu: summarize(fig.rawCpu) },
      ],
    },
    ratios: [
      pairedRatio(`HTTP compact body rows/s vs raw runtime rows/s, batch ${BATCH}, ${CONNECTIONS} connections`, { label: 'compact rows/s', values: fig.compactMany }, { label: 'raw rows/s', values: fig.raw }, COMPACT_TARGET),
      pairedRatio(`HTTP JSON body rows/s vs raw runtime rows/s, batch ${BATCH}, ${CONNECTIONS} connections`, { label: 'JSON rows/s', values: fig.jsonMany }, { label: 'raw rows/s', values: fig.raw }, JSON_TARGET),
      pairedRatio(`HTTP compact body rows/s vs raw runtime rows/s, batch ${BATCH}, one request at a time`, { label: 'compact rows/s', values: fig.compactSeq }, { label: 'raw rows/s', values: fig.raw }),
      pairedRatio(`HTTP JSON body rows/s vs raw runtime rows/s, batch ${BATCH}, one request at a time`, { label: 'JSON rows/s', values: fig.jsonSeq }, { label: 'raw rows/s', values: fig.raw }),
      pairedRatio(`HTTP compact body rows per server CPU-second vs the raw runtime's, batch ${BATCH} (steady under load)`, { label: 'compact rows/CPU-s', values: fig.compactCpu }, { label: 'raw rows/CPU-s', values: fig.rawCpu }),
      pairedRatio(`HTTP JSON body rows per server CPU-second vs the raw runtime's, batch ${BATCH} (steady under load)`, { label: 'JSON rows/CPU-s', values: fig.jsonCpu }, { label: 'raw rows/CPU-s', values: fig.rawCpu }),
    ],
    notes: [
      `batch ${BATCH}: the client is its own process (as an application on the device), node:http, parsing each answer (JSON.parse, or a Float32Array view); the server is startApi in the bench process; per body and round, ${ctx.roundMs} ms of warm-up then ${ctx.roundMs * 2} ms timed, first with ${conns} (a high-throughput client: the server has the next request waiting while it answers one), then with one connection and one request at a time (a round trip per request); the raw runtime is timed for ${ctx.roundMs / 2} ms before each of these four runs and the round's raw figure is the mean time per call; each body's answers were checked against the raw runtime's outputs for the same rows (within one int8 output step, same labels) before timing`,
      `issue 13's targets (compact >= 0.7x, JSON >= 0.5x of raw rows/s) are judged on the ${CONNECTIONS}-connection figures: the issue asks what a high-throughput client gets; the one-at-a-time figures add the client's own work and two process wake-ups per request to every request, and are shown beside them`,
      `rows per CPU-second: the bench process's CPU time (all its threads) over the timed window of the ${CONNECTIONS}-connection run, per row served, against the CPU time of the bare runtime call; on a busy machine wall-clock rows/s of a two-process setup swing with the scheduler, CPU time per row much less`,
    ],
    details: { batch: fig, connections: CONNECTIONS },
  };
}

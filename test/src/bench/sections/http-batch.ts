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
import { fork, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTfliteRuntime } from '@edgeml/tflite';
import type { DeviceModel } from '../device.js';
import { benchInputs } from '../rounds.js';
import type { BenchContext, Table } from '../section.js';
import { pairedRatio, summarize, type Ratio, type Target } from '../stats.js';

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

/** The API in its own process (http-server.ts), and a way to ask it for timings. */
interface Server {
  port: number;
  ask<T>(m: Record<string, unknown>): Promise<T>;
  close(): Promise<void>;
}

const SERVER = fileURLToPath(new URL('../http-server.js', import.meta.url));

async function startServer(files: { artifact: string; release: string; batch: string }): Promise<Server> {
  const child = fork(SERVER, [files.artifact, files.release, files.batch, String(BATCH)], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString('utf8')).slice(-4000)));
  const exited = new Promise<never>((_, reject) => child.once('exit', (code, signal) => reject(new Error(`the API process exited (${signal ?? `exit ${code}`}): ${err.trim()}`))));
  exited.catch(() => undefined);
  const next = <T>() => Promise.race([new Promise<T & { error?: string }>((resolve) => child.once('message', (m) => resolve(m as T & { error?: string }))), exited]);
  const { port } = await next<{ port: number }>();
  return {
    port,
    async ask<T>(m: Record<string, unknown>): Promise<T> {
      const reply = next<T>();
      child.send(m);
      const r = await reply;
      if (r.error) throw new Error(`the API process: ${r.error}`);
      return r;
    },
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.disconnect();
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
    },
  };
}

/**
 * A client in its own process (http-client.ts) posting `bodyFile` for `ms` on `connections`
 * connections, after a warm-up: its requests/s, and the server's CPU ms per request (the API
 * process's CPU time from the client's `timed` line to its result, over the requests timed: the
 * server is all that process does meanwhile). CPU time per request holds still on a busy
 * machine where wall-clock rates swing with what else runs.
 */
function requestsPerRound(server: Server, bodyFile: string, contentType: string, width: number, ms: number, connections: number): Promise<{ perSecond: number; cpuMsPerRequest: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLIENT, String(server.port), bodyFile, contentType, String(width), String(ms), String(connections), String(Math.max(100, ms / 2))], { stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    let out = '';
    let err = '';
    let started: Promise<unknown> | undefined;
    let result: Promise<{ perSecond: number; cpuMsPerRequest: number }> | undefined;
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      for (let i = out.indexOf('\n'); i >= 0; i = out.indexOf('\n')) {
        const line = out.slice(0, i);
        out = out.slice(i + 1);
        if (line === 'timed') started = server.ask({ op: 'cpu-start' });
        else if (started) {
          const r = JSON.parse(line) as { requestsPerSecond: number; requests: number };
          const begun = started;
          result = begun.then(() => server.ask<{ cpuMs: number }>({ op: 'cpu-stop' })).then(({ cpuMs }) => ({ perSecond: r.requestsPerSecond, cpuMsPerRequest: cpuMs / r.requests }));
          result.catch(() => undefined);
        }
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (result) result.then(resolve, reject);
      else reject(new Error(`the HTTP client failed (${signal ?? `exit ${code}`}): ${err.trim() || 'no result'}`));
    });
  });
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
  const files = { json: join(dir, 'rows.json'), compact: join(dir, 'rows.f32'), artifact: join(dir, 'model.tflite'), release: join(dir, 'release.json'), batch: join(dir, 'batch.f32') };
  await writeFile(files.json, jsonBody);
  await writeFile(files.compact, compactBody);
  await writeFile(files.artifact, dm.artifact);
  await writeFile(files.release, JSON.stringify(dm.release));
  await writeFile(files.batch, new Uint8Array(batch.buffer, batch.byteOffset, batch.byteLength));
  try {
    ctx.progress(`measuring ${BATCH}-row POST /v1/predict, JSON and compact bodies, 1 and ${CONNECTIONS} connections, against the raw runtime`);
    const runtime = await createTfliteRuntime(dm.artifact);
    const k = runtime.info.outputSize;
    const want = runtime.predict(batch, BATCH).slice();
    runtime.dispose();
    for (let round = -1; round < ctx.rounds; round++) {
      const server = await startServer(files);
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const port = server.port;
        if (round < 0) {
          check('compact body', compactOutputs(await post(agent, port, compactBody, compactHeaders(width))), want, k);
          check('JSON body', jsonOutputs(await post(agent, port, jsonBody, JSON_HEADERS)), want, k);
        }
        // The raw runtime is timed (in the API's process) before each HTTP run and the round's
        // figure is their mean time per call: drift on a shared machine then hits both sides of
        // each ratio alike.
        const rawMs: number[] = [];
        const timeRaw = async () => rawMs.push((await server.ask<{ msPerCall: number }>({ op: 'raw', ms: ctx.roundMs / 2 })).msPerCall);
        // The client is another process, as a device application is: the server's thread does only the server's work.
        const ms = ctx.roundMs * 2;
        await timeRaw();
        const compactMany = await requestsPerRound(server, files.compact, COMPACT_TYPE, width, ms, CONNECTIONS);
        await timeRaw();
        const jsonMany = await requestsPerRound(server, files.json, 'application/json', width, ms, CONNECTIONS);
        await timeRaw();
        const compactSeq = await requestsPerRound(server, files.compact, COMPACT_TYPE, width, ms, 1);
        await timeRaw();
        const jsonSeq = await requestsPerRound(server, files.json, 'application/json', width, ms, 1);
        const raw = (BATCH * 1000) / (rawMs.reduce((a, b) => a + b, 0) / rawMs.length);
        const rawCpu = (await server.ask<{ cpuMsPerCall: number }>({ op: 'raw-cpu', ms: ctx.roundMs })).cpuMsPerCall;
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
        await server.close();
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
      `batch ${BATCH}: the client is its own process (as an application on the device), node:http, parsing each answer (JSON.parse, or a Float32Array view); the server is startApi in a process of its own holding only the API and the model, as on a device (http-server.ts; the raw runtime is timed in that process too); per body and round, ${ctx.roundMs} ms of warm-up then ${ctx.roundMs * 2} ms timed, first with ${conns} (a high-throughput client: the server has the next request waiting while it answers one), then with one connection and one request at a time (a round trip per request); the raw runtime is timed for ${ctx.roundMs / 2} ms before each of these four runs and the round's raw figure is the mean time per call; each body's answers were checked against the raw runtime's outputs for the same rows (within one int8 output step, same labels) before timing`,
      `issue 13's targets (compact >= 0.7x, JSON >= 0.5x of raw rows/s) are judged on the ${CONNECTIONS}-connection figures: the issue asks what a high-throughput client gets; the one-at-a-time figures add the client's own work and two process wake-ups per request to every request, and are shown beside them`,
      `rows per CPU-second: the API process's CPU time (all its threads) over the timed window of the ${CONNECTIONS}-connection run, per row served, against the CPU time of the bare runtime call; on a busy machine wall-clock rows/s of a two-process setup swing with the scheduler, CPU time per row much less`,
    ],
    details: { batch: fig, connections: CONNECTIONS },
  };
}

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

/** Requests/s of a client in its own process (http-client.ts) posting `bodyFile` for `ms`. */
function requestsPerRound(port: number, bodyFile: string, contentType: string, width: number, ms: number): Promise<number> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLIENT, String(port), bodyFile, contentType, String(width), String(ms)], { timeout: 120_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`the HTTP client failed: ${stderr.trim() || err.message}`));
      else resolve((JSON.parse(stdout) as { requestsPerSecond: number }).requestsPerSecond);
    });
  });
}

export async function measureHttpBatch(ctx: BenchContext, dm: DeviceModel): Promise<{ table: Table; ratios: Ratio[]; notes: string[]; details: Record<string, unknown> }> {
  const width = dm.trained.spec.features.length;
  const { batch } = benchInputs(dm.trained, BATCH);
  const rows = Array.from({ length: BATCH }, (_, k) => dm.rawRows[k % dm.rawRows.length]!);
  const jsonBody = Buffer.from(JSON.stringify({ rows }));
  const compactBody = Buffer.from(Float32Array.from(rows.flat()).buffer);
  const fig = { raw: [] as number[], json: [] as number[], compact: [] as number[] };
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
        const compact = BATCH * (await requestsPerRound(port, files.compact, 'application/octet-stream', width, ctx.roundMs * 2));
        const json = BATCH * (await requestsPerRound(port, files.json, 'application/json', width, ctx.roundMs * 2));
        if (round < 0) continue;
        fig.raw.push(raw);
        fig.compact.push(compact);
        fig.json.push(json);
        ctx.progress(`  http batch round ${round + 1}/${ctx.rounds}: raw ${Math.round(raw)} rows/s, compact ${Math.round(compact)}, JSON ${Math.round(json)}`);
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
      ],
      rows: [
        { path: `POST /v1/predict, compact body (float32 in and out), ${BATCH} rows`, rows: summarize(fig.compact) },
        { path: `POST /v1/predict, JSON body {"rows": [...]}, ${BATCH} rows`, rows: summarize(fig.json) },
        { path: `raw runtime: ModelRuntime.predict, batch ${BATCH} (preprocessed)`, rows: summarize(fig.raw) },
      ],
    },
    ratios: [
      pairedRatio(`HTTP compact body rows/s vs raw runtime rows/s, batch ${BATCH}`, { label: 'compact rows/s', values: fig.compact }, { label: 'raw rows/s', values: fig.raw }, COMPACT_TARGET),
      pairedRatio(`HTTP JSON body rows/s vs raw runtime rows/s, batch ${BATCH}`, { label: 'JSON rows/s', values: fig.json }, { label: 'raw rows/s', values: fig.raw }, JSON_TARGET),
    ],
    notes: [
      `batch ${BATCH}: one client in its own process (as an application on the device), one keep-alive connection, one request at a time, parsing each answer (JSON.parse, or a Float32Array view); the server is startApi in the bench process; ${ctx.roundMs * 2} ms per body per round; each body's answers were checked against the raw runtime's outputs for the same rows (within one int8 output step, same labels) before timing`,
    ],
    details: { batch: fig },
  };
}

/**
 * Local HTTP predict (issue 7): one row per POST /v1/predict to the agent's API (startApi, as
 * the agent starts it: batching and process metrics on) over a keep-alive connection, timed
 * from the client's first byte out to its parsed answer, against the raw runtime call on the
 * same rows in the same round.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'mqtt';
import { Predictor, Reporter, startApi } from '@edgeml/agent';
import { silentLogger } from '@edgeml/core';
import { createTfliteRuntime } from '@edgeml/tflite';
import { deviceModel, RUNTIME_LABEL } from '../device.js';
import { measureHttpBatch } from './http-batch.js';
import { benchInputs } from '../rounds.js';
import type { BenchContext, Section, SectionResult, Table } from '../section.js';
import { pairedDifference, pairedRatio, quantile, summarize, timeRound, type Target } from '../stats.js';

const OVERHEAD_TARGET: Target = { op: '<=', value: 0.3, source: 'issue 7' };

/** One request on a keep-alive connection; resolves with the parsed body. */
function post(agent: Agent, port: number, body: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request(
      { agent, host: '127.0.0.1', port, method: 'POST', path: '/v1/predict', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) reject(new Error(`POST /v1/predict answered ${res.statusCode}: ${text}`));
          else resolve(JSON.parse(text));
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Sequential requests for `ms`; per-request latencies in ms. */
async function httpRound(agent: Agent, port: number, bodies: string[], ms: number, warmup: number): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await post(agent, port, bodies[i % bodies.length]!);
  const times: number[] = [];
  const end = performance.now() + ms;
  for (let i = 0; performance.now() < end || times.length < 50; i++) {
    const t0 = performance.now();
    await post(agent, port, bodies[i % bodies.length]!);
    times.push(performance.now() - t0);
  }
  return times;
}

export const httpSection: Section = {
  name: 'http',
  title: 'Local HTTP predict vs the raw runtime (digits CNN, int8 TFLite)',
  async run(ctx: BenchContext): Promise<SectionResult> {
    const dm = await deviceModel(ctx);
    const { rows } = benchInputs(dm.trained, 1);
    const bodies = dm.rawRows.map((row) => JSON.stringify({ row }));
    const fig = { rawP50: [] as number[], httpP50: [] as number[], httpP99: [] as number[], httpMean: [] as number[], perSec: [] as number[] };
    // The same path with the agent's telemetry reporter observing: counts kept in memory between
    // snapshots (no journal), and with every request group journaled before its answer.
    const tel = { memoryP50: [] as number[], memoryP99: [] as number[], journalP50: [] as number[], journalP99: [] as number[] };
    // A real client that never connects: telemetry records stay in the outbox.
    const offline = connect('mqtt://127.0.0.1:9', { manualConnect: true });
    const withReporter = async (runtime: Awaited<ReturnType<typeof createTfliteRuntime>>, journal: boolean) => {
      const dataDir = await mkdtemp(join(tmpdir(), 'edgeml-bench-tel-'));
      const p = new Predictor();
      p.swap({ release: dm.release, runtime });
      const reporter = await Reporter.start({ deviceId: 'bench', model: dm.release.model, dataDir, predictor: p, client: offline, log: silentLogger, periodMs: 600_000, maxQueued: 1000, journal });
      const api = await startApi({ host: '127.0.0.1', port: 0, predictor: p, log: silentLogger, health: () => ({ status: 'ok' }) });
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const times = await httpRound(agent, Number(new URL(api.url).port), bodies, ctx.roundMs, 200);
        const sorted = [...times].sort((a, b) => a - b);
        return { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99) };
      } finally {
        agent.destroy();
        await api.close();
        await reporter.stop(0);
        await rm(dataDir, { recursive: true, force: true });
      }
    };

    ctx.progress(`measuring POST /v1/predict (one row) against the raw runtime (${RUNTIME_LABEL})`);
    for (let round = -1; round < ctx.rounds; round++) {
      // A fresh server, model and connection each round, as the other sections open runtimes.
      const runtime = await createTfliteRuntime(dm.artifact);
      const predictor = new Predictor();
      predictor.swap({ release: dm.release, runtime });
      const api = await startApi({ host: '127.0.0.1', port: 0, predictor, log: silentLogger, health: () => ({ status: 'ok' }) });
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const port = Number(new URL(api.url).port);
        // Alternate which goes first, so drift on a shared machine hits both alike.
        const timeRaw = () => timeRound((i) => runtime.predict(rows[i % rows.length]!, 1), { minTimeMs: ctx.roundMs, perCall: true });
        const first = round % 2 === 0 ? timeRaw() : undefined;
        const times = await httpRound(agent, port, bodies, ctx.roundMs, 200);
        const raw = first ?? timeRaw();
        // Alternate the two telemetry paths too.
        const journaled = round % 2 === 0 ? await withReporter(runtime, true) : undefined;
        const memory = await withReporter(runtime, false);
        const journal = journaled ?? (await withReporter(runtime, true));
        if (round < 0) continue;
        tel.memoryP50.push(memory.p50);
        tel.memoryP99.push(memory.p99);
        tel.journalP50.push(journal.p50);
        tel.journalP99.push(journal.p99);
        const sorted = [...times].sort((a, b) => a - b);
        fig.rawP50.push(raw.callP50Ms!);
        fig.httpP50.push(quantile(sorted, 0.5));
        fig.httpP99.push(quantile(sorted, 0.99));
        const mean = times.reduce((s, t) => s + t, 0) / times.length;
        fig.httpMean.push(mean);
        fig.perSec.push(1000 / mean);
        ctx.progress(`  http round ${round + 1}/${ctx.rounds}: HTTP p50 ${fig.httpP50.at(-1)!.toFixed(4)} ms, raw p50 ${raw.callP50Ms!.toFixed(4)} ms`);
      } finally {
        agent.destroy();
        await api.close();
        predictor.swap(null);
        runtime.dispose();
      }
    }

    const batched = await measureHttpBatch(ctx, dm);

    const table: Table = {
      title: `one row per call; median (p25-p75) of ${ctx.rounds} rounds`,
      columns: [
        { key: 'path', header: 'path' },
        { key: 'p50', header: 'p50 ms', digits: 4 },
        { key: 'p99', header: 'p99 ms', digits: 4 },
        { key: 'perSec', header: 'calls/s (one client)', digits: 0 },
      ],
      rows: [
        { path: 'POST /v1/predict (keep-alive, node:http client)', p50: summarize(fig.httpP50), p99: summarize(fig.httpP99), perSec: summarize(fig.perSec) },
        { path: 'POST /v1/predict, telemetry counted in memory (snapshots only)', p50: summarize(tel.memoryP50), p99: summarize(tel.memoryP99), perSec: '' },
        { path: 'POST /v1/predict, telemetry journaled before each answer', p50: summarize(tel.journalP50), p99: summarize(tel.journalP99), perSec: '' },
        { path: 'raw runtime: ModelRuntime.predict', p50: summarize(fig.rawP50), p99: '', perSec: '' },
      ],
    };
    offline.removeAllListeners();
    return {
      tables: [table, batched.table],
      ratios: [
        ...batched.ratios,
        pairedDifference('HTTP predict p50 above the raw runtime call p50', { label: 'HTTP p50', values: fig.httpP50 }, { label: 'raw runtime p50', values: fig.rawP50 }, 'ms', OVERHEAD_TARGET),
        pairedRatio('HTTP predict p50 vs raw runtime p50', { label: 'HTTP p50', values: fig.httpP50 }, { label: 'raw runtime p50', values: fig.rawP50 }),
        pairedDifference('telemetry journal: p50 added per request', { label: 'journaled p50', values: tel.journalP50 }, { label: 'in-memory p50', values: tel.memoryP50 }, 'ms'),
        pairedRatio('telemetry journal: p50 journaled vs in memory', { label: 'journaled p50', values: tel.journalP50 }, { label: 'in-memory p50', values: tel.memoryP50 }),
      ],
      notes: [
        `model: the digits CNN as int8 TFLite, ${RUNTIME_LABEL}; each request carries one raw test row ({"row": [64 numbers]}) and gets one prediction with probabilities and an id`,
        'server: startApi as the agent runs it (adaptive batching and process metrics on, no token) on 127.0.0.1; client: node:http with a keep-alive Agent (one socket), one request at a time, in the same process as the server, so the client\'s own work (serialising, parsing the answer) is inside the figure: an upper bound on what the API adds',
        'telemetry rows: the agent\'s Reporter observes the predictor (window statistics, feedback memory), its MQTT client never connected; "in memory" saves the window every 5 s only (a kill loses up to 5 s of counts), "journaled" appends one record per event-loop pass before the answer (no fsync)',
        `each round starts a fresh server and connection, runs 200 unrecorded requests, then times requests for ${ctx.roundMs} ms; the raw figure is the runtime's per-call p50 in the same round; one unrecorded warm-up round`,
        ...batched.notes,
      ],
      details: { rounds: fig, ...batched.details },
    };
  },
};

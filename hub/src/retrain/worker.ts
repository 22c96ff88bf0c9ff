/**
 * The retraining worker: a process of its own, so a run's memory and CPU end with it and the
 * hub can kill it at its time limit. Trains through the release pipeline, then scores the
 * candidate and the production version in the device runtime on the base test split and the
 * feedback holdout, and writes the result next to the job. Exits 1 with the reason on stderr.
 */
import { readFile, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeOutputs, applyPreprocessing, measureRuntime, outputsToTargets, tfjsWasmLoader, type ModelRuntime, type RuntimeLoader, type RuntimeRegistry } from '@edgeml/ml';
import type { ArtifactFormat, ModelSpec } from '@edgeml/core';
import { runPipeline, trainingOptions } from '../release/pipeline.js';
import { JobSchema, RESULT_FILE, type Job, type Scores, type WorkerResult } from './job.js';

const tflite: RuntimeLoader = async (artifact) => (await import('@edgeml/tflite')).loadTfliteRuntime(artifact);

/** The runtimes the agent serves with: figures measured here are the device's. */
const deviceRuntimes = (): RuntimeRegistry => ({
  'tfjs-layers': tfjsWasmLoader('tfjs-layers'),
  'tfjs-uint8': tfjsWasmLoader('tfjs-uint8'),
  'tfjs-float16': tfjsWasmLoader('tfjs-float16'),
  'tflite-int8': tflite,
  'tflite-float32': tflite,
});

type Rows = Job['holdout'];

/** Accuracy or R^2 of `runtime` on `rows` (given in `order`, mapped to the spec's feature order). */
function score(runtime: ModelRuntime, spec: ModelSpec, order: readonly string[], rows: Rows): number | null {
  if (rows.length === 0) return null;
  const f = spec.features.length;
  const index = spec.features.map((name) => order.indexOf(name));
  const raw = new Float32Array(rows.length * f);
  rows.forEach((r, i) => index.forEach((k, j) => (raw[i * f + j] = k >= 0 ? (r.row[k] ?? 0) : 0)));
  const out = runtime.predict(applyPreprocessing(spec.preprocessing, raw), rows.length);
  if (spec.task === 'classification') {
    const predicted = decodeOutputs(spec, out, rows.length);
    return predicted.filter((p, i) => 'label' in p && p.label === rows[i]!.label).length / rows.length;
  }
  const y = outputsToTargets(spec, out, rows.length);
  const truth = rows.map((r) => Number(r.label));
  const mean = truth.reduce((a, b) => a + b, 0) / truth.length;
  const ssTot = truth.reduce((a, t) => a + (t - mean) ** 2, 0);
  const ssRes = truth.reduce((a, t, i) => a + (t - y[i]!) ** 2, 0);
  return ssTot === 0 ? (ssRes === 0 ? 1 : 0) : 1 - ssRes / ssTot;
}

async function scoresOf(format: ArtifactFormat, artifact: Uint8Array, spec: ModelSpec, order: readonly string[], job: Job): Promise<{ scores: Scores; runtime: ModelRuntime }> {
  const runtime = await deviceRuntimes()[format]!(artifact);
  return { scores: { baseTest: score(runtime, spec, order, job.baseTest), holdout: score(runtime, spec, order, job.holdout) }, runtime };
}

/** The hub's pid, given by the hub: by the time this module runs, the hub may be gone already. */
const hub = Number(process.argv[3]);

/** Signal 0 tests that the process exists; `process.ppid` is read once at start, so it cannot tell. */
function hubAlive(): boolean {
  if (!Number.isInteger(hub) || hub <= 0) return true;
  try {
    process.kill(hub, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Training hands control back only through promise jobs, so the IPC channel's close is not
 * seen while it runs: each epoch asks directly whether the hub that started the run is alive.
 */
function endIfOrphaned(): void {
  if (hubAlive()) return;
  process.stderr.write('the hub that started this run is gone; stopping\n');
  process.exit(2);
}

async function run(job: Job): Promise<WorkerResult> {
  const c = await runPipeline({
    onEpoch: endIfOrphaned,
    data: job.trainCsv,
    ...trainingOptions(job),
    runtimes: deviceRuntimes(),
  });
  const spec = c.training.spec;
  // The rows come in the base data's order, which is the order the candidate was trained in.
  const order = spec.features;
  const challenger = await scoresOf(c.format, c.artifact, spec, order, job);
  let latency;
  try {
    const f = spec.features.length;
    const rows = applyPreprocessing(spec.preprocessing, c.splits.test.x.subarray(0, Math.min(c.splits.test.n, 64) * f));
    latency = measureRuntime(challenger.runtime, rows, { runs: job.latencyRuns, warmup: 50, batchRounds: 3 });
  } finally {
    challenger.runtime.dispose();
  }
  let champion: Scores | null = null;
  if (job.champion) {
    const ch = await scoresOf(job.champion.format, await readFile(job.champion.artifactFile), job.champion.spec, order, job);
    ch.runtime.dispose();
    champion = ch.scores;
  }
  const m = c.evaluation.metrics;
  const artifactFile = join(job.outDir, 'candidate.bin');
  await writeFile(artifactFile, c.artifact);
  return {
    artifactFile,
    format: c.format,
    runtime: c.runtime,
    task: c.report.task,
    spec,
    selfTest: c.selfTest,
    reference: c.driftReference,
    figures: c.figures,
    metrics: { ...c.figures, evaluation: m },
    measured: {
      ...(m.task === 'classification' ? { accuracy: m.accuracy, macroF1: m.macroF1 } : { rmse: m.rmse, r2: m.r2 }),
      p50Ms: latency.p50Ms,
      p95Ms: latency.p95Ms,
      p99Ms: latency.p99Ms,
      throughput: latency.throughput,
      sizeBytes: c.artifact.length,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
    },
    challenger: challenger.scores,
    champion,
    trainRows: c.splits.train.n + c.splits.validation.n + c.splits.test.n,
  };
}

async function main(): Promise<void> {
  const dir = process.argv[2];
  if (!dir) throw new Error('usage: worker <run dir>');
  const job = JobSchema.parse(JSON.parse(await readFile(join(dir, 'job.json'), 'utf8')));
  const result = await run(job);
  // Written whole or not at all: a kill mid-write must not leave a result the hub would read.
  const tmp = join(dir, `${RESULT_FILE}.tmp`);
  await writeFile(tmp, JSON.stringify(result));
  await rename(tmp, join(dir, RESULT_FILE));
}

// A hub killed mid-run cannot take the result: stop rather than train for no one.
process.on('disconnect', () => process.exit(2));
endIfOrphaned();

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);

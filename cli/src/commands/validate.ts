/**
 * `edgeml validate`: accuracy on a labelled CSV and latency, throughput, size and memory
 * measured in the device runtime, checked against gates. A failed gate exits 1 naming the gate
 * and both numbers; `--json` reports every figure and every verdict.
 */
import { access, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { checkFailed, userError, type ModelSpec } from '@edgeml/core';
import { evaluateGates, Registry, ArtifactStore, type GateLimits, type GateVerdict, type Measured } from '@edgeml/hub';
import { disagreement, disagreementRule, metricWarnings, evaluateOnFile, evaluateRuntime, readModelDir, MODEL_FILES, type Dataset, type Evaluation, type Metrics, type ModelRuntime } from '@edgeml/ml';
import { formatRecall } from '../output/metrics.js';
import { formatTable } from '../output/table.js';
import { deviceRuntimes } from '../runtimes.js';
import { printJson } from './options.js';
import { probeInChild } from './probe.js';

export interface ValidateFlags extends ValidateLimits {
  model: string;
  data: string;
  target?: string;
  hubDir?: string;
  modelName?: string;
  runs: number;
  json?: boolean;
}

async function loadRuntime(format: string, artifact: Uint8Array): Promise<ModelRuntime> {
  const loader = deviceRuntimes()[format as keyof ReturnType<typeof deviceRuntimes>];
  if (!loader) throw userError('unknown-format', `no runtime for artifact format ${format}`);
  return loader(artifact);
}

const headline = (m: Metrics) => (m.task === 'classification' ? m.accuracy : m.r2);

/** Evaluate the version now in production (newest published) on the same file. */
async function production(hubDir: string, name: string, data: string): Promise<{ version: number; figure: number } | undefined> {
  const file = resolve(hubDir, 'registry.sqlite');
  await access(file).catch(() => {
    throw userError('no-registry', `no hub registry at ${file}`);
  });
  const registry = new Registry(file);
  try {
    const rec = registry.latestPublished().find((v) => v.model === name);
    if (!rec) return undefined;
    const artifact = await new ArtifactStore(resolve(hubDir, 'artifacts')).get(rec.sha256);
    const runtime = await loadRuntime(rec.format, artifact);
    try {
      const ev = await evaluateOnFile(runtime, rec.envelope.signed.spec, data);
      return { version: rec.version, figure: headline(ev.metrics) };
    } finally {
      runtime.dispose();
    }
  } finally {
    registry.close();
  }
}

export const GATE_KEYS = ['minAccuracy', 'minMacroF1', 'maxRmse', 'minR2', 'maxDrop', 'maxP50Ms', 'maxP95Ms', 'maxP99Ms', 'minThroughput', 'maxSizeKb', 'maxMemoryMb', 'maxInt8Disagreement'] as const;

/** The hub's gates plus the ones only a model directory can answer. */
export type ValidateLimits = GateLimits & { maxInt8Disagreement?: number };

export interface GateReport {
  format: string;
  runtime: string;
  measured: Measured;
  metrics: Metrics;
  loadMs: number;
  gates: GateVerdict[];
  pass: boolean;
  /** Against the float model the quantized one was made from, on the same data (when it is kept). */
  quantization?: { disagreement: number; rule: string };
}

/**
 * Accuracy on `data` and device-runtime figures of a model directory, judged against `limits`.
 * `productionFigure` is the production version's accuracy (R^2 for regression) on the same data.
 */
export async function measureAgainstGates(dir: string, data: string, limits: ValidateLimits, runs: number, productionFigure?: number): Promise<GateReport> {
  const { meta, artifact } = await readModelDir(dir);
  const runtime = await loadRuntime(meta.format, artifact);
  let evaluation: Awaited<ReturnType<typeof evaluateOnFile>>;
  try {
    evaluation = await evaluateOnFile(runtime, meta.spec, data);
  } finally {
    runtime.dispose();
  }
  const metrics: Metrics = evaluation.metrics;
  const quantization = await againstFloat(dir, meta.spec, evaluation);
  const probe = await probeInChild(dir, runs);
  const measured: Measured = {
    ...(metrics.task === 'classification' ? { accuracy: metrics.accuracy, macroF1: metrics.macroF1 } : { rmse: metrics.rmse, r2: metrics.r2 }),
    ...(productionFigure !== undefined ? { drop: productionFigure - headline(metrics) } : {}),
    p50Ms: probe.p50Ms,
    p95Ms: probe.p95Ms,
    p99Ms: probe.p99Ms,
    throughput: probe.throughput,
    sizeBytes: artifact.length,
    peakRssBytes: probe.peakRssBytes,
  };
  const { maxInt8Disagreement, ...hubLimits } = limits;
  const gates = evaluateGates(hubLimits, measured);
  if (maxInt8Disagreement !== undefined) {
    if (!quantization) throw userError('bad-usage', `${dir} keeps no float model to compare with (${MODEL_FILES.floatReference}); --max-int8-disagreement needs a directory written by edgeml quantize or release`);
    const pass = quantization.disagreement <= maxInt8Disagreement;
    gates.push({ gate: 'maxInt8Disagreement', limit: maxInt8Disagreement, measured: quantization.disagreement, pass, message: `maxInt8Disagreement: measured ${Number(quantization.disagreement.toPrecision(4))} (${quantization.rule}), maximum ${maxInt8Disagreement}${pass ? '' : ' (failed)'}` });
  }
  return { format: meta.format, runtime: probe.runtime, measured, metrics, loadMs: probe.loadMs, gates, pass: gates.every((g) => g.pass), ...(quantization ? { quantization } : {}) };
}

/** Share of rows whose answer the quantized model changed, against the float original kept beside it. */
async function againstFloat(dir: string, spec: ModelSpec, quantized: Evaluation & { dataset: Dataset }): Promise<GateReport['quantization']> {
  let reference: Uint8Array;
  try {
    reference = await readFile(join(dir, MODEL_FILES.floatReference));
  } catch {
    return undefined;
  }
  const runtime = await loadRuntime('tfjs-layers', reference);
  try {
    const float = evaluateRuntime(runtime, spec, quantized.dataset);
    return { disagreement: disagreement(spec, float, quantized), rule: disagreementRule(spec) };
  } finally {
    runtime.dispose();
  }
}

export function printGateReport(r: GateReport): void {
  const figures = Object.entries(r.measured).map(([k, v]) => [k, typeof v === 'number' ? Number(v.toPrecision(5)) : String(v)]);
  if (r.quantization) figures.push(['int8Disagreement', Number(r.quantization.disagreement.toPrecision(5))]);
  process.stdout.write(`${formatTable(['figure', 'value'], figures)}\n\n`);
  if (r.gates.length) process.stdout.write(`${formatTable(['gate', 'result'], r.gates.map((v) => [v.gate, v.pass ? `pass  ${v.message}` : `FAIL  ${v.message}`]))}\n`);
}

export async function validate(o: ValidateFlags): Promise<void> {
  const dir = resolve(o.model);
  const { meta } = await readModelDir(dir);
  if (o.target !== undefined && o.target !== meta.spec.target) {
    throw userError('bad-usage', `--target ${o.target} is not the model's target column "${meta.spec.target}"`);
  }
  const prod = o.hubDir ? await production(o.hubDir, o.modelName ?? 'default', resolve(o.data)) : undefined;
  const limits: ValidateLimits = Object.fromEntries(GATE_KEYS.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
  const report = await measureAgainstGates(dir, resolve(o.data), limits, o.runs, prod?.figure);
  const warnings = metricWarnings(report.metrics);
  if (o.json) printJson({ model: dir, ...report, production: prod ?? null, warnings });
  else {
    printGateReport(report);
    const recall = formatRecall(report.metrics);
    if (recall) process.stdout.write(`${recall}\n`);
  }
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
  const failed = report.gates.filter((v) => !v.pass);
  if (failed.length) throw checkFailed('gate-failed', failed.map((v) => v.message).join('; '));
}

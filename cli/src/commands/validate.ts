/**
 * `edgeml validate`: accuracy on a labelled CSV and latency, throughput, size and memory
 * measured in the device runtime, checked against gates. A failed gate exits 1 naming the gate
 * and both numbers; `--json` reports every figure and every verdict.
 */
import { access } from 'node:fs/promises';
import { resolve } from 'node:path';
import { checkFailed, userError } from '@edgeml/core';
import { evaluateGates, Registry, ArtifactStore, type GateLimits, type GateVerdict, type Measured } from '@edgeml/hub';
import { evaluateOnFile, readModelDir, type Metrics, type ModelRuntime } from '@edgeml/ml';
import { formatTable } from '../output/table.js';
import { deviceRuntimes } from '../runtimes.js';
import { printJson } from './options.js';
import { probeInChild } from './probe.js';

export interface ValidateFlags extends GateLimits {
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

export const GATE_KEYS = ['minAccuracy', 'minMacroF1', 'maxRmse', 'minR2', 'maxDrop', 'maxP50Ms', 'maxP95Ms', 'maxP99Ms', 'minThroughput', 'maxSizeKb', 'maxMemoryMb'] as const;

export interface GateReport {
  format: string;
  runtime: string;
  measured: Measured;
  metrics: Metrics;
  loadMs: number;
  gates: GateVerdict[];
  pass: boolean;
}

/**
 * Accuracy on `data` and device-runtime figures of a model directory, judged against `limits`.
 * `productionFigure` is the production version's accuracy (R^2 for regression) on the same data.
 */
export async function measureAgainstGates(dir: string, data: string, limits: GateLimits, runs: number, productionFigure?: number): Promise<GateReport> {
  const { meta, artifact } = await readModelDir(dir);
  const runtime = await loadRuntime(meta.format, artifact);
  let metrics: Metrics;
  try {
    metrics = (await evaluateOnFile(runtime, meta.spec, data)).metrics;
  } finally {
    runtime.dispose();
  }
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
  const gates = evaluateGates(limits, measured);
  return { format: meta.format, runtime: probe.runtime, measured, metrics, loadMs: probe.loadMs, gates, pass: gates.every((g) => g.pass) };
}

export function printGateReport(r: GateReport): void {
  const figures = Object.entries(r.measured).map(([k, v]) => [k, typeof v === 'number' ? Number(v.toPrecision(5)) : String(v)]);
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
  const limits: GateLimits = Object.fromEntries(GATE_KEYS.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
  const report = await measureAgainstGates(dir, resolve(o.data), limits, o.runs, prod?.figure);
  if (o.json) printJson({ model: dir, ...report, production: prod ?? null });
  else printGateReport(report);
  const failed = report.gates.filter((v) => !v.pass);
  if (failed.length) throw checkFailed('gate-failed', failed.map((v) => v.message).join('; '));
}

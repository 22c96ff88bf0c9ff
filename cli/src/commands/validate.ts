/**
 * `edgeml validate`: accuracy on a labelled CSV and latency, throughput, size and memory
 * measured in the device runtime, checked against gates. A failed gate exits 1 naming the gate
 * and both numbers; `--json` reports every figure and every verdict.
 */
import { access } from 'node:fs/promises';
import { resolve } from 'node:path';
import { checkFailed, userError } from '@edgeml/core';
import { evaluateGates, Registry, ArtifactStore, type GateLimits, type Measured } from '@edgeml/hub';
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

export async function validate(o: ValidateFlags): Promise<void> {
  const dir = resolve(o.model);
  const { meta, artifact } = await readModelDir(dir);
  if (o.target !== undefined && o.target !== meta.spec.target) {
    throw userError('bad-usage', `--target ${o.target} is not the model's target column "${meta.spec.target}"`);
  }
  const runtime = await loadRuntime(meta.format, artifact);
  let metrics: Metrics;
  try {
    metrics = (await evaluateOnFile(runtime, meta.spec, resolve(o.data))).metrics;
  } finally {
    runtime.dispose();
  }
  const probe = await probeInChild(dir, o.runs);
  const prod = o.hubDir ? await production(o.hubDir, o.modelName ?? 'default', resolve(o.data)) : undefined;
  const measured: Measured = {
    ...(metrics.task === 'classification' ? { accuracy: metrics.accuracy, macroF1: metrics.macroF1 } : { rmse: metrics.rmse, r2: metrics.r2 }),
    ...(prod ? { drop: prod.figure - headline(metrics) } : {}),
    p50Ms: probe.p50Ms,
    p95Ms: probe.p95Ms,
    p99Ms: probe.p99Ms,
    throughput: probe.throughput,
    sizeBytes: artifact.length,
    peakRssBytes: probe.peakRssBytes,
  };
  const limits: GateLimits = Object.fromEntries(
    (['minAccuracy', 'minMacroF1', 'maxRmse', 'minR2', 'maxDrop', 'maxP50Ms', 'maxP95Ms', 'maxP99Ms', 'minThroughput', 'maxSizeKb', 'maxMemoryMb'] as const)
      .filter((k) => o[k] !== undefined)
      .map((k) => [k, o[k]]),
  );
  const verdicts = evaluateGates(limits, measured);
  const failed = verdicts.filter((v) => !v.pass);
  if (o.json) {
    printJson({ model: dir, format: meta.format, runtime: probe.runtime, measured, metrics, loadMs: probe.loadMs, production: prod ?? null, gates: verdicts, pass: failed.length === 0 });
  } else {
    const figures = Object.entries(measured).map(([k, v]) => [k, typeof v === 'number' ? Number(v.toPrecision(5)) : String(v)]);
    process.stdout.write(`${formatTable(['figure', 'value'], figures)}\n\n`);
    if (verdicts.length) process.stdout.write(`${formatTable(['gate', 'result'], verdicts.map((v) => [v.gate, v.pass ? `pass  ${v.message}` : `FAIL  ${v.message}`]))}\n`);
  }
  if (failed.length) throw checkFailed('gate-failed', failed.map((v) => v.message).join('; '));
}

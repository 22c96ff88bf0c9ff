/**
 * Latency and memory of a model measured in a fresh process that does nothing but load the
 * artifact in the device runtime and run it: the figures a device would see, not those of a
 * process that also holds training data and a second backend.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { checkFailed, userError } from '@edgeml/core';
import { applyPreprocessing, measureRuntime, readDatasetFor, readModelDir, MODEL_FILES, type LatencyFigures } from '@edgeml/ml';
import { cliBin } from '../paths.js';
import { deviceRuntimes } from '../runtimes.js';

export interface ProbeResult extends LatencyFigures {
  runtime: string;
  loadMs: number;
  peakRssBytes: number;
}

/** The hidden `edgeml probe-runtime` command: prints one JSON ProbeResult. */
export async function probeRuntime(o: { model: string; runs: number }): Promise<void> {
  const { meta, artifact } = await readModelDir(o.model);
  const loader = deviceRuntimes()[meta.format];
  if (!loader) throw userError('unknown-format', `no runtime for format ${meta.format}`);
  const t0 = performance.now();
  const runtime = await loader(artifact);
  const loadMs = performance.now() - t0;
  const sample = await readDatasetFor(meta.spec, join(o.model, MODEL_FILES.calibration));
  const figures = measureRuntime(runtime, applyPreprocessing(meta.spec.preprocessing, sample.x), { runs: o.runs });
  const result: ProbeResult = { runtime: runtime.info.runtime, loadMs, ...figures, peakRssBytes: process.resourceUsage().maxRSS * 1024 };
  process.stdout.write(JSON.stringify(result) + '\n');
}

export async function probeInChild(modelDir: string, runs = 2000): Promise<ProbeResult> {
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [cliBin(), 'probe-runtime', '--model', modelDir, '--runs', String(runs)], { maxBuffer: 1 << 20 });
    return JSON.parse(stdout) as ProbeResult;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw checkFailed('probe-failed', `measuring the model in the device runtime failed: ${(err.stderr ?? err.message).trim().split('\n').pop()}`);
  }
}

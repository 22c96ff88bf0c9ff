/**
 * `edgeml batch`: offline batch inference on the device. Ctrl-C (or SIGTERM) stops at the next
 * batch with a checkpoint; the same command with --resume carries on from there.
 */
import { availableParallelism } from 'node:os';
import { formatBatchSummary, runBatch, startBatchWorkers, type BatchModel, type BatchSummary, type BatchWorkers, type DataFormat } from '@edgeml/agent';
import { batchProgress } from '../output/batch-progress.js';
import { loadDeviceModel } from './device-model.js';
import { printJson } from './options.js';

interface BatchCommandOptions {
  in: string;
  out: string;
  agentDir?: string;
  model?: string;
  onError: 'fail' | 'skip';
  batchSize: number;
  workers?: number;
  resume?: boolean;
  inFormat?: DataFormat;
  outFormat?: DataFormat;
  json?: boolean;
  checkpointRows?: number;
  checkpointMs?: number;
}

export async function batch(o: BatchCommandOptions): Promise<void> {
  const count = o.workers ?? availableParallelism();
  // Worker threads load the runtimes from this CLI's own registry module.
  const runtimes = { module: new URL('../runtimes.js', import.meta.url).href, export: 'deviceRuntimes' };
  // The workers load their interpreters while this thread loads its own to check the model;
  // a bad count is left for runBatch to refuse.
  let started: BatchWorkers | undefined;
  let model: BatchModel;
  try {
    model = await loadDeviceModel(o, undefined, (artifact) => {
      if (Number.isInteger(count) && count >= 1) started = startBatchWorkers(count, runtimes, artifact);
    });
  } catch (e) {
    await started?.close();
    throw e;
  }
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const progress = batchProgress(`${model.name} ${typeof model.version === 'number' ? `v${model.version}` : model.version}`);
  let summary: BatchSummary;
  try {
    summary = await runBatch({
      input: o.in,
      output: o.out,
      model,
      onError: o.onError,
      batchSize: o.batchSize,
      workers: { count, runtimes, ...(started ? { started } : {}) },
      signal: stop.signal,
      onProgress: progress.update,
      ...(o.resume ? { resume: true } : {}),
      ...(o.inFormat ? { inputFormat: o.inFormat } : {}),
      ...(o.outFormat ? { outputFormat: o.outFormat } : {}),
      ...(o.checkpointRows ? { checkpointRows: o.checkpointRows } : {}),
      ...(o.checkpointMs !== undefined ? { checkpointMs: o.checkpointMs } : {}),
    });
  } finally {
    progress.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    model.runtime.dispose();
  }
  if (o.json) printJson(summary);
  else process.stdout.write(formatBatchSummary(summary));
  if (summary.interrupted) {
    if (!o.json) process.stderr.write(`edgeml: interrupted after ${summary.records} rows; run the same command with --resume to continue\n`);
    process.exitCode = 130;
  }
}

/**
 * `edgeml batch`: offline batch inference on the device. Ctrl-C (or SIGTERM) stops at the next
 * batch with a checkpoint; the same command with --resume carries on from there.
 */
import { availableParallelism } from 'node:os';
import { formatBatchSummary, runBatchCommand, type DataFormat } from '@edgeml/agent';
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
  const summary = await runBatchCommand({
    load: (onArtifact) => loadDeviceModel(o, undefined, onArtifact),
    workers: o.workers ?? availableParallelism(),
    // Worker threads load the runtimes from this CLI's own registry module.
    runtimes: { module: new URL('../runtimes.js', import.meta.url).href, export: 'deviceRuntimes' },
    run: {
      input: o.in,
      output: o.out,
      onError: o.onError,
      batchSize: o.batchSize,
      ...(o.resume ? { resume: true } : {}),
      ...(o.inFormat ? { inputFormat: o.inFormat } : {}),
      ...(o.outFormat ? { outputFormat: o.outFormat } : {}),
      ...(o.checkpointRows ? { checkpointRows: o.checkpointRows } : {}),
      ...(o.checkpointMs !== undefined ? { checkpointMs: o.checkpointMs } : {}),
    },
    progress: (model) => batchProgress(`${model.name} ${typeof model.version === 'number' ? `v${model.version}` : model.version}`),
  });
  if (o.json) printJson(summary);
  else process.stdout.write(formatBatchSummary(summary));
  if (summary.interrupted) {
    if (!o.json) process.stderr.write(`edgeml: interrupted after ${summary.records} rows; run the same command with --resume to continue\n`);
    process.exitCode = 130;
  }
}

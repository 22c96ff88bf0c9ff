/**
 * What `edgeml batch` and `edgeml-agent batch` share once their flags are parsed: the worker
 * threads start on the model's artifact while this thread loads the model to check it (so the
 * loads run side by side), Ctrl-C or SIGTERM stops the run at a checkpoint, and the model is
 * released at the end. The commands differ only in where the model comes from, where workers
 * find the runtimes, and how progress and the summary are shown.
 */
import type { ArtifactFormat } from '@edgeml/core';
import type { RuntimeSource } from './parallel-wire.js';
import type { BatchWorkers } from './pool.js';
import { runBatch, startBatchWorkers, type BatchModel, type BatchOptions, type BatchSummary } from './runner.js';

export interface BatchCommand {
  /** Load the model; `onArtifact` gets its checked artifact before this thread loads it. */
  load(onArtifact: (artifact: { bytes: Uint8Array; format: ArtifactFormat }) => void): Promise<BatchModel>;
  workers: number;
  runtimes: RuntimeSource;
  /** Everything else runBatch takes. */
  run: Omit<BatchOptions, 'model' | 'workers' | 'signal' | 'onProgress'>;
  /** A progress display for the loaded model, stopped when the run ends. */
  progress?: (model: BatchModel) => { update: NonNullable<BatchOptions['onProgress']>; stop(): void };
}

export async function runBatchCommand(c: BatchCommand): Promise<BatchSummary> {
  let started: BatchWorkers | undefined;
  let model: BatchModel;
  try {
    model = await c.load((artifact) => {
      // A bad count is left for runBatch to refuse, with its own message.
      if (Number.isInteger(c.workers) && c.workers >= 1) started = startBatchWorkers(c.workers, c.runtimes, artifact);
    });
  } catch (e) {
    await started?.close();
    throw e;
  }
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const progress = c.progress?.(model);
  try {
    return await runBatch({
      ...c.run,
      model,
      workers: { count: c.workers, runtimes: c.runtimes, ...(started ? { started } : {}) },
      signal: stop.signal,
      ...(progress ? { onProgress: progress.update } : {}),
    });
  } finally {
    progress?.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    model.runtime.dispose();
  }
}

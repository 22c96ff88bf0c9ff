import { resolve } from 'node:path';
import { runPipeline } from '@edgeml/hub';
import { CALIBRATION_MAX_ROWS, calibrationSample, metricWarnings, useTrainingBackend, writeModelDir } from '@edgeml/ml';
import { formatRecall, splitRows } from '../output/metrics.js';
import { formatDataReport } from '../output/data-report.js';
import { trainingProgress } from '../output/progress.js';
import { deviceRuntimes } from '../runtimes.js';
import { parseArch, parseShape, parseTask, printJson } from './options.js';

export interface TrainFlags {
  data: string;
  target: string;
  out: string;
  task?: string;
  arch: string;
  inputShape?: string;
  baseModel?: string;
  seed: number;
  json?: boolean;
}

export async function train(o: TrainFlags): Promise<void> {
  const task = parseTask(o.task);
  const arch = parseArch(o.arch);
  const inputShape = parseShape(o.inputShape);
  const backend = await useTrainingBackend();
  process.stderr.write(`tfjs backend for training: ${backend}${backend === 'tensorflow' ? '' : ' (install @tensorflow/tfjs-node for native speed)'}\n`);
  const progress = trainingProgress();
  const c = await runPipeline({
    data: resolve(o.data),
    target: o.target,
    arch,
    seed: o.seed,
    runtimes: deviceRuntimes(),
    onEpoch: progress.onEpoch,
    ...(task ? { task } : {}),
    ...(inputShape ? { inputShape } : {}),
    ...(o.baseModel ? { baseModel: resolve(o.baseModel) } : {}),
  }).finally(progress.stop);
  const calibration = calibrationSample(c.splits.train, CALIBRATION_MAX_ROWS, c.splits.seed);
  const rows = splitRows(c.splits);
  const warnings = [...c.report.warnings, ...metricWarnings(c.evaluation.metrics)];
  const meta = await writeModelDir(resolve(o.out), {
    artifact: c.artifact,
    test: c.splits.test,
    calibration: calibration.dataset,
    meta: {
      format: c.format,
      runtime: c.runtime,
      spec: c.training.spec,
      figures: c.figures,
      metrics: c.evaluation.metrics,
      training: { arch: o.baseModel ? `user model ${o.baseModel}` : arch, seed: o.seed, epochs: c.training.history.length, bestEpoch: c.training.bestEpoch, backend: c.training.backend, durationMs: c.training.durationMs, calibration: calibration.rule, rows },
      data: c.report,
    },
  });
  if (o.json) {
    printJson({ out: resolve(o.out), ...meta, rows, metrics: c.evaluation.metrics, warnings });
    return;
  }
  // Many columns (digits has 64 pixels) make a long table: it is in the model directory too.
  process.stdout.write(c.report.columns.length <= 32 ? `${formatDataReport(c.report)}\n\n` : `data ${c.report.file}: ${c.report.rows} rows, ${c.report.columns.length} columns (report in ${resolve(o.out, 'edgeml-model.json')})\n`);
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
  const recall = formatRecall(c.evaluation.metrics);
  const figures = Object.entries(c.figures)
    .map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(4)}`)
    .join(', ');
  process.stdout.write(
    `trained ${o.baseModel ? 'your model' : arch} (${c.report.task}) on ${rows.train} train rows, stopped by ${rows.validation} validation rows at best epoch ${c.training.bestEpoch} of ${c.training.history.length}; ${rows.test} test rows held out (${c.report.rows} in the data)\n` +
      `test split, ${rows.test} rows (${c.runtime}): ${figures}\n${recall ? `${recall}\n` : ''}wrote ${resolve(o.out)} (${meta.sizeBytes} bytes, sha256 ${meta.sha256.slice(0, 12)})\n`,
  );
}

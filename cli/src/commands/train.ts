import { resolve } from 'node:path';
import { userError } from '@edgeml/core';
import { runPipeline, type Candidate } from '@edgeml/hub';
import { CALIBRATION_MAX_ROWS, calibrationSample, metricWarnings, useTrainingBackend, writeModelDir } from '@edgeml/ml';
import { formatRecall, splitRows } from '../output/metrics.js';
import { formatDataReport } from '../output/data-report.js';
import { trainingProgress } from '../output/progress.js';
import { deviceRuntimes } from '../runtimes.js';
import { parseArch, parseShape, parseTask, printJson } from './options.js';
import { parsePrepare, type PrepareFlags } from './train-prepare.js';
import { formatSearchReport, runSearch, searchConfigFrom, SEARCH_REPORT_FILE, type SearchResult } from './train-search.js';

export interface TrainFlags extends PrepareFlags {
  data: string;
  target: string;
  out: string;
  task?: string;
  arch: string;
  inputShape?: string;
  baseModel?: string;
  seed: number;
  /** `--search [grid|file]`: true when given without a value. */
  search?: string | true;
  maxP95Ms?: number;
  maxSizeKb?: number;
  maxMemoryMb?: number;
  json?: boolean;
}

export async function train(o: TrainFlags): Promise<void> {
  const task = parseTask(o.task);
  const arch = parseArch(o.arch);
  const inputShape = parseShape(o.inputShape);
  if (o.search === undefined && (o.maxP95Ms ?? o.maxSizeKb ?? o.maxMemoryMb) !== undefined) {
    throw userError('bad-usage', '--max-p95-ms, --max-size-kb and --max-memory-mb are search budgets: add --search (edgeml validate gates a single model)');
  }
  if (o.search !== undefined && o.baseModel) throw userError('bad-usage', '--search trains its own candidates; it cannot start from --base-model');
  const prepare = parsePrepare(o);
  const backend = await useTrainingBackend();
  process.stderr.write(`tfjs backend for training: ${backend}${backend === 'tensorflow' ? '' : ' (install @tensorflow/tfjs-node for native speed)'}\n`);
  let c: Candidate;
  let search: SearchResult | undefined;
  if (o.search !== undefined) {
    search = await runSearch({
      data: resolve(o.data),
      target: o.target,
      seed: o.seed,
      // The release format: each candidate is judged as the device would run it.
      format: 'tflite-int8',
      config: await searchConfigFrom(o.search, arch),
      fallback: arch,
      budgets: {
        ...(o.maxP95Ms !== undefined ? { maxP95Ms: o.maxP95Ms } : {}),
        ...(o.maxSizeKb !== undefined ? { maxSizeKb: o.maxSizeKb } : {}),
        ...(o.maxMemoryMb !== undefined ? { maxMemoryMb: o.maxMemoryMb } : {}),
      },
      out: resolve(o.out),
      ...(task ? { task } : {}),
      ...(inputShape ? { inputShape } : {}),
      ...(prepare ? { prepare } : {}),
    });
    c = search.chosen;
  } else {
    const progress = trainingProgress();
    c = await runPipeline({
      data: resolve(o.data),
      target: o.target,
      arch,
      seed: o.seed,
      runtimes: deviceRuntimes(),
      onEpoch: progress.onEpoch,
      ...(task ? { task } : {}),
      ...(inputShape ? { inputShape } : {}),
      ...(prepare ? { prepare } : {}),
      ...(o.baseModel ? { baseModel: resolve(o.baseModel) } : {}),
    }).finally(progress.stop);
  }
  const calibration = calibrationSample(c.splits.train, CALIBRATION_MAX_ROWS, c.splits.seed);
  const rows = splitRows(c.splits);
  const warnings = [...c.report.warnings, ...metricWarnings(c.evaluation.metrics)];
  const trained = search ? `candidate ${search.report.chosen}` : o.baseModel ? 'your model' : arch;
  const meta = await writeModelDir(resolve(o.out), {
    artifact: c.artifact,
    test: c.splits.test,
    calibration: calibration.dataset,
    ...(c.artifact !== c.floatArtifact ? { floatReference: c.floatArtifact } : {}),
    meta: {
      format: c.format,
      runtime: c.runtime,
      spec: c.training.spec,
      figures: c.figures,
      metrics: c.evaluation.metrics,
      training: {
        arch: o.baseModel ? `user model ${o.baseModel}` : search ? search.report.chosen : arch,
        seed: o.seed,
        epochs: c.training.history.length,
        bestEpoch: c.training.bestEpoch,
        backend: c.training.backend,
        durationMs: c.training.durationMs,
        calibration: calibration.rule,
        rows,
        ...(search ? { search: { chosen: search.report.chosen, candidates: search.report.candidates.length, report: SEARCH_REPORT_FILE } } : {}),
      },
      data: c.report,
    },
  });
  if (o.json) {
    printJson({ out: resolve(o.out), ...meta, rows, metrics: c.evaluation.metrics, warnings, ...(search ? { search: search.report } : {}) });
    return;
  }
  // Many columns (digits has 64 pixels) make a long table: it is in the model directory too.
  process.stdout.write(c.report.columns.length <= 32 ? `${formatDataReport(c.report)}\n\n` : `data ${c.report.file}: ${c.report.rows} rows, ${c.report.columns.length} columns (report in ${resolve(o.out, 'edgeml-model.json')})\n${(c.report.encoding ?? []).map((l) => `${l}\n`).join('')}`);
  if (search) process.stdout.write(`${formatSearchReport(search.report)}\n\n`);
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
  const recall = formatRecall(c.evaluation.metrics);
  const figures = Object.entries(c.figures)
    .map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(4)}`)
    .join(', ');
  process.stdout.write(
    `trained ${trained} (${c.report.task}) on ${rows.train} train rows, stopped by ${rows.validation} validation rows at best epoch ${c.training.bestEpoch} of ${c.training.history.length}; ${rows.test} test rows held out (${c.report.rows} in the data)\n` +
      `test split, ${rows.test} rows (${c.runtime}): ${figures}\n${recall ? `${recall}\n` : ''}wrote ${resolve(o.out)} (${meta.sizeBytes} bytes, sha256 ${meta.sha256.slice(0, 12)})\n`,
  );
}

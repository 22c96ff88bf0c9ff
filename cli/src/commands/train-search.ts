/**
 * Candidate search for `edgeml train --search` and a release config's `search` field: the
 * config it names, each candidate measured in a fresh device-runtime process (as `edgeml
 * validate` measures), the report written as JSON beside the model and shown as a table.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { checkFailed, readJsonFile, writeFileAtomic, type ArtifactFormat, type Task } from '@edgeml/core';
import { runSearchPipeline, type Candidate, type DeviceFigures } from '@edgeml/hub';
import {
  CALIBRATION_MAX_ROWS,
  GRID_NAMES,
  SearchConfigSchema,
  calibrationSample,
  searchCandidates,
  writeModelDir,
  type Architecture,
  type GridName,
  type PrepareOptions,
  type SearchBudgets,
  type SearchConfig,
  type SearchReport,
} from '@edgeml/ml';
import { formatTable } from '../output/table.js';
import { deviceRuntimes } from '../runtimes.js';
import { probeInChild } from './probe.js';

export const SEARCH_REPORT_FILE = 'search-report.json';

/** `--search` alone: the grid of --arch; `--search mlp|cnn`: that grid; anything else: a JSON file. */
export async function searchConfigFrom(value: string | true, arch: Architecture): Promise<SearchConfig> {
  if (value === true) return SearchConfigSchema.parse({ grid: arch });
  if ((GRID_NAMES as readonly string[]).includes(value)) return SearchConfigSchema.parse({ grid: value as GridName });
  return readJsonFile(resolve(value), SearchConfigSchema, 'search config');
}

/** Latency and peak memory of a candidate, from a throw-away model directory probed in a child process. */
function measureInFreshProcess(runs: number): (c: Candidate) => Promise<DeviceFigures> {
  return async (c) => {
    const dir = await mkdtemp(join(tmpdir(), 'edgeml-search-'));
    try {
      await writeModelDir(dir, {
        artifact: c.artifact,
        test: c.splits.test,
        calibration: calibrationSample(c.splits.train, CALIBRATION_MAX_ROWS, c.splits.seed).dataset,
        meta: { format: c.format, runtime: c.runtime, spec: c.training.spec, figures: c.figures, metrics: c.evaluation.metrics, training: {}, data: null },
      });
      const probe = await probeInChild(dir, runs);
      return { p95Ms: probe.p95Ms, peakRssBytes: probe.peakRssBytes };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
}

export interface SearchRun {
  data: string;
  target: string;
  task?: Task;
  inputShape?: number[];
  seed: number;
  format: ArtifactFormat;
  config: SearchConfig;
  /** The grid when the config names none. */
  fallback: GridName;
  /** Flags over the config's budgets. */
  budgets?: SearchBudgets;
  /** Text columns and gaps (train-prepare.ts), as in a single training. */
  prepare?: PrepareOptions;
  /** Where the report goes (created if missing). */
  out: string;
}

export interface SearchResult {
  chosen: Candidate;
  report: SearchReport & { wallMs: number };
}

/**
 * Runs the search and writes its report to `out`; when no candidate meets every budget the
 * report is still written and the run fails naming what each candidate broke.
 */
export async function runSearch(r: SearchRun): Promise<SearchResult> {
  const started = Date.now();
  const candidates = searchCandidates(r.config, r.fallback);
  const budgets = { ...r.config.budgets, ...r.budgets };
  const outcome = await runSearchPipeline({
    data: r.data,
    target: r.target,
    seed: r.seed,
    format: r.format,
    runtimes: deviceRuntimes(),
    candidates,
    budgets,
    measure: measureInFreshProcess(r.config.runs),
    onCandidate: (name, i, n) => process.stderr.write(`search [${i + 1}/${n}] ${name}\n`),
    ...(r.task ? { task: r.task } : {}),
    ...(r.inputShape ? { inputShape: r.inputShape } : {}),
    ...(r.prepare ? { prepare: r.prepare } : {}),
  });
  const report = { ...outcome.report, wallMs: Date.now() - started };
  await writeFileAtomic(join(r.out, SEARCH_REPORT_FILE), JSON.stringify(report, null, 2) + '\n');
  if (!outcome.chosen) {
    const why = report.candidates.map((c) => `${c.name}: ${c.broken.map((b) => `${b.budget} ${Number(b.measured.toPrecision(3))} > ${b.limit}`).join(', ')}`);
    throw checkFailed('search-over-budget', `no candidate meets every budget (${why.join('; ')}); report in ${join(r.out, SEARCH_REPORT_FILE)}`);
  }
  return { chosen: outcome.chosen, report };
}

const fixed = (v: number, digits: number) => (Number.isFinite(v) ? v.toFixed(digits) : '-');

/** The report as an aligned table: one row per candidate, the chosen one marked. */
export function formatSearchReport(report: SearchReport & { wallMs: number }): string {
  const metric = report.metric === 'accuracy' ? 'acc' : 'R^2';
  const table = formatTable(
    ['', 'candidate', `val ${metric}`, `test ${metric}`, 'p95 ms', 'size KiB', 'mem MiB', 'params', 'epochs', 'train s', 'pareto', 'over budget'],
    report.candidates.map((c) => [
      c.name === report.chosen ? '*' : '',
      c.name,
      fixed(c.score, 4),
      fixed(c.testScore, 4),
      fixed(c.p95Ms, 4),
      fixed(c.sizeBytes / 1024, 1),
      fixed(c.peakRssBytes / 2 ** 20, 0),
      c.params,
      c.epochs,
      fixed(c.trainMs / 1000, 1),
      [c.pareto.p95 ? 'p95' : '', c.pareto.size ? 'size' : ''].filter(Boolean).join(',') || '-',
      c.broken.map((b) => `${b.budget} ${Number(b.measured.toPrecision(3))} > ${b.limit}`).join(', ') || '-',
    ]),
  );
  const budgets = Object.entries(report.budgets).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  return `${table}\nbudgets: ${budgets}; chosen: ${report.chosen ?? 'none'} (${report.rule}); search took ${(report.wallMs / 1000).toFixed(1)} s`;
}

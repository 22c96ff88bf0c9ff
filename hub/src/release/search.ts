/**
 * The training step of a release when it searches: each candidate is trained with the run's
 * seed, packaged in the release format and evaluated in the device runtime like a single
 * model, then measured by the caller (in a fresh process, as `edgeml validate` measures), and
 * judged against the budgets. The chosen candidate is the release's model; nothing is trained
 * twice.
 */
import {
  candidateName,
  candidateTrainOptions,
  headlineFigures,
  judgeCandidates,
  trainModel,
  type CandidateFigures,
  type SearchBudgets,
  type SearchCandidate,
  type SearchReport,
} from '@edgeml/ml';
import { evaluateWith, finishCandidate, prepareData, type Candidate, type PipelineOptions } from './pipeline.js';

export interface DeviceFigures {
  p95Ms: number;
  peakRssBytes: number;
}

export interface SearchOptions extends Omit<PipelineOptions, 'arch' | 'baseModel'> {
  candidates: SearchCandidate[];
  budgets: SearchBudgets;
  /** Latency and memory of a packaged candidate in the device runtime. */
  measure(c: Candidate): Promise<DeviceFigures>;
  onCandidate?(name: string, index: number, total: number): void;
}

export interface SearchOutcome {
  report: SearchReport;
  /** The chosen candidate; absent when none meets every budget. */
  chosen?: Candidate;
}

const headline = (figures: Record<string, number>): number => figures.accuracy ?? figures.r2 ?? NaN;

export async function runSearchPipeline(opts: SearchOptions): Promise<SearchOutcome> {
  const data = await prepareData(opts);
  const format = opts.format ?? 'tfjs-layers';
  const built = new Map<string, Candidate>();
  const figures: CandidateFigures[] = [];
  for (const [i, candidate] of opts.candidates.entries()) {
    const name = candidateName(candidate);
    opts.onCandidate?.(name, i, opts.candidates.length);
    const training = await trainModel(data.splits, {
      ...candidateTrainOptions(candidate),
      // One seed for every candidate: a candidate's model does not depend on its place in the grid.
      seed: opts.seed ?? 42,
      // An image shape is for convolutions; an mlp reads the same values as a flat row.
      ...(data.inputShape && candidate.arch === 'cnn' ? { inputShape: data.inputShape } : {}),
      ...(opts.onEpoch ? { onEpoch: opts.onEpoch } : {}),
    });
    const params = training.model.countParams();
    const c = await finishCandidate(data, training, { ...opts, format });
    const validation = await evaluateWith(opts.runtimes, format, c.artifact, c.training.spec, data.splits.validation);
    const device = await opts.measure(c);
    built.set(name, c);
    figures.push({
      name,
      candidate,
      score: headline(headlineFigures(validation.metrics)),
      testScore: headline(c.figures),
      sizeBytes: c.artifact.length,
      p95Ms: device.p95Ms,
      peakRssBytes: device.peakRssBytes,
      params,
      epochs: training.history.length,
      trainMs: training.durationMs,
    });
  }
  const report = judgeCandidates(figures, opts.budgets, data.report.task === 'classification' ? 'accuracy' : 'r2');
  const chosen = report.chosen === null ? undefined : built.get(report.chosen);
  return { report, ...(chosen ? { chosen } : {}) };
}

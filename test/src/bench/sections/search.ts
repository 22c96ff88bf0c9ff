/**
 * Candidate search (issue 14): `edgeml train --search` over six digits candidates (three mlp,
 * three cnn) in a child process, as a user runs it, with its wall time. The search runs
 * without budgets so every candidate is measured; the p95 budget is then chosen from those
 * figures (the geometric mean of the smallest and the largest candidate's p95), and the
 * search's own selection rule is applied to the same figures: the section fails unless it
 * picks a candidate within that budget while the largest candidate breaks it.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { judgeCandidates, type SearchCandidate, type SearchReport } from '@edgeml/ml';
import { cliBin, repoRoot } from '../device.js';
import type { BenchContext, Section, SectionResult, Table } from '../section.js';
import type { Ratio } from '../stats.js';

/** An epoch cap keeps the section to a few minutes on a loaded machine; early stopping still applies. */
const EPOCHS = 30;
const CANDIDATES: SearchCandidate[] = [
  { arch: 'mlp', hidden: [16], epochs: EPOCHS },
  { arch: 'mlp', hidden: [64, 32], epochs: EPOCHS },
  { arch: 'mlp', hidden: [256, 128, 64], epochs: EPOCHS },
  { arch: 'cnn', filters: [4], dense: 16, epochs: EPOCHS },
  { arch: 'cnn', filters: [8, 16], dense: 32, epochs: EPOCHS },
  { arch: 'cnn', filters: [32, 64], dense: 128, epochs: EPOCHS },
];

export const searchSection: Section = {
  name: 'search',
  title: 'Candidate search: six digits candidates, int8 TFLite, measured in the device runtime',
  async run(ctx: BenchContext): Promise<SectionResult> {
    const dir = await mkdtemp(join(tmpdir(), 'edgeml-bench-search-'));
    try {
      const grid = join(dir, 'grid.json');
      await writeFile(grid, JSON.stringify({ candidates: CANDIDATES, runs: 2000 }));
      ctx.progress(`edgeml train --search over ${CANDIDATES.length} digits candidates (at most ${EPOCHS} epochs each)`);
      const t0 = performance.now();
      const { stdout } = await promisify(execFile)(
        process.execPath,
        [cliBin, 'train', '--data', join(repoRoot, 'data/digits.csv'), '--target', 'digit', '--input-shape', '8x8x1', '--seed', String(ctx.fixtures.seed), '--search', grid, '--out', join(dir, 'model'), '--json'],
        { maxBuffer: 64 << 20 },
      );
      const wallS = (performance.now() - t0) / 1000;
      const report = (JSON.parse(stdout) as { search: SearchReport & { wallMs: number } }).search;

      const bySize = [...report.candidates].sort((a, b) => a.sizeBytes - b.sizeBytes);
      const smallest = bySize[0]!;
      const largest = bySize[bySize.length - 1]!;
      const budget = Math.sqrt(smallest.p95Ms * largest.p95Ms);
      const judged = judgeCandidates(report.candidates, { maxP95Ms: budget }, report.metric);
      const chosen = judged.candidates.find((c) => c.name === judged.chosen);
      const largestBroke = judged.candidates.find((c) => c.name === largest.name)!.broken.some((b) => b.budget === 'maxP95Ms');
      if (!chosen || !largestBroke) {
        throw new Error(`the search did not pick a model within a p95 budget the largest candidate breaks: budget ${budget.toFixed(4)} ms, largest ${largest.name} p95 ${largest.p95Ms.toFixed(4)} ms, chosen ${judged.chosen ?? 'none'}`);
      }

      const table: Table = {
        title: `candidates (validation accuracy chooses; test accuracy reported), p95 budget ${budget.toFixed(4)} ms`,
        columns: [
          { key: 'mark', header: '' },
          { key: 'name', header: 'candidate' },
          { key: 'score', header: 'val acc', digits: 4 },
          { key: 'testScore', header: 'test acc', digits: 4 },
          { key: 'p95Ms', header: 'p95 ms', digits: 4 },
          { key: 'sizeKb', header: 'size KiB', digits: 1 },
          { key: 'memMb', header: 'mem MiB', digits: 0 },
          { key: 'epochs', header: 'epochs', digits: 0 },
          { key: 'trainS', header: 'train s', digits: 1 },
          { key: 'broken', header: 'over budget' },
        ],
        rows: judged.candidates.map((c) => ({
          mark: c.name === judged.chosen ? '*' : '',
          name: c.name,
          score: c.score,
          testScore: c.testScore,
          p95Ms: c.p95Ms,
          sizeKb: c.sizeBytes / 1024,
          memMb: c.peakRssBytes / 2 ** 20,
          epochs: c.epochs,
          trainS: c.trainMs / 1000,
          broken: c.broken.map((b) => `${b.budget} ${b.measured.toFixed(4)}`).join(', ') || '-',
        })),
      };
      const wall: Ratio = { name: 'search wall time', value: wallS, rounds: { median: wallS, p25: wallS, p75: wallS, min: wallS, max: wallS, n: 1 }, numerator: 'edgeml train --search, spawn to exit', denominator: '', kind: 'value', unit: 's' };
      return {
        tables: [table],
        ratios: [wall],
        notes: [
          `wall time ${wallS.toFixed(1)} s for ${CANDIDATES.length} candidates (each trained with seed ${ctx.fixtures.seed} on the wasm backend, at most ${EPOCHS} epochs, exported to int8 TFLite, evaluated, and probed in a fresh process for 2000 single-row runs)`,
          `p95 budget ${budget.toFixed(4)} ms = geometric mean of the smallest candidate's p95 (${smallest.name}, ${smallest.p95Ms.toFixed(4)} ms) and the largest's (${largest.name}, ${largest.p95Ms.toFixed(4)} ms), both measured in this run; the search's rule applied to this run's figures chose ${judged.chosen} (val acc ${chosen.score.toFixed(4)}, p95 ${chosen.p95Ms.toFixed(4)} ms)`,
          `Pareto front, accuracy vs p95: ${judged.pareto.p95.join(', ')}; accuracy vs size: ${judged.pareto.size.join(', ')}`,
          'latency is measured on a shared machine: a candidate within noise of the budget can fall on either side between runs; accuracy and size are seeded and exact',
        ],
        details: { wallS, budgetMs: budget, chosen: judged.chosen, report: judged },
      };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
};

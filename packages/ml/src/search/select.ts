/**
 * How a search chooses: every candidate is judged against each device budget; among those that
 * meet all of them the highest validation score wins, ties going to the smaller artifact (then
 * fewer parameters, then grid order, so the choice never depends on anything but the figures).
 * The Pareto fronts show what each extra point of accuracy costs in latency and in size.
 */
import type { SearchBudgets, SearchCandidate } from './candidates.js';

export interface CandidateFigures {
  name: string;
  candidate: SearchCandidate;
  /**
   * Accuracy (classification) or R^2 (regression) on the validation split, of the artifact as it
   * ships, in the device runtime. The choice uses this, never the test split: a test figure that
   * picked the model would overstate how well it does.
   */
  score: number;
  /** The same figure on the test split: reported, not used to choose. */
  testScore: number;
  sizeBytes: number;
  p95Ms: number;
  peakRssBytes: number;
  params: number;
  epochs: number;
  trainMs: number;
}

export type BudgetName = keyof SearchBudgets;

export interface BrokenBudget {
  budget: BudgetName;
  limit: number;
  measured: number;
}

export interface CandidateVerdict extends CandidateFigures {
  broken: BrokenBudget[];
  /** On the accuracy-vs-p95 and accuracy-vs-size Pareto fronts. */
  pareto: { p95: boolean; size: boolean };
}

export interface SearchReport {
  metric: 'accuracy' | 'r2';
  budgets: SearchBudgets;
  rule: string;
  candidates: CandidateVerdict[];
  /** The chosen candidate's name; null when none meets every budget. */
  chosen: string | null;
  pareto: { p95: string[]; size: string[] };
}

export const SELECTION_RULE =
  'highest validation score among candidates within every budget (p95, size, memory); ties to the smaller artifact, then fewer parameters, then grid order';

const FIGURE: Record<BudgetName, (c: CandidateFigures) => number> = {
  maxP95Ms: (c) => c.p95Ms,
  maxSizeKb: (c) => c.sizeBytes / 1024,
  maxMemoryMb: (c) => c.peakRssBytes / (1024 * 1024),
};

export function brokenBudgets(c: CandidateFigures, budgets: SearchBudgets): BrokenBudget[] {
  const out: BrokenBudget[] = [];
  for (const budget of Object.keys(FIGURE) as BudgetName[]) {
    const limit = budgets[budget];
    const measured = FIGURE[budget](c);
    if (limit !== undefined && measured > limit) out.push({ budget, limit, measured });
  }
  return out;
}

/** Names of the candidates no other beats on score without being worse on `cost`. */
export function paretoFront(all: CandidateFigures[], cost: (c: CandidateFigures) => number): string[] {
  return all
    .filter((c) => !all.some((d) => d !== c && d.score >= c.score && cost(d) <= cost(c) && (d.score > c.score || cost(d) < cost(c))))
    .sort((a, b) => cost(a) - cost(b))
    .map((c) => c.name);
}

/** Better first: score, then size, then parameters; grid order breaks what is left. */
function better(a: CandidateFigures, b: CandidateFigures): number {
  return b.score - a.score || a.sizeBytes - b.sizeBytes || a.params - b.params;
}

export function judgeCandidates(all: CandidateFigures[], budgets: SearchBudgets, metric: SearchReport['metric']): SearchReport {
  const p95 = paretoFront(all, (c) => c.p95Ms);
  const size = paretoFront(all, (c) => c.sizeBytes);
  const candidates = all.map((c) => ({ ...c, broken: brokenBudgets(c, budgets), pareto: { p95: p95.includes(c.name), size: size.includes(c.name) } }));
  // Array.prototype.sort is stable, so equal candidates keep grid order.
  const eligible = candidates.filter((c) => c.broken.length === 0).sort(better);
  return { metric, budgets, rule: SELECTION_RULE, candidates, chosen: eligible[0]?.name ?? null, pareto: { p95, size } };
}

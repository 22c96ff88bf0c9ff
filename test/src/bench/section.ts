/**
 * The contract between the harness and its sections. A section measures one question (tfjs
 * runtimes, TFLite int8 vs float, agent overhead, HTTP, batch, onnxruntime peer, fleet) and
 * returns tables of figures; main.ts runs, prints and records them without knowing what they
 * measure, so adding a section is one module plus one line in the list.
 */
import type { Ratio, Summary } from './stats.js';
import type { Fixtures } from './fixtures.js';

/** A table cell: a summarised measurement, a plain number or a label. */
export type Cell = Summary | number | string;

export interface Column {
  key: string;
  header: string;
  /** Decimal places for numbers and summaries; default 3. */
  digits?: number;
}

export interface Table {
  title: string;
  columns: Column[];
  rows: Record<string, Cell>[];
}

export interface SectionResult {
  tables: Table[];
  ratios: Ratio[];
  /** What a reader needs to interpret the figures: model, data, method, caveats. */
  notes: string[];
  /** Anything else worth keeping in the JSON (raw per-round figures, accuracies). */
  details?: Record<string, unknown>;
}

export interface BenchContext {
  /** Rounds per measurement; each ratio pairs figures from the same round. */
  rounds: number;
  /** Time budget of one timed round, in ms. */
  roundMs: number;
  /** Trained models and data shared by sections, built on first use. */
  fixtures: Fixtures;
  /** Progress for the person waiting; goes to stderr so stdout stays the report. */
  progress(line: string): void;
}

export interface Section {
  /** Short id used on the command line: `npm run bench -- runtimes`. */
  name: string;
  title: string;
  run(ctx: BenchContext): Promise<SectionResult>;
}

export function isSummary(cell: Cell): cell is Summary {
  return typeof cell === 'object' && 'median' in cell;
}

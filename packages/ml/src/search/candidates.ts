/**
 * What a candidate search tries: the candidates (architecture, widths, depth, learning rate),
 * the device budgets the chosen one must meet, and the small default grids. Parsed with zod at
 * the boundary (a release config or a `--search FILE`); a bad entry is one clear error naming it.
 */
import { z } from 'zod';
import { userError } from '@edgeml/core';
import type { TrainOptions } from '../train/train.js';

const units = z.number().int().min(1).max(4096);

export const SearchCandidateSchema = z
  .object({
    /** A label for the report; derived from the other fields when absent. */
    name: z.string().min(1).max(64).optional(),
    arch: z.enum(['mlp', 'cnn']),
    /** mlp: units per hidden layer; the array's length is the depth. */
    hidden: z.array(units).min(1).max(8).optional(),
    /** cnn: filters per conv + pool block. */
    filters: z.array(z.number().int().min(1).max(512)).min(1).max(6).optional(),
    /** cnn: units of the dense layer after the conv blocks. */
    dense: units.optional(),
    learningRate: z.number().positive().max(1).optional(),
    epochs: z.number().int().min(1).max(1000).optional(),
  })
  .strict()
  .refine((c) => c.arch === 'cnn' || (c.filters === undefined && c.dense === undefined), { message: 'filters and dense are cnn settings; an mlp takes hidden' })
  .refine((c) => c.arch === 'mlp' || c.hidden === undefined, { message: 'hidden is an mlp setting; a cnn takes filters and dense' });
export type SearchCandidate = z.infer<typeof SearchCandidateSchema>;

/** Device budgets, in the units of the validate gates of the same names. */
export const SearchBudgetsSchema = z
  .object({
    maxP95Ms: z.number().positive().optional(),
    maxSizeKb: z.number().positive().optional(),
    maxMemoryMb: z.number().positive().optional(),
  })
  .strict();
export type SearchBudgets = z.infer<typeof SearchBudgetsSchema>;

export const GRID_NAMES = ['mlp', 'cnn'] as const;
export type GridName = (typeof GRID_NAMES)[number];

export const SearchConfigSchema = z
  .object({
    /** A default grid by name; `candidates` replaces it. */
    grid: z.enum(GRID_NAMES).optional(),
    candidates: z.array(SearchCandidateSchema).min(1).max(64).optional(),
    budgets: SearchBudgetsSchema.default({}),
    /** Timed single-row runs per candidate in the device runtime. */
    runs: z.number().int().min(50).max(100_000).default(1000),
  })
  .strict()
  .refine((c) => c.grid === undefined || c.candidates === undefined, { message: 'name a grid or list candidates, not both' });
export type SearchConfig = z.infer<typeof SearchConfigSchema>;

/**
 * Small on purpose: each candidate is trained, quantized and measured in full. Widths and
 * depths bracket the built-in default (mlp [64, 32], cnn [8, 16] + 32) in both directions, and
 * one learning rate variant shows whether the default rate is the limit.
 */
export const DEFAULT_GRIDS: Record<GridName, SearchCandidate[]> = {
  mlp: [
    { arch: 'mlp', hidden: [16] },
    { arch: 'mlp', hidden: [32] },
    { arch: 'mlp', hidden: [64, 32] },
    { arch: 'mlp', hidden: [64, 32], learningRate: 0.01 },
    { arch: 'mlp', hidden: [128, 64] },
    { arch: 'mlp', hidden: [256, 128, 64] },
  ],
  cnn: [
    { arch: 'cnn', filters: [4], dense: 16 },
    { arch: 'cnn', filters: [4, 8], dense: 16 },
    { arch: 'cnn', filters: [8, 16], dense: 32 },
    { arch: 'cnn', filters: [8, 16], dense: 32, learningRate: 0.01 },
    { arch: 'cnn', filters: [16, 32], dense: 64 },
    { arch: 'cnn', filters: [32, 64], dense: 128 },
  ],
};

/** `mlp 64-32 lr0.01`, `cnn 8-16/32`: short enough for a table column. */
export function candidateName(c: SearchCandidate): string {
  if (c.name) return c.name;
  const shape = c.arch === 'mlp' ? (c.hidden ?? [64, 32]).join('-') : `${(c.filters ?? [8, 16]).join('-')}/${c.dense ?? 32}`;
  return `${c.arch} ${shape}${c.learningRate !== undefined ? ` lr${c.learningRate}` : ''}${c.epochs !== undefined ? ` e${c.epochs}` : ''}`;
}

/** The candidates a config names: its list, its grid, or the grid for `fallback`. */
export function searchCandidates(config: Pick<SearchConfig, 'grid' | 'candidates'>, fallback: GridName): SearchCandidate[] {
  const list = config.candidates ?? DEFAULT_GRIDS[config.grid ?? fallback];
  const names = list.map(candidateName);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  // The report and the choice refer to candidates by name: two with one name would be ambiguous.
  if (dup) throw userError('bad-search', `two candidates are named "${dup}"; give one of them a name`);
  return list;
}

/** The training options of one candidate; everything else (seed, shape) comes from the run. */
export function candidateTrainOptions(c: SearchCandidate): Pick<TrainOptions, 'arch' | 'hidden' | 'filters' | 'dense' | 'learningRate' | 'epochs'> {
  return {
    arch: c.arch,
    ...(c.hidden ? { hidden: c.hidden } : {}),
    ...(c.filters ? { filters: c.filters } : {}),
    ...(c.dense ? { dense: c.dense } : {}),
    ...(c.learningRate !== undefined ? { learningRate: c.learningRate } : {}),
    ...(c.epochs !== undefined ? { epochs: c.epochs } : {}),
  };
}

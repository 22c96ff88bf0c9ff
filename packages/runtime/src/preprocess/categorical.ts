/**
 * Category vocabularies fitted on the training split: which categories a column keeps and in
 * what order. The order never depends on row order, so one seed (one split) gives one encoding.
 */
import { MAX_CATEGORIES, userError, type ColumnSpec } from '@edgeml/core';

export type CategoricalEncoding = 'one-hot' | 'ordinal';

/** One-hot keeps this many categories by default; the rest share the "other" feature. */
export const DEFAULT_MAX_CATEGORIES = 20;

const byCodePoint = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Distinct values, most frequent first; equal counts in code-point order. */
export function rankCategories(values: readonly string[]): string[] {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || byCodePoint(a[0], b[0])).map(([k]) => k);
}

/**
 * A text column's encoding. `train`: its training-split values (gaps already filled).
 * One-hot keeps the top `maxCategories` by training frequency. Ordinal codes the training
 * categories by frequency, then those seen only outside the training split (`seen`) in
 * code-point order: a category in the test rows must have a code for the hub to score them.
 */
export function fitCategorical(name: string, train: readonly string[], encoding: CategoricalEncoding, maxCategories: number, seen: Iterable<string> = []): Extract<ColumnSpec, { kind: 'one-hot' | 'ordinal' }> {
  const ranked = rankCategories(train);
  if (encoding === 'one-hot') {
    if (ranked.length === 0) throw userError('no-categories', `column "${name}" has no values in the training split`);
    return { name, kind: 'one-hot', categories: ranked.slice(0, Math.min(maxCategories, MAX_CATEGORIES)) };
  }
  const known = new Set(ranked);
  const rest = [...new Set(seen)].filter((k) => !known.has(k)).sort(byCodePoint);
  const categories = [...ranked, ...rest];
  if (categories.length === 0) throw userError('no-categories', `column "${name}" has no values in the training split`);
  if (categories.length > MAX_CATEGORIES) {
    throw userError('too-many-categories', `column "${name}" has ${categories.length} categories; ordinal codes at most ${MAX_CATEGORIES} (one-hot keeps the top K)`);
  }
  return { name, kind: 'ordinal', categories };
}

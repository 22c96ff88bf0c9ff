/**
 * What fills a gap in a column, fitted on the training split only and stored in the spec, so a
 * device fills a gap in a served row with the same value the training rows got.
 */
import { MAX_CATEGORY_CHARS, userError, type Impute } from '@edgeml/core';
import { rankCategories } from './categorical.js';

export type ImputeRule = Impute['rule'];

export interface ImputeOption {
  rule: ImputeRule;
  /** The fill for `constant`; default 0 in a numeric column, "missing" in a text column. */
  constant?: string;
}

const RULES: readonly ImputeRule[] = ['median', 'mean', 'most-frequent', 'constant'];

/** `median`, `mean`, `most-frequent`, `constant` or `constant=VALUE`, as the flag is written. */
export function parseImpute(text: string): ImputeOption {
  const eq = text.indexOf('=');
  const rule = (eq < 0 ? text : text.slice(0, eq)).trim();
  if (!RULES.includes(rule as ImputeRule)) throw userError('bad-impute', `impute "${text}": expected ${RULES.join(', ')} or constant=VALUE`);
  if (eq >= 0 && rule !== 'constant') throw userError('bad-impute', `impute "${text}": only constant takes a value`);
  const constant = eq < 0 ? undefined : text.slice(eq + 1).trim();
  if (constant !== undefined && (constant === '' || constant.length > MAX_CATEGORY_CHARS)) {
    throw userError('bad-impute', `impute "${text}": the constant needs a value of 1 to ${MAX_CATEGORY_CHARS} characters`);
  }
  return constant === undefined ? { rule: rule as ImputeRule } : { rule: rule as ImputeRule, constant };
}

/** The fill of a numeric column from its training values (gaps left out). */
export function fitNumericImpute(name: string, values: readonly number[], opt: ImputeOption): Impute {
  if (opt.rule === 'constant') {
    const v = Number(opt.constant ?? 0);
    if (!Number.isFinite(v)) throw userError('bad-impute', `impute constant "${opt.constant}" is not a number, and column "${name}" holds numbers`);
    return { rule: 'constant', value: v };
  }
  if (values.length === 0) throw userError('no-values', `column "${name}" has no values in the training split to fit "${opt.rule}" on`);
  if (opt.rule === 'mean') return { rule: 'mean', value: values.reduce((a, b) => a + b, 0) / values.length };
  const sorted = [...values].sort((a, b) => a - b);
  if (opt.rule === 'median') {
    const m = sorted.length >> 1;
    return { rule: 'median', value: sorted.length % 2 ? sorted[m]! : (sorted[m - 1]! + sorted[m]!) / 2 };
  }
  // Most frequent; equal counts go to the smallest value.
  let best = sorted[0]!;
  let bestCount = 0;
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j < sorted.length && sorted[j] === sorted[i]) j++;
    if (j - i > bestCount) [best, bestCount] = [sorted[i]!, j - i];
    i = j;
  }
  return { rule: 'most-frequent', value: best };
}

/**
 * The fill of a text column. A median or mean of categories does not exist: those rules take
 * the most frequent category there (docs/MODELS.md says so).
 */
export function fitCategoryImpute(name: string, values: readonly string[], opt: ImputeOption): Impute {
  if (opt.rule === 'constant') return { rule: 'constant', value: opt.constant ?? 'missing' };
  const top = rankCategories(values)[0];
  if (top === undefined) throw userError('no-values', `column "${name}" has no values in the training split to fit "${opt.rule}" on`);
  return { rule: 'most-frequent', value: top };
}

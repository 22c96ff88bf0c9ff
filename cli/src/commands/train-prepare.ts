import { userError } from '@edgeml/core';
import { parseImpute, type PrepareOptions } from '@edgeml/ml';

/** What `train` flags and a release config say about text columns and gaps. */
export interface PrepareFlags {
  categorical?: string;
  maxCategories?: number;
  impute?: string;
}

/** The flags as pipeline options; none of them means text and gaps are refused, as before. */
export function parsePrepare(o: PrepareFlags, flag = (name: string) => `--${name}`): PrepareOptions | undefined {
  if (o.categorical !== undefined && o.categorical !== 'one-hot' && o.categorical !== 'ordinal') {
    throw userError('bad-usage', `${flag('categorical')} must be one-hot or ordinal, not "${o.categorical}"`);
  }
  if (o.maxCategories !== undefined && !(Number.isInteger(o.maxCategories) && o.maxCategories >= 1 && o.maxCategories <= 1000)) {
    throw userError('bad-usage', `${flag('max-categories')} must be a whole number from 1 to 1000`);
  }
  if (o.maxCategories !== undefined && o.categorical !== 'one-hot') throw userError('bad-usage', `${flag('max-categories')} caps one-hot encoding: give ${flag('categorical')} one-hot`);
  const p: PrepareOptions = {};
  if (o.categorical) p.categorical = o.categorical;
  if (o.maxCategories !== undefined) p.maxCategories = o.maxCategories;
  if (o.impute !== undefined) p.impute = parseImpute(o.impute);
  return p.categorical || p.impute ? p : undefined;
}

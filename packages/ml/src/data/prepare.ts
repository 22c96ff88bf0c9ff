/**
 * Column rules for text columns and gaps, fitted on the training split only and applied to
 * every split by the device's own encoder (@edgeml/runtime's preprocess/columns.ts).
 */
import { userError, type ColumnSpec } from '@edgeml/core';
import { compileColumns, DEFAULT_MAX_CATEGORIES, encodedFeatureNames, fitCategorical, fitCategoryImpute, fitNumericImpute, InputError, isGap, isNumberCell } from '@edgeml/runtime';
import type { Dataset, PrepareOptions } from './dataset.js';
import type { Splits } from './split.js';

/** Fit the column rules on `splits.train` (raw rows from buildDataset's `prepare`) and encode every split. */
export function prepareSplits(splits: Splits, opts: PrepareOptions): { splits: Splits; columns: ColumnSpec[]; summary: string[] } {
  const { train } = splits;
  const all = [splits.train, splits.validation, splits.test];
  if (!train.raw) throw new Error('prepareSplits needs raw rows (buildDataset with prepare)');
  const summary: string[] = [];
  const columns = train.features.map((name, j): ColumnSpec => {
    const cells = (ds: Dataset) => ds.raw!.map((row) => row[j]!);
    const present = all.flatMap((ds) => cells(ds).filter((c) => !isGap(c)));
    const gaps = all.reduce((n, ds) => n + cells(ds).filter(isGap).length, 0);
    const trainCells = cells(train);
    const trainPresent = trainCells.filter((c) => !isGap(c));
    const text = present.some((c) => !isNumberCell(c));
    let col: ColumnSpec;
    if (!text) {
      col = { name, kind: 'numeric' };
      if (opts.impute) col.impute = fitNumericImpute(name, trainPresent.map(Number), opts.impute);
    } else {
      if (!opts.categorical) throw userError('non-numeric', `column "${name}" holds text; to encode it, train with --categorical one-hot or ordinal`);
      const impute = opts.impute ? fitCategoryImpute(name, trainPresent.map((c) => c.trim()), opts.impute) : undefined;
      const filled = trainCells.map((c) => (isGap(c) ? String(impute!.value) : c.trim()));
      const fitted = fitCategorical(name, filled, opts.categorical, opts.maxCategories ?? DEFAULT_MAX_CATEGORIES, present.map((c) => c.trim()));
      col = impute ? { ...fitted, impute } : fitted;
      const distinct = new Set(filled).size;
      summary.push(
        col.kind === 'one-hot'
          ? `column "${name}": text, one-hot over ${col.categories.length} of ${distinct} training categories (by frequency), the rest and unknown ones to "${name}=<other>"`
          : `column "${name}": text, ordinal codes 0-${col.categories.length - 1} by training frequency (an unknown category is refused)`,
      );
    }
    if (gaps > 0 || col.impute) {
      const fill = col.impute ? `filled with ${col.impute.rule} ${typeof col.impute.value === 'number' ? Number(col.impute.value.toPrecision(6)) : `"${col.impute.value}"`} (fitted on the training split)` : 'not filled';
      if (gaps > 0) summary.push(`column "${name}": ${gaps} gaps (${trainCells.length - trainPresent.length} in training rows), ${fill}`);
    }
    return col;
  });
  const encode = (ds: Dataset): Dataset => encodeColumns(ds, columns);
  return { splits: { ...splits, train: encode(splits.train), validation: encode(splits.validation), test: encode(splits.test) }, columns, summary };
}

/** Raw rows into model features by `columns`, keeping the raw cells (the model directory's CSVs hold them). */
export function encodeColumns(ds: Dataset, columns: ColumnSpec[]): Dataset {
  const enc = compileColumns(columns);
  const x = new Float32Array(ds.n * enc.width);
  ds.raw!.forEach((cells, r) => {
    try {
      enc.encode(cells, r, x, r * enc.width);
    } catch (e) {
      if (e instanceof InputError) throw userError('bad-row', `${ds.file ?? '<data>'}: ${e.message}`);
      throw e;
    }
  });
  return { ...ds, x, features: encodedFeatureNames(columns), columns };
}

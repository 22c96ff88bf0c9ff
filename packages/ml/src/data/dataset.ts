/**
 * Data validation and conversion, in one place: the hub runs it before training and the
 * agent and `edgeml validate` run the same checks on data they receive later.
 */
import { FLOAT32_MAX, fitsFloat32, userError, type ColumnSpec, type Task } from '@edgeml/core';
import { compileColumns, encodedFeatureNames, InputError, isGap, isNumberCell, type CategoricalEncoding, type Dataset, type ImputeOption } from '@edgeml/runtime';
import type { CsvTable } from './csv.js';

export interface ColumnReport {
  name: string;
  type: 'numeric' | 'string';
  missing: number;
  nonFinite: number;
  min: number | null;
  max: number | null;
  mean: number | null;
  constant: boolean;
  /** Distinct values of a text column (counted up to 10,000). */
  distinct?: number;
}

export interface DataReport {
  file: string;
  rows: number;
  columns: ColumnReport[];
  duplicateRows: number;
  task: Task;
  target: string;
  /** Rows per class label (classification only). */
  classBalance?: Record<string, number>;
  warnings: string[];
  /** How text columns are encoded and gaps filled, one line per column (when they are). */
  encoding?: string[];
}

/** The rows preprocessing is fitted on: defined with the runtime, which fits and applies it. */
export type { Dataset };

/** Text columns and gaps a training run accepts, encoded by rules fitted on its training split. */
export interface PrepareOptions {
  categorical?: CategoricalEncoding;
  /** One-hot keeps this many categories per column (default 20). */
  maxCategories?: number;
  impute?: ImputeOption;
}

const isNumeric = (cell: string): boolean => cell !== '' && !Number.isNaN(Number(cell));
const isMissing = isGap;

export interface BuildOptions {
  target: string;
  task?: Task;
  /** Use exactly these features, in this order (a model's inputs); default: all but the target. */
  features?: string[];
  /** Labels of an existing model: a label outside them is an error, not a new class. */
  labels?: string[];
  /**
   * Keep feature cells as text (`raw`) for column rules fitted after the split: text columns
   * are accepted when `categorical` is set, gaps when `impute` is.
   */
  prepare?: PrepareOptions;
  /** Encode the feature columns by these rules (a model's spec); `features` are its columns. */
  columns?: ColumnSpec[];
}

function profile(table: CsvTable, col: number): ColumnReport {
  let missing = 0;
  let nonFinite = 0;
  let numeric = 0;
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  const distinct = new Set<string>();
  for (const row of table.rows) {
    const cell = row[col]!;
    if (distinct.size < 10_000) distinct.add(cell);
    if (isMissing(cell)) {
      missing++;
      continue;
    }
    if (!isNumeric(cell)) continue;
    const v = Number(cell);
    if (!Number.isFinite(v)) {
      nonFinite++;
      continue;
    }
    numeric++;
    min = Math.min(min, v);
    max = Math.max(max, v);
    sum += v;
  }
  const present = table.rows.length - missing;
  const type = numeric + nonFinite === present && present > 0 ? 'numeric' : 'string';
  const report: ColumnReport = {
    name: table.header[col]!,
    type,
    missing,
    nonFinite,
    min: numeric ? min : null,
    max: numeric ? max : null,
    mean: numeric ? sum / numeric : null,
    constant: distinct.size < 2,
  };
  if (type === 'string') report.distinct = [...distinct].filter((c) => !isMissing(c)).length;
  return report;
}

function inferTask(table: CsvTable, col: number): Task {
  const values = table.rows.map((r) => r[col]!);
  if (!values.every(isNumeric)) return 'classification';
  const distinct = new Set(values);
  const integers = values.every((v) => Number.isInteger(Number(v)));
  // Few distinct integer values read as class ids (digits 0-9); many read as a quantity.
  return integers && distinct.size <= Math.max(2, Math.min(50, Math.floor(values.length / 10))) ? 'classification' : 'regression';
}

function sortLabels(labels: string[]): string[] {
  const numeric = labels.every(isNumeric);
  return labels.sort(numeric ? (a, b) => Number(a) - Number(b) : undefined);
}

/** Validate a table and turn it into a numeric dataset; refuses unusable data with file, line and column. */
export function buildDataset(table: CsvTable, opts: BuildOptions): { dataset: Dataset; report: DataReport } {
  const where = (i: number) => `${table.file}:${table.lines[i]}`;
  const targetCol = table.header.indexOf(opts.target);
  if (targetCol < 0) {
    throw userError('missing-target', `${table.file}: no target column "${opts.target}"; the columns are ${table.header.join(', ')}`);
  }
  const features = opts.features ?? table.header.filter((_, i) => i !== targetCol);
  const featureCols = features.map((f) => {
    const i = table.header.indexOf(f);
    if (i < 0) throw userError('missing-column', `${table.file}: column "${f}" that the model needs is missing`);
    return i;
  });
  if (features.length === 0) throw userError('no-features', `${table.file}: no feature columns besides the target "${opts.target}"`);

  const columns = table.header.map((_, i) => profile(table, i));
  const task = opts.task ?? inferTask(table, targetCol);
  const n = table.rows.length;
  const raw = opts.prepare || opts.columns ? rawCells(table, features, featureCols, opts.prepare, where) : undefined;
  const x = new Float32Array(raw ? 0 : n * features.length);
  for (let r = 0; r < (raw ? 0 : n); r++) {
    const row = table.rows[r]!;
    for (let j = 0; j < featureCols.length; j++) {
      const cell = row[featureCols[j]!]!;
      const name = features[j]!;
      if (isMissing(cell)) throw userError('missing-value', `${where(r)}: column "${name}" is empty; fill or drop missing values first`);
      const v = Number(cell);
      if (!isNumeric(cell)) throw userError('non-numeric', `${where(r)}: column "${name}" holds "${cell}", not a number`);
      if (!Number.isFinite(v)) throw userError('non-finite', `${where(r)}: column "${name}" holds ${cell}, not a finite number`);
      if (!fitsFloat32(v)) throw userError('out-of-range', `${where(r)}: column "${name}" holds ${cell}, outside the float32 range the model computes in (|x| <= ${FLOAT32_MAX})`);
      x[r * features.length + j] = v;
    }
  }

  const y = new Float32Array(n);
  let labels: string[] | undefined;
  let classBalance: Record<string, number> | undefined;
  const targets = table.rows.map((row) => row[targetCol]!);
  targets.forEach((t, r) => {
    if (isMissing(t)) throw userError('missing-value', `${where(r)}: target column "${opts.target}" is empty`);
  });
  if (task === 'classification') {
    labels = opts.labels ?? sortLabels([...new Set(targets)]);
    if (labels.length < 2) {
      throw userError('one-class', `${table.file}: target "${opts.target}" has only one class ("${labels[0]}"); a classifier needs two or more`);
    }
    const index = new Map(labels.map((l, i) => [l, i]));
    classBalance = Object.fromEntries(labels.map((l) => [l, 0]));
    targets.forEach((t, r) => {
      const k = index.get(t);
      if (k === undefined) throw userError('unknown-label', `${where(r)}: label "${t}" is not one the model knows (${labels!.join(', ')})`);
      y[r] = k;
      classBalance![t]!++;
    });
  } else {
    targets.forEach((t, r) => {
      const v = Number(t);
      if (!isNumeric(t) || !Number.isFinite(v)) {
        throw userError('non-numeric', `${where(r)}: target column "${opts.target}" holds "${t}"; regression needs numbers`);
      }
      if (!fitsFloat32(v)) throw userError('out-of-range', `${where(r)}: target column "${opts.target}" holds ${t}, outside the float32 range the model computes in (|x| <= ${FLOAT32_MAX})`);
      y[r] = v;
    });
  }

  const seen = new Set<string>();
  let duplicateRows = 0;
  for (const row of table.rows) {
    const key = row.join('\u0000');
    if (seen.has(key)) duplicateRows++;
    else seen.add(key);
  }
  const warnings: string[] = [];
  for (const [j, f] of features.entries()) {
    if (columns[featureCols[j]!]!.constant) warnings.push(`feature "${f}" is constant; it carries no information`);
  }
  if (duplicateRows > 0) warnings.push(`${duplicateRows} duplicate rows`);
  if (classBalance) {
    const counts = Object.values(classBalance);
    if (Math.max(...counts) > 10 * Math.max(1, Math.min(...counts))) warnings.push('classes are imbalanced by more than 10:1');
  }
  const report: DataReport = { file: table.file, rows: n, columns, duplicateRows, task, target: opts.target, warnings };
  if (classBalance) report.classBalance = classBalance;
  const dataset: Dataset = { file: table.file, features, target: opts.target, task, x, y, n };
  if (labels) dataset.labels = labels;
  if (raw) {
    dataset.raw = raw;
    if (opts.columns) Object.assign(dataset, encodeTable(table, raw, opts.columns));
  }
  return { dataset, report };
}

/** Rows `indices` of a dataset, as a new dataset. */
export function subset(ds: Dataset, indices: number[]): Dataset {
  const f = ds.features.length;
  // Raw (not yet encoded) rows have no x: `x.length` is 0.
  const x = new Float32Array(ds.x.length > 0 ? indices.length * f : 0);
  const y = new Float32Array(indices.length);
  if (x.length > 0) indices.forEach((r, i) => x.set(ds.x.subarray(r * f, (r + 1) * f), i * f));
  indices.forEach((r, i) => (y[i] = ds.y[r]!));
  const out: Dataset = { ...ds, x, y, n: indices.length };
  if (ds.raw) out.raw = indices.map((r) => ds.raw![r]!);
  return out;
}

/**
 * Feature cells kept as text for column rules. Without `categorical` a text cell is refused, and
 * without `impute` a gap, as they always were; with a spec's `columns` its rules decide.
 */
function rawCells(table: CsvTable, features: string[], cols: number[], prepare: PrepareOptions | undefined, where: (i: number) => string): string[][] {
  return table.rows.map((row, r) =>
    cols.map((c, j) => {
      const cell = row[c]!;
      if (!prepare) return cell;
      if (isMissing(cell)) {
        if (!prepare.impute) throw userError('missing-value', `${where(r)}: column "${features[j]}" is empty; fill or drop missing values first, or train with --impute`);
      } else if (!isNumberCell(cell) && !prepare.categorical) {
        throw userError('non-numeric', `${where(r)}: column "${features[j]}" holds "${cell}", not a number; to encode a text column, train with --categorical one-hot or ordinal`);
      }
      return cell;
    }),
  );
}

/** A model's column rules over the raw cells: what `validate` and `quantize` read from a CSV. */
function encodeTable(table: CsvTable, raw: string[][], columns: ColumnSpec[]): Pick<Dataset, 'x' | 'features' | 'columns'> {
  const enc = compileColumns(columns);
  const x = new Float32Array(raw.length * enc.width);
  raw.forEach((cells, r) => {
    try {
      enc.encode(cells, r, x, r * enc.width);
    } catch (e) {
      if (e instanceof InputError) throw userError('bad-row', `${table.file}:${table.lines[r]}: ${e.message.replace(/^row \d+: /, '')}`);
      throw e;
    }
  });
  return { x, features: encodedFeatureNames(columns), columns };
}

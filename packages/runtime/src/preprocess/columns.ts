/**
 * Rows as people have them (text categories, gaps) into the model's numeric features, by the
 * column rules stored in the signed spec. This is the one implementation: the hub encodes its
 * training, test and calibration rows with it, and the agent every row it serves (API and
 * batch), so a row is encoded the same way wherever it arrives. No training code here.
 */
import { columnWidth, float32Problem, type ColumnSpec, type ModelSpec } from '@edgeml/core';
import { encodeRow, InputError } from './input.js';

/** The name of the one-hot feature that takes every category the model did not keep. */
export const OTHER_CATEGORY = '<other>';

/** A gap: JSON null, an empty cell, or the spellings CSV exports use for one. */
export function isGap(v: unknown): boolean {
  if (v === null || v === undefined) return true;
  if (typeof v !== 'string') return false;
  const s = v.trim();
  return s === '' || /^(na|nan|null|none)$/i.test(s);
}

const DECIMAL = /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/;

/** A cell that reads as a number (decimal notation): what makes a column numeric, not text. */
export const isNumberCell = (cell: string): boolean => DECIMAL.test(cell);

/** Model feature names of the columns, in the order the encoder writes them. */
export function encodedFeatureNames(columns: readonly ColumnSpec[]): string[] {
  return columns.flatMap((c) => (c.kind === 'one-hot' ? [...c.categories.map((k) => `${c.name}=${k}`), `${c.name}=${OTHER_CATEGORY}`] : [c.name]));
}

interface CompiledColumn {
  spec: ColumnSpec;
  /** Category -> one-hot position or ordinal code. */
  index?: Map<string, number>;
  width: number;
}

/** Column rules prepared once per model: lookups are maps, not scans. */
export interface ColumnEncoder {
  readonly columns: readonly ColumnSpec[];
  readonly names: readonly string[];
  /** Features written per row. */
  readonly width: number;
  /**
   * One row (values in column order, or an object keyed by column name) into `x` at `o`.
   * `extraKeys`: keys that are not columns are ignored (batch JSON lines) instead of refused.
   */
  encode(row: unknown, r: number, x: Float32Array, o: number, extraKeys?: 'ignore' | 'refuse'): void;
}

export function compileColumns(columns: readonly ColumnSpec[]): ColumnEncoder {
  const compiled: CompiledColumn[] = columns.map((c) => ({
    spec: c,
    width: columnWidth(c),
    ...(c.kind === 'numeric' ? {} : { index: new Map(c.categories.map((k, i) => [k, i])) }),
  }));
  const names = columns.map((c) => c.name);
  const nameSet = new Set(names);
  const width = compiled.reduce((n, c) => n + c.width, 0);

  const put = (c: CompiledColumn, value: unknown, r: number, x: Float32Array, o: number): void => {
    const col = c.spec;
    let v = value;
    if (isGap(v)) {
      if (!col.impute) throw new InputError(`row ${r}: column "${col.name}" is empty, and the model fills no gaps in it`);
      v = col.impute.value;
    }
    if (col.kind === 'numeric') {
      x[o] = numberOf(col.name, v, r);
      return;
    }
    const category = categoryOf(col.name, v, r);
    const k = c.index!.get(category);
    if (col.kind === 'one-hot') {
      x.fill(0, o, o + c.width);
      // A category the model did not keep (rarer than its top K, or never seen) is "other".
      x[o + (k ?? c.width - 1)] = 1;
      return;
    }
    if (k === undefined) {
      throw new InputError(`row ${r}: column "${col.name}" holds "${clip(category)}", a category the model does not know (${describe(col.categories)})`);
    }
    x[o] = k;
  };

  return {
    columns,
    names,
    width,
    encode(row, r, x, o, extraKeys = 'refuse') {
      if (Array.isArray(row)) {
        if (row.length !== compiled.length) throw new InputError(`row ${r}: has ${row.length} values, the model takes ${compiled.length} columns (${clip(names.join(', '), 80)})`);
        for (let j = 0, at = o; j < compiled.length; at += compiled[j]!.width, j++) put(compiled[j]!, row[j], r, x, at);
        return;
      }
      if (row !== null && typeof row === 'object') {
        const obj = row as Record<string, unknown>;
        if (extraKeys === 'refuse') {
          const unknown = Object.keys(obj).filter((k) => !nameSet.has(k));
          if (unknown.length) throw new InputError(`row ${r}: unknown column${unknown.length > 1 ? 's' : ''} ${unknown.slice(0, 10).map((k) => `"${clip(k)}"`).join(', ')}`);
        }
        for (let j = 0, at = o; j < compiled.length; at += compiled[j]!.width, j++) {
          const name = names[j]!;
          // A gap is sent as null or "": an absent key is more often a misspelt name than a gap.
          if (!Object.hasOwn(obj, name)) throw new InputError(`row ${r}: column "${name}" is missing (send null for a gap)`);
          put(compiled[j]!, obj[name], r, x, at);
        }
        return;
      }
      throw new InputError(`row ${r}: expected an array of ${compiled.length} values or an object of named columns`);
    },
  };
}

function numberOf(name: string, v: unknown, r: number): number {
  let n: number;
  if (typeof v === 'number') n = v;
  // A CSV cell, or a JSON string holding a number as the CSV had it.
  else if (typeof v === 'string' && isNumberCell(v)) n = Number(v);
  else throw new InputError(`row ${r}: column "${name}" ${typeof v === 'string' ? `holds "${clip(v)}"` : `is ${typeof v}`}, not a number`);
  const problem = float32Problem(n);
  if (problem) throw new InputError(`row ${r}: column "${name}" is ${problem}`);
  return n;
}

function categoryOf(name: string, v: unknown, r: number): string {
  if (typeof v === 'string') return v.trim();
  // JSON may carry a numeric-looking category ("3") as the number 3.
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  throw new InputError(`row ${r}: column "${name}" is ${typeof v}, not a category`);
}

const clip = (s: string, n = 40): string => (s.length > n ? `${s.slice(0, n)}...` : s);

function describe(categories: readonly string[]): string {
  const shown = categories.slice(0, 10).map((k) => `"${clip(k)}"`).join(', ');
  return categories.length > 10 ? `it knows ${shown} and ${categories.length - 10} more` : `it knows ${shown}`;
}

const encoders = new WeakMap<readonly ColumnSpec[], ColumnEncoder>();

/** The spec's column encoder, compiled on first use and kept while the spec lives. */
export function columnEncoder(spec: ModelSpec): ColumnEncoder | undefined {
  const columns = spec.preprocessing.columns;
  if (!columns) return undefined;
  let e = encoders.get(columns);
  if (!e) encoders.set(columns, (e = compileColumns(columns)));
  return e;
}

/**
 * One row as a device receives it into raw (unstandardised) model features: by the spec's column
 * rules when it has them, else numbers in feature order (encodeRow).
 */
export function encodeInputRow(spec: ModelSpec, row: unknown, r: number, x: Float32Array, offset: number, extraKeys: 'ignore' | 'refuse' = 'refuse'): void {
  const enc = columnEncoder(spec);
  if (enc) enc.encode(row, r, x, offset, extraKeys);
  else encodeRow(spec, row, r, x, offset);
}

/** Names a device's rows are keyed by: the spec's columns, or its features. */
export function inputNames(spec: ModelSpec): string[] {
  return spec.preprocessing.columns?.map((c) => c.name) ?? spec.features;
}

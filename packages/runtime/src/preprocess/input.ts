/**
 * Turns rows a device receives (API bodies, batch files) into the raw feature matrix, checking
 * them against the model's input spec. Every refusal names the row and the feature.
 */
import { float32Problem, userError, type ModelSpec } from '@edgeml/core';

export class InputError extends Error {
  readonly code = 'bad-input';
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

/**
 * Accepts one row or many; each row is an array of numbers in feature order, or an object
 * keyed by feature name. Returns n * features raw values.
 */
export function encodeRows(spec: ModelSpec, rows: readonly unknown[], out?: Float32Array): Float32Array {
  const f = spec.features.length;
  const x = out ?? new Float32Array(rows.length * f);
  rows.forEach((row, r) => encodeRow(spec, row, r, x, r * f));
  return x;
}

export function encodeRow(spec: ModelSpec, row: unknown, r: number, x: Float32Array, offset: number): void {
  const f = spec.features.length;
  const put = (j: number, v: unknown) => {
    if (typeof v !== 'number') {
      throw new InputError(`row ${r}: feature "${spec.features[j]}" is ${v === null ? 'null' : typeof v}, not a number`);
    }
    const problem = float32Problem(v);
    if (problem) throw new InputError(`row ${r}: feature "${spec.features[j]}" is ${problem}`);
    x[offset + j] = v;
  };
  if (Array.isArray(row)) {
    if (row.length !== f) throw new InputError(`row ${r}: has ${row.length} values, the model takes ${f} (${describeShape(spec)})`);
    for (let j = 0; j < f; j++) put(j, row[j]);
    return;
  }
  if (row !== null && typeof row === 'object') {
    const obj = row as Record<string, unknown>;
    const unknown = Object.keys(obj).filter((k) => !spec.features.includes(k));
    if (unknown.length) throw new InputError(`row ${r}: unknown feature${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}`);
    for (let j = 0; j < f; j++) {
      const name = spec.features[j]!;
      if (!Object.hasOwn(obj, name)) throw new InputError(`row ${r}: feature "${name}" is missing`);
      put(j, obj[name]);
    }
    return;
  }
  throw new InputError(`row ${r}: expected an array of ${f} numbers or an object of named features`);
}

function describeShape(spec: ModelSpec): string {
  return spec.inputShape.length > 1 ? `shape ${spec.inputShape.join('x')}` : `${spec.features.join(', ').slice(0, 80)}`;
}

/** A CSV header that must hold every model feature; returns each feature's column index. */
export function mapColumns(spec: ModelSpec, header: string[], file: string): number[] {
  const missing = spec.features.filter((f) => !header.includes(f));
  if (missing.length) {
    throw userError('missing-column', `${file}: column${missing.length > 1 ? 's' : ''} ${missing.map((m) => `"${m}"`).join(', ')} that the model needs ${missing.length > 1 ? 'are' : 'is'} missing`);
  }
  return spec.features.map((f) => header.indexOf(f));
}

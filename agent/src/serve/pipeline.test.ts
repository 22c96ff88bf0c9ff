/**
 * The predict pipeline's arithmetic and ids: the fast path for plain number rows gives the
 * general path's values bit for bit, and ids stay unique UUIDs in calls of many rows.
 */
import type { ModelSpec } from '@edgeml/core';
import { applyPreprocessing, encodeRows, InputError, type ModelRuntime } from '@edgeml/runtime';
import { describe, expect, it } from 'vitest';
import { createPipeline } from './pipeline.js';

const spec: ModelSpec = {
  task: 'classification',
  target: 'y',
  features: ['a', 'b', 'c'],
  inputShape: [3],
  labels: ['x', 'y', 'z'],
  preprocessing: { kind: 'standardize', mean: [0.1, -2.5, 1e3], std: [0.3, 7, 250] },
};

/** A runtime that echoes its standardised input as the outputs: what the pipeline fed it. */
const echo: ModelRuntime = {
  info: { runtime: 'echo', format: 'tfjs-layers', inputShape: [3], outputSize: 3 },
  predict: (input) => Float32Array.from(input),
  dispose: () => undefined,
};

const rows = [
  [0.1, 2.2, 3.3],
  [1e-7, -4.75, 1234.5678],
  [Math.PI, Math.E, -1e6],
];

describe('ModelPipeline', () => {
  it('standardises plain rows exactly as the hub does (raw float32, then applyPreprocessing)', () => {
    const pipe = createPipeline(spec, echo);
    const x = new Float32Array(rows.length * 3);
    pipe.encode(rows, x, 0);
    expect(Array.from(x)).toEqual(Array.from(applyPreprocessing(spec.preprocessing, encodeRows(spec, rows))));
    // The general path (named features) gives the same values.
    const named = rows.map((r) => ({ a: r[0], b: r[1], c: r[2] }));
    const y = new Float32Array(rows.length * 3);
    pipe.encode(named, y, 0);
    expect(Array.from(y)).toEqual(Array.from(x));
  });

  it('refuses a non-finite or non-number value on the fast path with the general message', () => {
    const pipe = createPipeline(spec, echo);
    const x = new Float32Array(3);
    expect(() => pipe.encode([[1, Number.NaN, 2]], x, 0)).toThrow(new InputError('row 0: feature "b" is NaN, not a finite number'));
    expect(() => pipe.encode([[1, 2, '3']], x, 0)).toThrow(new InputError('row 0: feature "c" is string, not a number'));
    expect(() => pipe.encode([[1, 2, null]], x, 0)).toThrow(new InputError('row 0: feature "c" is null, not a number'));
  });

  it('standardises raw float32 rows in place as encode does, checking each value finite in the same pass', () => {
    const pipe = createPipeline(spec, echo);
    const x = Float32Array.from(rows.flat());
    expect(pipe.standardise(x, rows.length)).toBe(-1);
    const y = new Float32Array(rows.length * 3);
    pipe.encode(rows, y, 0);
    expect(Array.from(x)).toEqual(Array.from(y));
    for (const bad of [Number.NaN, Infinity, -Infinity]) {
      const z = Float32Array.from([1, 2, 3, 4, bad, 6]);
      // The first bad value's index, left as it came so the refusal can name it.
      expect(pipe.standardise(z, 2)).toBe(4);
      expect(z[4]).toBe(bad);
    }
  });

  it('gives every prediction of a large call its own version-4 UUID', () => {
    const pipe = createPipeline(spec, echo);
    const n = 10_000;
    const x = new Float32Array(n * 3);
    const ids = pipe.runWithIds(x, n).map((p) => p.id);
    expect(new Set(ids).size).toBe(n);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

import type { ModelSpec } from '@edgeml/core';
import { EdgemlError } from '@edgeml/core';
import { describe, expect, it } from 'vitest';
import { InputError, encodeRows, mapColumns } from './input.js';

const spec: ModelSpec = {
  task: 'classification',
  target: 'species',
  features: ['sepal_length', 'sepal_width', 'petal_length'],
  inputShape: [3],
  labels: ['a', 'b'],
  preprocessing: { kind: 'standardize', mean: [0, 0, 0], std: [1, 1, 1] },
};

function inputError(rows: unknown[]): InputError {
  let err: unknown;
  try {
    encodeRows(spec, rows);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(InputError);
  expect((err as InputError).code).toBe('bad-input');
  return err as InputError;
}

describe('encodeRows', () => {
  it('encodes arrays in feature order', () => {
    expect([...encodeRows(spec, [[1, 2, 3], [4.5, 5, -6]])]).toEqual([1, 2, 3, 4.5, 5, -6]);
  });

  it('encodes named objects whatever their key order', () => {
    const rows = [{ petal_length: 3, sepal_length: 1, sepal_width: 2 }, [4, 5, 6]];
    expect([...encodeRows(spec, rows)]).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('writes into the buffer given', () => {
    const out = new Float32Array(3);
    expect(encodeRows(spec, [[7, 8, 9]], out)).toBe(out);
    expect([...out]).toEqual([7, 8, 9]);
  });

  const refusals: [string, unknown, string][] = [
    ['too few values', [1, 2], 'row 1: has 2 values, the model takes 3'],
    ['too many values', [1, 2, 3, 4], 'row 1: has 4 values, the model takes 3'],
    ['an unknown feature', { sepal_length: 1, sepal_width: 2, petal_length: 3, colour: 4 }, 'row 1: unknown feature "colour"'],
    ['a missing feature', { sepal_length: 1, petal_length: 3 }, 'row 1: feature "sepal_width" is missing'],
    ['a string', [1, '2', 3], 'row 1: feature "sepal_width" is string, not a number'],
    ['a string in a named row', { sepal_length: 1, sepal_width: 2, petal_length: '3' }, 'row 1: feature "petal_length" is string, not a number'],
    ['null', [1, null, 3], 'row 1: feature "sepal_width" is null, not a number'],
    ['NaN', [NaN, 2, 3], 'row 1: feature "sepal_length" is NaN, not a finite number'],
    ['Infinity', { sepal_length: 1, sepal_width: 2, petal_length: Infinity }, 'row 1: feature "petal_length" is Infinity, not a finite number'],
    ['-Infinity', [1, -Infinity, 3], 'row 1: feature "sepal_width" is -Infinity, not a finite number'],
    ['a bare number', 5, 'row 1: expected an array of 3 numbers or an object of named features'],
    ['null as a row', null, 'row 1: expected an array of 3 numbers'],
  ];
  it.each(refusals)('refuses %s naming the row and the feature', (_, bad, message) => {
    expect(inputError([[0, 0, 0], bad]).message).toContain(message);
  });

  it('lists the features when a row has the wrong count', () => {
    expect(inputError([[1]]).message).toContain('sepal_length, sepal_width, petal_length');
  });

  it('names the image shape when a shaped model gets the wrong count', () => {
    const image: ModelSpec = { ...spec, features: ['p0', 'p1', 'p2', 'p3'], inputShape: [2, 2, 1], preprocessing: { kind: 'standardize', mean: [0, 0, 0, 0], std: [1, 1, 1, 1] } };
    expect(() => encodeRows(image, [[1, 2, 3]])).toThrow('shape 2x2x1');
  });
});

describe('mapColumns', () => {
  it('finds each feature column in a header of any order', () => {
    expect(mapColumns(spec, ['petal_length', 'id', 'sepal_width', 'sepal_length'], 'f.csv')).toEqual([3, 2, 0]);
  });

  it('refuses a header that lacks model features, naming the file and the columns', () => {
    let err: unknown;
    try {
      mapColumns(spec, ['sepal_length'], 'batch.csv');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(EdgemlError);
    expect(err).toMatchObject({ code: 'missing-column', exitCode: 2, message: 'batch.csv: columns "sepal_width", "petal_length" that the model needs are missing' });
  });
});

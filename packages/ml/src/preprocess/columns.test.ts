import { ModelSpecSchema, type ColumnSpec, type ModelSpec } from '@edgeml/core';
import { describe, expect, it } from 'vitest';
import { seededRandom, shuffleInPlace } from '../data/rng.js';
import { compileColumns, encodedFeatureNames, encodeInputRow, fitCategorical, fitCategoryImpute, fitNumericImpute, InputError, parseImpute, rankCategories } from '@edgeml/runtime';

const COLOR = ['red', 'red', 'red', 'blue', 'blue', 'green', 'green', 'teal', 'pink'];

const columns: ColumnSpec[] = [
  { name: 'color', kind: 'one-hot', categories: ['red', 'blue'], impute: { rule: 'most-frequent', value: 'red' } },
  { name: 'size', kind: 'ordinal', categories: ['small', 'large'] },
  { name: 'weight', kind: 'numeric', impute: { rule: 'median', value: 2.5 } },
];

const encode = (row: unknown, cols = columns): number[] => {
  const enc = compileColumns(cols);
  const x = new Float32Array(enc.width);
  enc.encode(row, 0, x, 0);
  return Array.from(x);
};

describe('categories fitted on training rows', () => {
  it('ranks by training frequency, equal counts in code-point order, whatever the row order', () => {
    expect(rankCategories(COLOR)).toEqual(['red', 'blue', 'green', 'pink', 'teal']);
    const shuffled = shuffleInPlace([...COLOR], seededRandom(3));
    expect(rankCategories(shuffled)).toEqual(rankCategories(COLOR));
  });

  it('keeps the top K for one-hot; the rest share the "other" feature', () => {
    const col = fitCategorical('color', COLOR, 'one-hot', 2);
    expect(col).toEqual({ name: 'color', kind: 'one-hot', categories: ['red', 'blue'] });
    expect(encodedFeatureNames([col])).toEqual(['color=red', 'color=blue', 'color=<other>']);
    expect(encode(['green'], [col])).toEqual([0, 0, 1]);
    expect(encode(['blue'], [col])).toEqual([0, 1, 0]);
  });

  it('codes ordinal categories by training frequency, then those seen only outside training in code-point order', () => {
    const col = fitCategorical('color', COLOR, 'ordinal', 2, ['zebra', 'amber', 'red']);
    expect(col.categories).toEqual(['red', 'blue', 'green', 'pink', 'teal', 'amber', 'zebra']);
  });
});

describe('the column encoder (hub and device)', () => {
  it('encodes an array in column order and an object of named columns the same way', () => {
    const want = [1, 0, 0, 1, 4];
    expect(encode(['red', 'large', 4])).toEqual(want);
    expect(encode({ weight: 4, size: 'large', color: 'red' })).toEqual(want);
    // CSV cells are strings, spaces trimmed as the hub's CSV reader trims them.
    expect(encode([' red ', 'large', ' 4 '])).toEqual(want);
  });

  it('sends a category it does not know to "other" under one-hot', () => {
    expect(encode(['mauve', 'small', 1])).toEqual([0, 0, 1, 0, 1]);
  });

  it('refuses an unknown ordinal category naming the column and the value', () => {
    expect(() => encode(['red', 'huge', 1])).toThrow(new InputError('row 0: column "size" holds "huge", a category the model does not know (it knows "small", "large")'));
  });

  it('fills gaps (null, empty, NA) with the fitted values', () => {
    for (const gap of [null, '', '  ', 'NA', 'nan']) expect(encode([gap, 'small', gap])).toEqual([1, 0, 0, 0, 2.5]);
  });

  it('refuses a gap in a column without imputation, naming it', () => {
    expect(() => encode(['red', null, 1])).toThrow(new InputError('row 0: column "size" is empty, and the model fills no gaps in it'));
  });

  it('refuses a missing key, an unknown key, text in a numeric column and a wrong count', () => {
    expect(() => encode({ color: 'red', size: 'small' })).toThrow('column "weight" is missing (send null for a gap)');
    expect(() => encode({ color: 'red', size: 'small', weight: 1, colour: 'x' })).toThrow('unknown column "colour"');
    expect(() => encode(['red', 'small', 'heavy'])).toThrow('column "weight" holds "heavy", not a number');
    expect(() => encode(['red', 'small', true])).toThrow('column "weight" is boolean, not a number');
    expect(() => encode(['red', 'small'])).toThrow('has 2 values, the model takes 3 columns');
    expect(() => encode(['red', 'small', 1e39])).toThrow('column "weight" is 1e+39, outside the float32 range');
  });

  it('is what a spec with columns takes; a spec without them takes numbers in feature order as before', () => {
    const spec: ModelSpec = ModelSpecSchema.parse({
      task: 'regression',
      target: 'y',
      features: encodedFeatureNames(columns),
      inputShape: [5],
      preprocessing: { kind: 'standardize', mean: [0, 0, 0, 0, 0], std: [1, 1, 1, 1, 1], columns },
    });
    const x = new Float32Array(5);
    encodeInputRow(spec, ['blue', 'large', null], 0, x, 0);
    expect(Array.from(x)).toEqual([0, 1, 0, 1, 2.5]);
    const old: ModelSpec = { ...spec, features: ['a', 'b'], inputShape: [2], preprocessing: { kind: 'standardize', mean: [0, 0], std: [1, 1] } };
    expect(ModelSpecSchema.safeParse(old).success).toBe(true);
    encodeInputRow(old, [1, 2], 0, x, 0);
    expect(Array.from(x.subarray(0, 2))).toEqual([1, 2]);
  });

  it('refuses a spec whose columns do not encode to its features', () => {
    const r = ModelSpecSchema.safeParse({
      task: 'regression',
      target: 'y',
      features: ['a', 'b'],
      inputShape: [2],
      preprocessing: { kind: 'standardize', mean: [0, 0], std: [1, 1], columns },
    });
    expect(r.success).toBe(false);
  });
});

describe('imputation values', () => {
  it('takes median, mean, most frequent or a constant of the values given', () => {
    expect(fitNumericImpute('a', [5, 1, 3, 100], { rule: 'median' })).toEqual({ rule: 'median', value: 4 });
    expect(fitNumericImpute('a', [1, 2, 6], { rule: 'mean' })).toEqual({ rule: 'mean', value: 3 });
    expect(fitNumericImpute('a', [7, 2, 7, 2, 9], { rule: 'most-frequent' })).toEqual({ rule: 'most-frequent', value: 2 });
    expect(fitNumericImpute('a', [], parseImpute('constant=-1'))).toEqual({ rule: 'constant', value: -1 });
    expect(fitCategoryImpute('c', ['x', 'y', 'y'], { rule: 'median' })).toEqual({ rule: 'most-frequent', value: 'y' });
    expect(fitCategoryImpute('c', ['x'], parseImpute('constant'))).toEqual({ rule: 'constant', value: 'missing' });
  });

  it('refuses a flag it cannot read', () => {
    expect(() => parseImpute('average')).toThrow('expected median, mean, most-frequent, constant or constant=VALUE');
    expect(() => parseImpute('median=3')).toThrow('only constant takes a value');
    expect(() => fitNumericImpute('a', [1], parseImpute('constant=abc'))).toThrow('is not a number');
  });
});

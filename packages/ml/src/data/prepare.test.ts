import { describe, expect, it } from 'vitest';
import { parseCsv } from './csv.js';
import { buildDataset } from './dataset.js';
import { prepareSplits } from './prepare.js';
import { splitDataset } from './split.js';

/** 60 rows: a text column, a numeric column with gaps; row i's value is i, so split rows are known. */
function table(): string {
  const lines = ['shade,size,label'];
  for (let i = 0; i < 60; i++) {
    const shade = ['dark', 'dark', 'dark', 'light', 'light', 'mid'][i % 6]!;
    lines.push(`${i === 59 ? 'violet' : shade},${i % 5 === 0 ? '' : i},${i % 2 ? 'yes' : 'no'}`);
  }
  return lines.join('\n');
}

const prepared = (seed: number, categorical: 'one-hot' | 'ordinal' = 'one-hot') => {
  const { dataset } = buildDataset(parseCsv(table(), 't.csv'), { target: 'label', prepare: { categorical, maxCategories: 2, impute: { rule: 'median' } } });
  const splits = splitDataset(dataset, { seed });
  return { raw: splits, ...prepareSplits(splits, { categorical, maxCategories: 2, impute: { rule: 'median' } }) };
};

describe('column rules fitted on the training split', () => {
  it('fits the median on training rows only', () => {
    const { raw, columns } = prepared(7);
    const trainValues = raw.train.raw!.map((r) => r[1]!).filter((c) => c !== '').map(Number).sort((a, b) => a - b);
    const m = trainValues.length >> 1;
    const median = trainValues.length % 2 ? trainValues[m]! : (trainValues[m - 1]! + trainValues[m]!) / 2;
    const allValues = [...raw.train.raw!, ...raw.validation.raw!, ...raw.test.raw!].map((r) => r[1]!).filter((c) => c !== '').map(Number);
    expect(allValues.length).toBeGreaterThan(trainValues.length);
    expect(columns[1]).toEqual({ name: 'size', kind: 'numeric', impute: { rule: 'median', value: median } });
  });

  it('encodes every split with the training rules and keeps the original cells', () => {
    const { splits, columns } = prepared(7);
    expect(columns[0]).toMatchObject({ kind: 'one-hot', categories: ['dark', 'light'] });
    expect(splits.test.features).toEqual(['shade=dark', 'shade=light', 'shade=<other>', 'size']);
    expect(splits.test.columns).toBe(columns);
    const f = splits.test.features.length;
    splits.test.raw!.forEach((cells, r) => {
      const row = Array.from(splits.test.x.subarray(r * f, (r + 1) * f));
      expect(row.slice(0, 3)).toEqual(cells[0] === 'dark' ? [1, 0, 0] : cells[0] === 'light' ? [0, 1, 0] : [0, 0, 1]);
      expect(row[3]).toBe(cells[1] === '' ? Math.fround(columns[1]!.impute!.value as number) : Number(cells[1]));
    });
  });

  it('gives the same rules for the same seed', () => {
    expect(prepared(11, 'ordinal').columns).toEqual(prepared(11, 'ordinal').columns);
    // A category only the validation or test rows hold still gets a code (after the training ones).
    expect(prepared(11, 'ordinal').columns[0]).toMatchObject({ categories: expect.arrayContaining(['violet']) as unknown });
  });

  it('still refuses text and gaps without the options, naming line and column', () => {
    const t = parseCsv(table(), 't.csv');
    expect(() => buildDataset(t, { target: 'label', prepare: { impute: { rule: 'median' } } })).toThrow('t.csv:2: column "shade" holds "dark", not a number; to encode a text column, train with --categorical one-hot or ordinal');
    expect(() => buildDataset(t, { target: 'label', prepare: { categorical: 'one-hot' } })).toThrow('t.csv:2: column "size" is empty; fill or drop missing values first, or train with --impute');
    expect(() => buildDataset(t, { target: 'label' })).toThrow('t.csv:2: column "shade" holds "dark", not a number');
  });
});

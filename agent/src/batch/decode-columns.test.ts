/**
 * Batch CSV for a model with column rules: the header names the model's columns (any order,
 * other columns echoed), cells keep their text and gaps, and each record is encoded by the
 * spec's column encoder whatever the block boundaries; a bad cell is a bad record named by line.
 */
import { ModelSpecSchema, type ModelSpec } from '@edgeml/core';
import { describe, expect, it } from 'vitest';
import { ColumnsCsvDecoder } from './decode-columns.js';

const spec: ModelSpec = ModelSpecSchema.parse({
  task: 'classification',
  target: 'y',
  features: ['color=red', 'color=blue', 'color=<other>', 'size', 'weight'],
  inputShape: [5],
  labels: ['no', 'yes'],
  preprocessing: {
    kind: 'standardize',
    mean: [0, 0, 0, 0, 0],
    std: [1, 1, 1, 1, 1],
    columns: [
      { name: 'color', kind: 'one-hot', categories: ['red', 'blue'] },
      { name: 'size', kind: 'ordinal', categories: ['small', 'large'], impute: { rule: 'most-frequent', value: 'large' } },
      { name: 'weight', kind: 'numeric', impute: { rule: 'median', value: 2.5 } },
    ],
  },
});

function decode(text: string, block: number) {
  const d = new ColumnsCsvDecoder({ file: 'in.csv', spec, echoAs: 'csv', onError: 'skip', skip: 0 });
  const bytes = Buffer.from(text, 'utf8');
  const rows: { line: number; x: number[] }[] = [];
  const bad: { line: number; error: string }[] = [];
  let done = false;
  const take = ({ decoded, echo }: ReturnType<typeof d.decode>) => {
    for (let i = 0; i < decoded.n; i++) rows.push({ line: echo.lines[i]!, x: Array.from(decoded.x.subarray(i * 5, i * 5 + 5)) });
    bad.push(...decoded.bad.map((b) => ({ line: b.line, error: b.error })));
    done = decoded.done;
  };
  for (let off = 0; off < bytes.length && !done; off += block) take(d.decode(Uint8Array.from(bytes.subarray(off, off + block))));
  if (!done) take(d.decode(null));
  return { rows, bad };
}

const text = ['id,weight,size,color', '1,4,small,red', '2,,large,"blue"', '3,NA,,mauve', '4,1,huge,red', '5,heavy,small,red', '6,3, small , blue '].join('\n');

describe('batch CSV with column rules', () => {
  it('encodes text, fills gaps and names bad cells by line, whatever the block size', () => {
    const want = {
      rows: [
        { line: 2, x: [1, 0, 0, 0, 4] },
        { line: 3, x: [0, 1, 0, 1, 2.5] },
        { line: 4, x: [0, 0, 1, 1, 2.5] },
        { line: 7, x: [0, 1, 0, 0, 3] },
      ],
      bad: [
        { line: 5, error: 'column "size" holds "huge", a category the model does not know (it knows "small", "large")' },
        { line: 6, error: 'column "weight" holds "heavy", not a number' },
      ],
    };
    for (const block of [1, 7, 64, 4096]) expect(decode(text, block), `block ${block}`).toEqual(want);
  });

  it("refuses a header without the model's columns, naming them", () => {
    expect(() => decode('id,weight\n1,2\n', 4096)).toThrow('in.csv: columns "color", "size" that the model needs are missing from the header');
  });
});

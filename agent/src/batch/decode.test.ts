/**
 * The byte-level batch decoder: the same records, lines, values and echoes whatever the block
 * boundaries, readline's line breaks (LF, CRLF, lone CR), and the general path's exact messages
 * for whatever the fast path leaves to it.
 */
import type { ModelSpec } from '@edgeml/core';
import { describe, expect, it } from 'vitest';
import { ByteSink } from './bytes.js';
import { CsvDecoder } from './decode-csv.js';
import { CodecError, type Decoded, type EchoRows } from './decode.js';

const spec: ModelSpec = {
  task: 'classification',
  target: 'y',
  features: ['a', 'b'],
  inputShape: [2],
  labels: ['no', 'yes'],
  preprocessing: { kind: 'standardize', mean: [1, 2], std: [2, 4] },
};

interface Row {
  line: number;
  values: number[];
  echo: string;
  records: number;
}

/** Decode `text` in blocks of `block` bytes; every row and bad record, in order. */
function decode(text: string, block: number, o: { skip?: number; onError?: 'skip' | 'fail'; echoAs?: 'csv' | 'jsonl' } = {}) {
  const d = new CsvDecoder({ file: 'in.csv', spec, echoAs: o.echoAs ?? 'csv', onError: o.onError ?? 'skip', skip: o.skip ?? 0 });
  const bytes = Buffer.from(text, 'utf8');
  const rows: Row[] = [];
  const bad: { line: number; error: string; record: number }[] = [];
  let columns: string[] | undefined;
  let last: Decoded | undefined;
  const take = (r: { decoded: Decoded; echo: EchoRows }) => {
    const { decoded, echo } = r;
    columns ??= decoded.columns;
    for (let i = 0; i < decoded.n; i++) {
      const raw = [0, 1].map((j) => Math.fround(decoded.x[i * 2 + j]! * spec.preprocessing.std[j]! + spec.preprocessing.mean[j]!));
      const e = echo.start[i]! >= 0 ? Buffer.from(echo.src.subarray(echo.start[i]!, echo.end[i]!)).toString('utf8') : echo.text[i]!;
      rows.push({ line: echo.lines[i]!, values: raw, echo: e, records: decoded.rowRecords[i]! });
    }
    for (const b of decoded.bad) bad.push({ line: b.line, error: b.error, record: b.record });
    if (decoded.fatal) bad.push({ line: decoded.fatal.line, error: `FATAL ${decoded.fatal.error}`, record: decoded.fatal.record });
    last = decoded;
  };
  for (let off = 0; off < bytes.length && !last?.done; off += block) take(d.decode(Uint8Array.from(bytes.subarray(off, off + block))));
  if (!last?.done) take(d.decode(null));
  return { rows, bad, columns, records: last!.records };
}

const sample = [
  '\uFEFFa, b ,note',
  '1,2,x',
  '',
  '  ',
  '1.5,-0.25,"quoted, with comma"',
  '3e2,+4,plain',
  '"5","6",""',
  '7,,empty b',
  '8,abc,text',
  '9,10',
  '"11",12,"open',
  'close"',
  '0x10, 16 ,hex and spaces',
  '-0,0.125,small',
  '12345678901234567,1,too many digits',
].join('\r\n');

describe('CsvDecoder', () => {
  it('reads the same rows, lines, values, echoes and errors whatever the block size', () => {
    const whole = decode(sample, 1 << 20);
    expect(whole.columns).toEqual(['a', 'b', 'note']);
    const approx = (v: number[]) => v.map((x) => Number(x.toPrecision(6)));
    expect(whole.rows.map((r) => [r.line, approx(r.values), r.echo])).toEqual([
      [2, [1, 2], '1,2,x'],
      [5, [1.5, -0.25], '1.5,-0.25,"quoted, with comma"'],
      [6, [300, 4], '3e2,+4,plain'],
      [7, [5, 6], '5,6,'],
      [11, [11, 12], '11,12,"open\nclose"'],
      [13, [16, 16], '0x10, 16 ,hex and spaces'],
      [14, [0, 0.125], '-0,0.125,small'],
      [15, [12345700000000000, 1], '12345678901234567,1,too many digits'],
    ]);
    expect(whole.bad).toEqual([
      { line: 8, error: 'column "b" is empty', record: 5 },
      { line: 9, error: 'column "b" holds "abc", not a finite number', record: 6 },
      { line: 10, error: 'has 2 fields, the header has 3', record: 7 },
    ]);
    expect(whole.records).toBe(11);
    for (const block of [1, 2, 3, 7, 16, 61]) expect(decode(sample, block)).toEqual(whole);
  });

  it('breaks lines at LF, CRLF and a lone CR, as readline does', () => {
    const { rows } = decode('a,b\n1,2\r\n3,4\r5,6\r\r\n7,8', 5);
    expect(rows.map((r) => [r.line, r.values])).toEqual([
      [2, [1, 2]],
      [3, [3, 4]],
      [4, [5, 6]],
      [6, [7, 8]],
    ]);
  });

  it('drops the records a resumed run has done, counting bad ones too', () => {
    const { rows, bad } = decode(sample, 13, { skip: 5 });
    expect(bad.map((b) => b.line)).toEqual([9, 10]);
    expect(rows[0]).toMatchObject({ line: 11, records: 8 });
  });

  it('stops at the first bad record in fail mode, counting only the records before it', () => {
    const r = decode(sample, 9, { onError: 'fail' });
    expect(r.rows.map((x) => x.line)).toEqual([2, 5, 6, 7]);
    expect(r.bad).toEqual([{ line: 8, error: 'FATAL column "b" is empty', record: 5 }]);
    expect(r.records).toBe(4);
  });

  it('echoes each row as a JSON object of its cells for JSON-lines output', () => {
    const { rows } = decode('a,b,c\n1,2,x\n"3",4,"y, z"\n', 4, { echoAs: 'jsonl' });
    expect(rows.map((r) => r.echo)).toEqual(['{"a":"1","b":"2","c":"x"}', '{"a":"3","b":"4","c":"y, z"}']);
  });

  it('refuses an empty file, a bad header and missing features as user errors', () => {
    const fails = (text: string) => {
      try {
        decode(text, 3);
      } catch (e) {
        expect(e).toBeInstanceOf(CodecError);
        return `${(e as CodecError).code}: ${(e as Error).message}`;
      }
      throw new Error('expected a refusal');
    };
    expect(fails('\n\n')).toBe("empty-file: in.csv: the file is empty; a header row naming the model's features is needed");
    expect(fails('a,a,b\n1,2,3\n')).toBe('bad-header: in.csv:1: column "a" appears twice in the header');
    expect(fails('a,c\n1,2\n')).toBe('missing-column: in.csv: column "b" that the model needs is missing from the header');
    expect(fails('"a,b\n')).toBe('bad-csv: in.csv:1: the header row: a quoted field opened on line 1 is never closed');
  });
});

describe('ByteSink.fixed6', () => {
  it('writes exactly what toFixed(6) writes for float32 values', () => {
    const sink = new ByteSink(64);
    const f32 = new Float32Array(1);
    const u32 = new Uint32Array(f32.buffer);
    let seed = 12345;
    const values = [0, -0, 1, -1, 0.5, 0.0000005, 0.0000015, 0.9999995, 999999999, -999999999, 1e9, 1e12, -1e-7, 123.4567895, Number.NaN, Infinity];
    for (let i = 0; i < 20000; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      u32[0] = i % 2 ? seed : (seed & 0x3fffffff) | 0x30000000;
      values.push(f32[0]!);
    }
    for (const v of values) {
      const x = Math.fround(v);
      sink.reserve(32);
      sink.fixed6(x);
      expect(Buffer.from(sink.drain()).toString()).toBe(x.toFixed(6));
    }
  });
});

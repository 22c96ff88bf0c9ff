import { Readable } from 'node:stream';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { csvField, csvRecords, splitQuoted, type CsvRecord } from './csv.js';

const read = async (text: string, chunk = 7): Promise<CsvRecord[]> => {
  // Small chunks: records and quotes must survive any split of the byte stream.
  const parts = Array.from({ length: Math.ceil(text.length / chunk) }, (_, i) => text.slice(i * chunk, (i + 1) * chunk));
  const out: CsvRecord[] = [];
  for await (const r of csvRecords(Readable.from(parts))) out.push(r);
  return out;
};

describe('csvRecords', () => {
  it('reads the same fields as csv-parse, quoted or not, with the line each record starts on', async () => {
    const text = [
      'a,b,c',
      '1,2,3',
      '',
      '"x, y",2,"say ""hi"""',
      '4,"multi',
      'line",6',
      '  ',
      '7,8,',
      '"",9,""',
    ].join('\n');
    const mine = await read(text);
    const theirs = parse(text, { relax_column_count: true, skip_empty_lines: true, info: true }) as unknown as { record: string[] }[];
    expect(mine.map((r) => ('cells' in r ? r.cells : r.error))).toEqual(theirs.map((t) => t.record).filter((r) => r.join('').trim() !== ''));
    expect(mine.map((r) => r.line)).toEqual([1, 2, 4, 5, 8, 9]);
    // An unquoted line is kept as it is, to be echoed without re-encoding.
    expect(mine[1]).toMatchObject({ text: '1,2,3' });
    expect(mine[2]).toMatchObject({ text: null });
  });

  it('takes CRLF line ends', async () => {
    expect((await read('a,b\r\n1,2\r\n')).map((r) => ('cells' in r ? r.cells : r.error))).toEqual([
      ['a', 'b'],
      ['1', '2'],
    ]);
  });

  it('drops a byte-order mark and reports a quote that never closes at the line it opened', async () => {
    const recs = await read('\uFEFFa,b\n1,2\n3,"open\n4,5\n');
    expect(recs[0]).toMatchObject({ line: 1, cells: ['a', 'b'] });
    expect(recs[2]).toMatchObject({ line: 3, error: 'a quoted field opened on line 3 is never closed' });
  });

  it('refuses text after a closing quote', () => {
    expect(splitQuoted('"a"b,c')).toBe('unexpected "b" after a closing quote in field 1');
    expect(splitQuoted('"a" ,b')).toEqual(['a', 'b']);
  });

  it('quotes a field for output only when it must', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(splitQuoted([csvField('a,"b"\nc'), csvField('d')].join(','))).toEqual(['a,"b"\nc', 'd']);
  });
});

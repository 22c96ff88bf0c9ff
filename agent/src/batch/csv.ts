/**
 * A streaming CSV record reader for batch inference. Numeric data files are mostly lines with
 * no quotes at all: those are split on commas directly (several times faster than a general
 * parser on a 64-column file); a line holding a quote goes through a full RFC 4180 field
 * parser, and a quoted field may span lines. Every record carries the line it starts on.
 */
import type { Readable } from 'node:stream';
import { createInterface } from 'node:readline';

export type CsvRecord =
  /** `text` is the record's own line when it held no quotes: it can be echoed as it is. */
  | { line: number; cells: string[]; text: string | null }
  | { line: number; error: string; text: string };

/** A quoted record longer than this is refused rather than buffered: memory stays flat. */
const MAX_RECORD_CHARS = 1 << 20;

export async function* csvRecords(input: Readable): AsyncGenerator<CsvRecord> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  let pending: string | null = null;
  let start = 0;
  for await (let text of lines) {
    n++;
    if (n === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (pending !== null) {
      pending += '\n' + text;
      if (!balanced(pending)) {
        if (pending.length > MAX_RECORD_CHARS) {
          yield { line: start, error: `a quoted field opened on line ${start} is still open after ${n - start + 1} lines`, text: pending.slice(0, 200) };
          pending = null;
        }
        continue;
      }
      text = pending;
      pending = null;
    } else {
      if (text.length === 0 || (text.charCodeAt(0) <= 32 && text.trim() === '')) continue;
      start = n;
      if (text.indexOf('"') < 0) {
        yield { line: n, cells: text.split(','), text };
        continue;
      }
      if (!balanced(text)) {
        pending = text;
        continue;
      }
    }
    const cells = splitQuoted(text);
    yield typeof cells === 'string' ? { line: start, error: cells, text } : { line: start, cells, text: null };
  }
  if (pending !== null) yield { line: start, error: `a quoted field opened on line ${start} is never closed`, text: pending.slice(0, 200) };
}

function balanced(text: string): boolean {
  let quotes = 0;
  for (let i = text.indexOf('"'); i >= 0; i = text.indexOf('"', i + 1)) quotes++;
  return quotes % 2 === 0;
}

/** RFC 4180 fields of one record: `"a, b"` and `"say ""hi"""` as quoted fields. Returns an error message instead of throwing. */
export function splitQuoted(text: string): string[] | string {
  const cells: string[] = [];
  let i = 0;
  for (;;) {
    if (text.charCodeAt(i) === 34) {
      let value = '';
      let j = i + 1;
      for (;;) {
        const q = text.indexOf('"', j);
        if (q < 0) return `a quoted field is never closed`;
        value += text.slice(j, q);
        if (text.charCodeAt(q + 1) === 34) {
          value += '"';
          j = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      // Only spaces may sit between a closing quote and the next comma.
      let k = i;
      while (k < text.length && text.charCodeAt(k) === 32) k++;
      if (k < text.length && text.charCodeAt(k) !== 44) return `unexpected "${text[k]}" after a closing quote in field ${cells.length + 1}`;
      cells.push(value);
      if (k >= text.length) return cells;
      i = k + 1;
      continue;
    }
    const comma = text.indexOf(',', i);
    if (comma < 0) {
      cells.push(text.slice(i));
      return cells;
    }
    cells.push(text.slice(i, comma));
    i = comma + 1;
  }
}

/** One CSV field as it must be written: quoted when it holds a comma, quote or line break. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

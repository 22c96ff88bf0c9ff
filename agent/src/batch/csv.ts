/**
 * CSV records for batch inference. Numeric data files are mostly lines with no quotes at all:
 * the batch decoder (decode.ts) reads those straight from bytes; a line holding a quote goes
 * through the assembler here and a full RFC 4180 field parser, and a quoted field may span
 * lines. Every record carries the line it starts on.
 */
import type { Readable } from 'node:stream';
import { createInterface } from 'node:readline';

export type CsvRecord =
  /** `text` is the record's own line when it held no quotes: it can be echoed as it is. */
  | { line: number; cells: string[]; text: string | null }
  | { line: number; error: string; text: string };

/** A quoted record longer than this is refused rather than buffered: memory stays flat. */
const MAX_RECORD_CHARS = 1 << 20;

/**
 * Assembles records from physical lines (terminators removed): blank lines are skipped, a quoted
 * field may span lines, and a record carries the line it starts on. Push-based, so a byte-level
 * reader can hand it only the lines its fast path does not take.
 */
export class CsvAssembler {
  private pending: string | null = null;
  private start = 0;

  /** True while a quoted field is open across lines: the next line belongs to that record. */
  get open(): boolean {
    return this.pending !== null;
  }

  /** Line `n` (1-based); returns the record it completes, if any. */
  line(text: string, n: number): CsvRecord | undefined {
    if (this.pending !== null) {
      this.pending += '\n' + text;
      if (!balanced(this.pending)) {
        if (this.pending.length > MAX_RECORD_CHARS) {
          const rec = { line: this.start, error: `a quoted field opened on line ${this.start} is still open after ${n - this.start + 1} lines`, text: this.pending.slice(0, 200) };
          this.pending = null;
          return rec;
        }
        return undefined;
      }
      text = this.pending;
      this.pending = null;
    } else {
      if (text.length === 0 || (text.charCodeAt(0) <= 32 && text.trim() === '')) return undefined;
      this.start = n;
      if (text.indexOf('"') < 0) return { line: n, cells: text.split(','), text };
      if (!balanced(text)) {
        this.pending = text;
        return undefined;
      }
    }
    const cells = splitQuoted(text);
    return typeof cells === 'string' ? { line: this.start, error: cells, text } : { line: this.start, cells, text: null };
  }

  /** At the end of the input: the record a quote left open, if any. */
  end(): CsvRecord | undefined {
    if (this.pending === null) return undefined;
    const rec = { line: this.start, error: `a quoted field opened on line ${this.start} is never closed`, text: this.pending.slice(0, 200) };
    this.pending = null;
    return rec;
  }
}

export async function* csvRecords(input: Readable): AsyncGenerator<CsvRecord> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  const assembler = new CsvAssembler();
  let n = 0;
  for await (let text of lines) {
    n++;
    if (n === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    const rec = assembler.line(text, n);
    if (rec) yield rec;
  }
  const last = assembler.end();
  if (last) yield last;
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

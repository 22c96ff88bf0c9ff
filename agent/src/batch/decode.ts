/**
 * Input decoding for batch inference: blocks of bytes in, standardised feature rows out, plus
 * what the output needs of each row (its line and the text to echo). Lines are cut from bytes
 * as readline cuts them (LF, CRLF, or a lone CR); the formats read them (decode-csv.ts,
 * decode-jsonl.ts).
 *
 * Runs in the batch worker thread, so it imports nothing heavy: no schemas, no tfjs.
 */
import type { ModelSpec } from '@edgeml/core';
import type { DataFormat } from './formats.js';

export interface DecoderOptions {
  /** The input file, for messages. */
  file: string;
  spec: ModelSpec;
  /** The output format, which decides how the input is echoed. */
  echoAs: DataFormat;
  onError: 'skip' | 'fail';
  /** Records a resumed run already has: read and dropped. */
  skip: number;
}

/** A user error found in the input as a whole (a bad header, an empty file). */
export class CodecError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'CodecError';
  }
}

export interface BadRecord {
  line: number;
  error: string;
  text: string;
  /** Its ordinal among the file's records. */
  record: number;
}

/** What decoding one block gives the thread that runs the model. */
export interface Decoded {
  /** Good rows, standardised into `x` (n * width values; `x` may be longer). */
  n: number;
  x: Float32Array;
  /** For each good row, the records read through it, counted over the whole file. */
  rowRecords: Int32Array;
  /** Records read through the end of this block (in fail mode: up to the fatal record). */
  records: number;
  bad: BadRecord[];
  /** Fail mode: the first bad record. Nothing after it is read. */
  fatal?: BadRecord;
  /** Once, when known: the input's columns (what a CSV output echoes). */
  columns?: string[];
  /** The input is decoded to its end. */
  done: boolean;
}

/** What the output needs of each good row of a block: its line and the text to echo. */
export interface EchoRows {
  n: number;
  lines: Int32Array;
  /** Echo bytes [start, end) of `src`, or `text[i]` where start is -1. */
  src: Uint8Array;
  start: Int32Array;
  end: Int32Array;
  text: (string | undefined)[];
}

/** Row buffers handed back after use, to decode later blocks into: memory stays flat. */
export interface Spare {
  x: Float32Array;
  rowRecords: Int32Array;
}

export interface Decoder {
  /** Decode the next block; `null` marks the end of the input. */
  decode(block: Uint8Array | null, spare?: Spare): { decoded: Decoded; echo: EchoRows };
}

const EMPTY = new Uint8Array(0);

/** The rows of one block being decoded; grows if a block holds more rows than estimated. */
export class Piece implements EchoRows {
  n = 0;
  x: Float32Array;
  rowRecords: Int32Array;
  lines: Int32Array;
  start: Int32Array;
  end: Int32Array;
  text: (string | undefined)[] = [];
  bad: BadRecord[] = [];
  fatal?: BadRecord;
  columns?: string[];

  constructor(
    private capacity: number,
    readonly width: number,
    readonly src: Uint8Array,
    spare?: Spare,
  ) {
    if (spare && spare.rowRecords.length >= capacity && spare.x.length >= capacity * width) {
      this.capacity = capacity = spare.rowRecords.length;
      this.x = spare.x;
      this.rowRecords = spare.rowRecords;
    } else {
      this.x = new Float32Array(capacity * width);
      this.rowRecords = new Int32Array(capacity);
    }
    this.lines = new Int32Array(capacity);
    this.start = new Int32Array(capacity);
    this.end = new Int32Array(capacity);
  }

  /** Make sure row `n` has room; returns its offset in `x`. */
  slot(): number {
    if (this.n === this.capacity) {
      const cap = this.capacity * 2;
      const grow = <T extends Float32Array | Int32Array>(a: T, make: (n: number) => T, per = 1): T => {
        const b = make(cap * per);
        b.set(a);
        return b;
      };
      this.x = grow(this.x, (k) => new Float32Array(k), this.width);
      this.rowRecords = grow(this.rowRecords, (k) => new Int32Array(k));
      this.lines = grow(this.lines, (k) => new Int32Array(k));
      this.start = grow(this.start, (k) => new Int32Array(k));
      this.end = grow(this.end, (k) => new Int32Array(k));
      this.capacity = cap;
    }
    return this.n * this.width;
  }

  /** Row `n` (written into `x` already) is done: echo bytes [start, end) of `src`, or `text`. */
  commit(line: number, records: number, start: number, end: number, text?: string): void {
    const i = this.n++;
    this.lines[i] = line;
    this.rowRecords[i] = records;
    this.start[i] = text === undefined ? start : -1;
    this.end[i] = end;
    if (text !== undefined) this.text[i] = text;
  }

  result(records: number, done: boolean): Decoded {
    const d: Decoded = { n: this.n, x: this.x, rowRecords: this.rowRecords, records, bad: this.bad, done };
    if (this.fatal) d.fatal = this.fatal;
    if (this.columns) d.columns = this.columns;
    return d;
  }
}

/**
 * Cuts blocks into lines and counts them; subclasses read the lines. A line is handed over
 * without its terminator (a CRLF's CR included); a lone CR inside it is a line break too, which
 * subclasses split with `eachLine` on the line's text.
 */
export abstract class LineDecoder implements Decoder {
  protected lineNo = 0;
  protected records = 0;
  /** Fail mode found a bad record: nothing more is read. */
  protected stopped = false;
  protected readonly width: number;
  protected readonly mean: Float32Array;
  protected readonly inv: Float32Array;
  private carry: Buffer | null = null;

  constructor(protected readonly o: DecoderOptions) {
    this.width = o.spec.features.length;
    this.mean = Float32Array.from(o.spec.preprocessing.mean);
    this.inv = Float32Array.from(o.spec.preprocessing.std, (s) => 1 / s);
  }

  /**
   * Carry on at a record boundary after `lineNo` lines, counting records from 0: a worker
   * decodes the blocks of one file out of order, each from the line it starts on.
   */
  rebase(lineNo: number): void {
    this.lineNo = lineNo;
    this.records = 0;
    this.stopped = false;
    this.carry = null;
  }

  /** Lines and records read so far. */
  get position(): { lines: number; records: number } {
    return { lines: this.lineNo, records: this.records };
  }

  /** The input's columns, read from its start by another decoder. */
  abstract useColumns(columns: string[]): void;

  /** One line [s, e) of `buf`; `inSrc` says whether `buf` is the block the piece echoes from. */
  protected abstract line(buf: Buffer, s: number, e: number, inSrc: boolean, piece: Piece): void;
  /** The input has ended. */
  protected abstract finish(piece: Piece): void;

  decode(block: Uint8Array | null, spare?: Spare): { decoded: Decoded; echo: EchoRows } {
    const bytes = (block?.length ?? 0) + (this.carry?.length ?? 0);
    // A row holds at least one character and one separator per feature.
    const piece = new Piece(Math.floor(bytes / (2 * this.width)) + 2, this.width, block ?? EMPTY, spare);
    if (!this.stopped) {
      if (block === null) this.end(piece);
      else this.block(Buffer.from(block.buffer, block.byteOffset, block.length), piece);
    }
    const records = piece.fatal ? piece.fatal.record - 1 : this.records;
    return { decoded: piece.result(records, block === null || this.stopped), echo: piece };
  }

  private block(buf: Buffer, piece: Piece): void {
    let pos = 0;
    if (this.carry) {
      const nl = buf.indexOf(10);
      if (nl < 0) {
        this.carry = Buffer.concat([this.carry, buf]);
        return;
      }
      const joined = Buffer.concat([this.carry, buf.subarray(0, nl)]);
      this.carry = null;
      this.cut(joined, 0, joined.length, false, piece);
      pos = nl + 1;
    }
    while (!this.stopped) {
      const nl = buf.indexOf(10, pos);
      if (nl < 0) break;
      this.cut(buf, pos, nl, true, piece);
      pos = nl + 1;
    }
    if (!this.stopped && pos < buf.length) this.carry = Buffer.from(buf.subarray(pos));
  }

  private end(piece: Piece): void {
    if (this.carry) {
      const last = this.carry;
      this.carry = null;
      this.cut(last, 0, last.length, false, piece);
    }
    if (!this.stopped) this.finish(piece);
  }

  private cut(buf: Buffer, s: number, e: number, inSrc: boolean, piece: Piece): void {
    this.lineNo++;
    this.line(buf, s, e > s && buf[e - 1] === 13 ? e - 1 : e, inSrc, piece);
  }

  /** The text of a line, split at lone CRs as readline splits it; counts the extra lines. */
  protected eachLine(text: string, fn: (text: string, line: number) => void): void {
    if (this.lineNo === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (text.indexOf('\r') < 0) {
      fn(text, this.lineNo);
      return;
    }
    const parts = text.split('\r');
    for (let i = 0; i < parts.length && !this.stopped; i++) {
      if (i > 0) this.lineNo++;
      fn(parts[i]!, this.lineNo);
    }
  }

  /** A bad record: kept for the errors file, or (fail mode) the end of reading. */
  protected bad(line: number, error: string, text: string, piece: Piece): void {
    const rec: BadRecord = { line, error, text: text.slice(0, 1000), record: this.records };
    if (this.o.onError === 'fail') {
      piece.fatal = rec;
      this.stopped = true;
    } else piece.bad.push(rec);
  }

  /** Standardise row values already checked (raw, in `raw`) into the piece's next slot. */
  protected put(raw: ArrayLike<number>, piece: Piece): void {
    const o = piece.slot();
    const { x } = piece;
    for (let j = 0; j < this.width; j++) x[o + j] = (Math.fround(raw[j]!) - this.mean[j]!) * this.inv[j]!;
  }
}

/**
 * Cuts a batch input file into blocks that workers can decode on their own: each block starts
 * at a record boundary, and the line it starts on is known before any of it is decoded. A CSV
 * record may span lines inside a quoted field, so a CSV block ends only at a line break where
 * the quotes seen so far are balanced, which is exactly where the CSV reader (csv.ts) closes a
 * record. Counting line breaks counts as the decoder does: LF, CRLF and a lone CR.
 */
import type { FileHandle } from 'node:fs/promises';
import type { DataFormat } from './formats.js';

export interface Block {
  bytes: Buffer;
  /** Where the block starts and ends in the file. */
  offset: number;
  end: number;
  /** Lines before the block; the block's own lines; undefined when it may end inside a record. */
  lineBase: number;
  lineCount: number;
  /** False once the input could not be cut at a record boundary: the decoder carries its state over. */
  cut: boolean;
  /** The input ends with this block. */
  last: boolean;
}

/**
 * A quoted field still open after this many bytes gives up cutting: from there on, blocks go
 * in order to one decoder (the CSV reader reports such a field as bad at 1 M characters).
 */
const MAX_OPEN_BYTES = 4 << 20;

export class BlockReader {
  private carry: Buffer = Buffer.alloc(0);
  private pos: number;
  private lines: number;
  private cutting = true;
  private ended = false;

  constructor(
    private readonly fh: FileHandle,
    private readonly format: DataFormat,
    private readonly blockBytes: number,
    start: { offset: number; lines: number },
  ) {
    this.pos = start.offset;
    this.lines = start.lines;
  }

  /** The next block; after the one marked `last`, null. */
  async next(): Promise<Block | null> {
    if (this.ended) return null;
    for (;;) {
      const buf = Buffer.allocUnsafeSlow(this.carry.length + this.blockBytes);
      this.carry.copy(buf, 0);
      let n = this.carry.length;
      while (n < buf.length) {
        const { bytesRead } = await this.fh.read(buf, n, buf.length - n, this.pos + (n - this.carry.length));
        if (bytesRead === 0) break;
        n += bytesRead;
      }
      const offset = this.pos - this.carry.length;
      const got = n - this.carry.length;
      this.pos += got;
      const data = buf.subarray(0, n);
      const last = got < this.blockBytes;
      if (last || !this.cutting) return this.take(data, offset, n, last);
      const cut = this.format === 'csv' ? balancedCut(data) : data.lastIndexOf(10) + 1;
      if (cut > 0) {
        this.carry = Buffer.from(data.subarray(cut));
        return this.take(data.subarray(0, cut), offset, cut, false);
      }
      this.carry = Buffer.from(data);
      if (this.carry.length > MAX_OPEN_BYTES) this.cutting = false;
    }
  }

  private take(bytes: Buffer, offset: number, length: number, last: boolean): Block {
    const block: Block = { bytes, offset, end: offset + length, lineBase: this.lines, lineCount: 0, cut: this.cutting, last };
    if (!last && this.cutting) {
      block.lineCount = countLines(bytes);
      this.lines += block.lineCount;
    }
    if (!this.cutting) this.carry = Buffer.alloc(0);
    if (last) this.ended = true;
    return block;
  }
}

/** The end of the last line at which the quotes of `data` (starting balanced) are balanced; 0 if none. */
function balancedCut(data: Buffer): number {
  if (data.indexOf(34) < 0) return data.lastIndexOf(10) + 1;
  let open = false;
  let cut = 0;
  for (let i = 0; i < data.length; i++) {
    const b = data[i];
    if (b === 34) open = !open;
    else if (b === 10 && !open) cut = i + 1;
  }
  return cut;
}

/** Line breaks in `data`, which ends with a LF: every LF, and every CR not followed by one. */
export function countLines(data: Buffer): number {
  let n = 0;
  for (let i = data.indexOf(10); i >= 0; i = data.indexOf(10, i + 1)) n++;
  if (data.indexOf(13) >= 0) {
    for (let i = 0; i < data.length; i++) if (data[i] === 13 && data[i + 1] !== 10) n++;
  }
  return n;
}

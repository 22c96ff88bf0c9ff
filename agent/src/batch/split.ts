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

/** Room kept in a block's buffer for the partial record carried from the block before. */
const CARRY_ROOM = 64 << 10;

/** Blocks near the end of the input shrink to this size at least (see BlockReader.want). */
const MIN_BLOCK_BYTES = 64 << 10;

export interface BlockReaderOptions {
  /** Where to start: a record boundary, and the lines before it. */
  start: { offset: number; lines: number };
  /** The file's size when the run began, to shrink the last blocks. */
  size: number;
  /** Blocks in flight at once: what is left near the end is shared out in this many pieces. */
  spread: number;
  /**
   * The first block ends after the first record (a CSV's header): it goes to one worker alone,
   * so the others wait for the columns for as long as one line takes, not a whole block.
   */
  firstRecordAlone: boolean;
}

export class BlockReader {
  private carry: Buffer = Buffer.alloc(0);
  private pos: number;
  private lines: number;
  private cutting = true;
  private ended = false;
  private first: boolean;
  /** Buffers handed back (see recycle), to read into again instead of allocating. */
  private readonly free: ArrayBuffer[] = [];

  constructor(
    private readonly fh: FileHandle,
    private readonly format: DataFormat,
    private readonly blockBytes: number,
    private readonly o: BlockReaderOptions,
  ) {
    this.pos = o.start.offset;
    this.lines = o.start.lines;
    this.first = o.firstRecordAlone;
  }

  /**
   * A block's buffer, once nothing reads it any more. Reading into it again, rather than into a
   * new one, keeps the run from allocating a MB per block: such allocations count as external
   * memory and each few dozen of them buy a full garbage collection.
   */
  recycle(buf: ArrayBuffer): void {
    if (this.free.length <= this.o.spread && buf.byteLength >= this.blockBytes) this.free.push(buf);
  }

  /** The next block; after the one marked `last`, null. */
  async next(): Promise<Block | null> {
    if (this.ended) return null;
    for (;;) {
      const want = this.want();
      const buf = this.buffer(this.carry.length + want);
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
      const last = got < want;
      if (last || !this.cutting) return this.take(data, offset, n, last);
      let cut = 0;
      if (this.first) cut = this.format === 'csv' ? balancedCut(data, true) : data.indexOf(10) + 1;
      this.first = false;
      if (cut === 0) cut = this.format === 'csv' ? balancedCut(data, false) : data.lastIndexOf(10) + 1;
      if (cut > 0) {
        this.carry = Buffer.from(data.subarray(cut));
        return this.take(data.subarray(0, cut), offset, cut, false);
      }
      this.carry = Buffer.from(data);
      if (this.carry.length > MAX_OPEN_BYTES) this.cutting = false;
    }
  }

  /**
   * Bytes to read next: a whole block, but near the end of the input a share of what is left,
   * so that the last blocks in flight are small and the workers finish together instead of one
   * idling while another decodes a whole block.
   */
  private want(): number {
    // The first record is usually a short header: reading a whole block for it would carry the
    // rest into a buffer twice the size.
    if (this.first) return Math.min(this.blockBytes, MIN_BLOCK_BYTES);
    const left = this.o.size - this.pos;
    return Math.min(this.blockBytes, Math.max(MIN_BLOCK_BYTES, Math.ceil(left / this.o.spread)));
  }

  /** A buffer of `size` bytes to read into: a recycled one when one is big enough. */
  private buffer(size: number): Buffer {
    const i = this.free.findIndex((b) => b.byteLength >= size);
    const ab = i >= 0 ? this.free.splice(i, 1)[0]! : new ArrayBuffer(Math.max(size, this.blockBytes + CARRY_ROOM));
    return Buffer.from(ab, 0, size);
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

/**
 * The end of the last line (with `first`, the first line) at which the quotes of `data`,
 * starting balanced, are balanced; 0 if none. A block without a quote byte needs no scan of
 * its own: two native searches find the line break.
 */
function balancedCut(data: Buffer, first: boolean): number {
  if (data.indexOf(34) < 0) return first ? data.indexOf(10) + 1 : data.lastIndexOf(10) + 1;
  let open = false;
  let cut = 0;
  for (let i = 0; i < data.length; i++) {
    const b = data[i];
    if (b === 34) open = !open;
    else if (b === 10 && !open) {
      cut = i + 1;
      if (first) break;
    }
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

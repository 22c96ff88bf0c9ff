/**
 * CSV input for batch inference. A line that is a plain record of numbers is parsed straight
 * from its bytes; anything else (quotes, blanks, text in a feature column, the header) goes
 * through the general record path (csv.ts) with the exact messages the user reads.
 */
import { FLOAT32_MAX, fitsFloat32 } from '@edgeml/core';
import { CsvAssembler, csvField, type CsvRecord } from './csv.js';
import { CodecError, LineDecoder, type DecoderOptions, type Piece } from './decode.js';

/** Powers of ten a decimal with up to 15 digits divides by exactly. */
const POW10 = Array.from({ length: 16 }, (_, i) => 10 ** i);

export class CsvDecoder extends LineDecoder {
  private readonly assembler = new CsvAssembler();
  private header: string[] | undefined;
  /** For each name the rows are keyed by (inputNames), its column in the file. */
  protected cols: number[] = [];
  /** For each input column, the feature it holds, or -1. */
  private colFeature = new Int32Array(0);
  protected readonly raw: Float64Array;
  /** The header names a row needs: the model's features (numbers) unless a subclass says otherwise. */
  protected inputNames: string[];
  /** Records of plain numbers in feature order may be parsed from their bytes. */
  protected plainNumbers = true;

  constructor(o: DecoderOptions) {
    super(o);
    this.raw = new Float64Array(this.width);
    this.inputNames = o.spec.features;
  }

  protected line(buf: Buffer, s: number, e: number, inSrc: boolean, piece: Piece): void {
    if (this.plainNumbers && this.header && !this.assembler.open) {
      if (s === e) return;
      // A line starting with a space or control character may be blank: the general path decides.
      if (buf[s]! > 32 && this.fast(buf, s, e, inSrc, piece)) return;
    }
    this.eachLine(buf.toString('utf8', s, e), (text, n) => {
      const rec = this.assembler.line(text, n);
      if (rec) this.record(rec, piece);
    });
  }

  protected finish(piece: Piece): void {
    const rec = this.assembler.end();
    if (rec) this.record(rec, piece);
    if (!this.header) throw new CodecError('empty-file', `${this.o.file}: the file is empty; a header row naming the model's features is needed`);
  }

  /**
   * A record of plain numbers, read from its bytes. Gives up (false, nothing consumed) on
   * anything the general path must judge: quotes, a CR, a wrong number of fields, a cell that is
   * not a finite number. Cells other than plain decimals go through Number() as they would there.
   */
  private fast(buf: Buffer, s: number, e: number, inSrc: boolean, piece: Piece): boolean {
    const cols = this.colFeature;
    const H = cols.length;
    const o = piece.slot();
    const { x } = piece;
    const { mean, inv } = this;
    let c = 0;
    let p = s;
    for (;;) {
      if (c >= H) return false;
      const j = cols[c]!;
      if (j < 0) {
        for (; p < e; p++) {
          const b = buf[p]!;
          if (b === 44) break;
          if (b === 34 || b === 13) return false;
        }
      } else {
        const f0 = p;
        let neg = false;
        if (p < e && (buf[p] === 45 || buf[p] === 43)) neg = buf[p++] === 45;
        let m = 0;
        let digits = 0;
        let frac = 0;
        for (; p < e; p++) {
          const d = buf[p]! - 48;
          if (d < 0 || d > 9) break;
          m = m * 10 + d;
          digits++;
        }
        if (p < e && buf[p] === 46) {
          for (p++; p < e; p++) {
            const d = buf[p]! - 48;
            if (d < 0 || d > 9) break;
            m = m * 10 + d;
            digits++;
            frac++;
          }
        }
        let v: number;
        if (digits > 0 && digits <= 15 && (p === e || buf[p] === 44)) {
          // Both operands are exact, so the quotient is the correctly rounded value Number() gives.
          v = m / POW10[frac]!;
          if (neg) v = -v;
        } else {
          for (; p < e; p++) {
            const b = buf[p]!;
            if (b === 44) break;
            if (b === 34 || b === 13) return false;
          }
          const cell = buf.toString('utf8', f0, p);
          v = Number(cell);
          if (!fitsFloat32(v) || (v === 0 && cell.trim() === '')) return false;
        }
        x[o + j] = (Math.fround(v) - mean[j]!) * inv[j]!;
      }
      c++;
      if (p >= e) break;
      p++;
    }
    if (c !== H) return false;
    this.records++;
    if (this.records <= this.o.skip) return true;
    if (this.o.echoAs === 'jsonl') piece.commit(this.lineNo, this.records, 0, 0, this.jsonEcho(buf.toString('utf8', s, e).split(',')));
    else if (inSrc) piece.commit(this.lineNo, this.records, s, e);
    else piece.commit(this.lineNo, this.records, 0, 0, buf.toString('utf8', s, e));
    return true;
  }

  private record(rec: CsvRecord, piece: Piece): void {
    if (!this.header) {
      this.setHeader(rec, piece);
      return;
    }
    this.records++;
    if (this.records <= this.o.skip) return;
    if ('error' in rec) {
      this.bad(rec.line, rec.error, rec.text, piece);
      return;
    }
    const { cells } = rec;
    const H = this.header.length;
    if (cells.length !== H) {
      this.bad(rec.line, `has ${cells.length} fields, the header has ${H}`, rec.text ?? cells.join(','), piece);
      return;
    }
    const error = this.encodeCells(cells);
    if (error !== undefined) {
      this.bad(rec.line, error, rec.text ?? cells.join(','), piece);
      return;
    }
    this.put(this.raw, piece);
    const echo = this.o.echoAs === 'jsonl' ? this.jsonEcho(cells) : (rec.text ?? cells.map(csvField).join(','));
    piece.commit(rec.line, this.records, 0, 0, echo);
  }

  /** A record's cells into `raw` (unstandardised features); returns what is wrong with it. */
  protected encodeCells(cells: string[]): string | undefined {
    const { features } = this.o.spec;
    for (let j = 0; j < this.width; j++) {
      const cell = cells[this.cols[j]!]!;
      const v = Number(cell);
      // Number('') and Number('  ') are 0: an empty cell is missing, not zero.
      if (!Number.isFinite(v) || (v === 0 && cell.trim() === '')) {
        return cell.trim() === '' ? `column "${features[j]}" is empty` : `column "${features[j]}" holds "${cell.slice(0, 40)}", not a finite number`;
      }
      if (!fitsFloat32(v)) return `column "${features[j]}" holds "${cell.slice(0, 40)}", outside the float32 range (|x| <= ${FLOAT32_MAX})`;
      this.raw[j] = v;
    }
    return undefined;
  }

  private jsonEcho(cells: string[]): string {
    return JSON.stringify(Object.fromEntries(this.header!.map((h, i) => [h, cells[i]])));
  }

  useColumns(columns: string[]): void {
    this.header = columns;
    this.cols = this.inputNames.map((f) => columns.indexOf(f));
    this.colFeature = new Int32Array(columns.length).fill(-1);
    this.cols.forEach((c, j) => (this.colFeature[c] = j));
  }

  private setHeader(rec: CsvRecord, piece: Piece): void {
    const { file } = this.o;
    if ('error' in rec) throw new CodecError('bad-csv', `${file}:${rec.line}: the header row: ${rec.error}`);
    const header = rec.cells.map((c) => c.trim());
    const seen = new Set<string>();
    for (const h of header) {
      if (seen.has(h)) throw new CodecError('bad-header', `${file}:${rec.line}: column "${h}" appears twice in the header`);
      seen.add(h);
    }
    const missing = this.inputNames.filter((f) => !seen.has(f));
    if (missing.length) {
      throw new CodecError(
        'missing-column',
        `${file}: column${missing.length > 1 ? 's' : ''} ${missing.slice(0, 10).map((m) => `"${m}"`).join(', ')} that the model needs ${missing.length > 1 ? 'are' : 'is'} missing from the header`,
      );
    }
    this.useColumns(header);
    piece.columns = header;
  }
}

/**
 * CSV input for a model with column rules (text categories, filled gaps): each record's cells
 * go through the spec's column encoder, the code the hub encoded its training rows with. Loaded
 * only for such models, so a numbers-only run keeps its light worker.
 */
import { columnEncoder, InputError, type ColumnEncoder } from '@edgeml/runtime';
import { CsvDecoder } from './decode-csv.js';
import type { DecoderOptions } from './decode.js';

export class ColumnsCsvDecoder extends CsvDecoder {
  private readonly encoder: ColumnEncoder;
  private readonly cells: string[];
  private readonly out: Float32Array;

  constructor(o: DecoderOptions) {
    super(o);
    this.encoder = columnEncoder(o.spec)!;
    this.inputNames = [...this.encoder.names];
    // Numbers-only columns (gaps filled) keep the byte parser: it hands any gap to encodeCells.
    this.plainNumbers = this.encoder.columns.every((c) => c.kind === 'numeric');
    this.cells = new Array<string>(this.encoder.names.length);
    this.out = new Float32Array(this.width);
  }

  protected override encodeCells(cells: string[]): string | undefined {
    for (let j = 0; j < this.cols.length; j++) this.cells[j] = cells[this.cols[j]!]!;
    try {
      this.encoder.encode(this.cells, 0, this.out, 0);
    } catch (e) {
      if (e instanceof InputError) return e.message.replace(/^row 0: /, '');
      throw e;
    }
    this.raw.set(this.out);
    return undefined;
  }
}

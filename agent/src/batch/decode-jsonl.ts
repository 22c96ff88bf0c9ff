/**
 * JSON-lines input for batch inference: each line an object of named features (other keys are
 * kept in the echo, not refused) or an array in feature order (nested in the model's input shape
 * for image models). Loaded only when a run reads JSON lines.
 */
import { float32Problem, type ModelSpec } from '@edgeml/core';
import { InputError, inputNames } from '@edgeml/runtime';
import { encodeRaw } from '../serve/pipeline.js';
import { csvField } from './csv.js';
import { LineDecoder, type DecoderOptions, type Piece } from './decode.js';

export class JsonlDecoder extends LineDecoder {
  private readonly raw: Float32Array;
  private columnsSent = false;
  /** What a CSV output echoes: the model's columns (text, gaps) or its features. */
  private readonly names: string[];

  constructor(o: DecoderOptions) {
    super(o);
    this.raw = new Float32Array(this.width);
    this.names = inputNames(o.spec);
  }

  useColumns(): void {
    this.columnsSent = true;
  }

  protected line(buf: Buffer, s: number, e: number, _inSrc: boolean, piece: Piece): void {
    // A JSON line has no fixed columns: a CSV output echoes the model's features.
    if (!this.columnsSent) {
      piece.columns = this.names;
      this.columnsSent = true;
    }
    this.eachLine(buf.toString('utf8', s, e), (text, n) => this.record(text, n, piece));
  }

  protected finish(piece: Piece): void {
    if (!this.columnsSent) piece.columns = this.names;
  }

  private record(text: string, n: number, piece: Piece): void {
    if (text.length === 0 || (text.charCodeAt(0) <= 32 && text.trim() === '')) return;
    this.records++;
    if (this.records <= this.o.skip) return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      this.bad(n, `not valid JSON: ${(e as Error).message}`, text, piece);
      return;
    }
    const error = encodeJson(this.o.spec, value, this.raw);
    if (error) {
      this.bad(n, error, text, piece);
      return;
    }
    this.put(this.raw, piece);
    piece.commit(n, this.records, 0, 0, this.o.echoAs === 'csv' ? this.csvEcho(value) : text.trim());
  }

  private csvEcho(value: unknown): string {
    if (!this.o.spec.preprocessing.columns) return Array.from(this.raw, String).join(',');
    // The row's own values, gaps as empty cells: what the model was given, not its encoding.
    const cells = Array.isArray(value) ? value : this.names.map((k) => (value as Record<string, unknown>)[k]);
    return cells.map((v) => (v === null || v === undefined ? '' : csvField(String(v)))).join(',');
  }
}

/** A JSON record into `raw` (float32, as the model takes it); returns what is wrong with it. */
function encodeJson(spec: ModelSpec, value: unknown, raw: Float32Array): string | undefined {
  const width = spec.features.length;
  // Column rules take arrays and objects alike; keys that are not columns stay in the echo.
  if (Array.isArray(value) || spec.preprocessing.columns) {
    try {
      encodeRaw(spec, value, 0, raw, 0, 'ignore');
    } catch (e) {
      if (e instanceof InputError) return e.message.replace(/^row 0: /, '');
      throw e;
    }
    return undefined;
  }
  if (value === null || typeof value !== 'object') return `expected an object of named features or an array of ${width} numbers, not ${value === null ? 'null' : typeof value}`;
  const obj = value as Record<string, unknown>;
  for (let j = 0; j < width; j++) {
    const name = spec.features[j]!;
    if (!Object.hasOwn(obj, name)) return `feature "${name}" is missing`;
    const v = obj[name];
    if (typeof v !== 'number') return `feature "${name}" is ${v === null ? 'null' : typeof v}, not a number`;
    const problem = float32Problem(v);
    if (problem) return `feature "${name}" is ${problem}`;
    raw[j] = v;
  }
  return undefined;
}

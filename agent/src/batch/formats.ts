/**
 * Batch output formats. An output row is the input line number, the echoed input, the
 * prediction (label, confidence and each class probability, or a value) and the model's name
 * and version; CSV or JSON lines. Rows are written as bytes straight from the model's outputs.
 */
import type { ModelSpec } from '@edgeml/core';
import { ByteSink } from './bytes.js';
import { csvField } from './csv.js';
import { CodecError, type EchoRows } from './decode.js';

export type DataFormat = 'csv' | 'jsonl';

/** `.csv` or `.jsonl`/`.ndjson`, else undefined. */
export function formatOfPath(path: string): DataFormat | undefined {
  const lower = path.toLowerCase();
  if (lower.endsWith('.csv')) return 'csv';
  if (lower.endsWith('.jsonl') || lower.endsWith('.ndjson')) return 'jsonl';
  return undefined;
}

export interface ModelStamp {
  name: string;
  /** The signed release version, or `sha256:<prefix>` for a model directory. */
  version: number | string;
}

/** Columns the output adds; an input with a column of the same name would be ambiguous. */
export function addedColumns(spec: ModelSpec): string[] {
  const probs = spec.task === 'classification' ? ['confidence', ...spec.labels!.map((l) => `p_${l}`)] : [];
  return ['line', 'prediction', ...probs, 'model', 'model_version'];
}

/** Probabilities come from float32 outputs: six decimals is all they carry (see ByteSink.fixed6). */
const fmtValue = (v: number) => String(Number(v.toPrecision(7)));

const bytesOf = (s: string) => Buffer.from(s, 'utf8');

export class OutputEncoder {
  /** Written once at the top of a new output file. */
  readonly header: string;
  private readonly sink = new ByteSink(1 << 20);
  private readonly classify: boolean;
  private readonly target: { mean: number; std: number } | undefined;
  /** Per class: the label as the format writes it. */
  private readonly labels: Buffer[];
  private readonly tail: Buffer;
  private readonly rowBytes: number;
  private readonly json: boolean;
  /** JSON lines: the probabilities' keys, `"label":` (the first without its comma). */
  private readonly keys: Buffer[];

  constructor(
    format: DataFormat,
    spec: ModelSpec,
    echoColumns: string[],
    model: ModelStamp,
    file: string,
  ) {
    this.json = format === 'jsonl';
    this.classify = spec.task === 'classification';
    this.target = spec.preprocessing.target;
    const labels = spec.labels ?? [];
    if (this.json) {
      this.header = '';
      this.labels = labels.map((l) => bytesOf(JSON.stringify(l)));
      this.keys = labels.map((l, c) => bytesOf(`${c ? ',' : ''}${JSON.stringify(l)}:`));
      this.tail = bytesOf(`,"model":${JSON.stringify(model.name)},"model_version":${JSON.stringify(model.version)}}\n`);
    } else {
      const added = addedColumns(spec);
      const clash = echoColumns.filter((c) => added.includes(c));
      if (clash.length) {
        throw new CodecError('column-clash', `${file}: the input has column${clash.length > 1 ? 's' : ''} ${clash.map((c) => `"${c}"`).join(', ')}, which the output adds; rename ${clash.length > 1 ? 'them' : 'it'} in the input`);
      }
      this.header = ['line', ...echoColumns, ...added.slice(1)].map(csvField).join(',') + '\n';
      this.labels = labels.map((l) => bytesOf(csvField(l)));
      this.keys = [];
      this.tail = bytesOf(`,${csvField(model.name)},${csvField(String(model.version))}\n`);
    }
    // Room for everything in a row but its echo: line number, label, numbers, keys, tail.
    const longest = (a: Buffer[]) => a.reduce((m, b) => Math.max(m, b.length), 0);
    this.rowBytes = 64 + longest(this.labels) + (labels.length + 1) * 40 + this.keys.reduce((a, k) => a + k.length, 0) + this.tail.length;
  }

  /**
   * Rows [0, rows) of a decoded block, with the model's outputs for them (outSize per row). The
   * bytes are a view of the encoder's buffer, valid until the next call.
   */
  encode(echo: EchoRows, outputs: Float32Array, rows: number, outSize: number): Uint8Array {
    const s = this.sink;
    for (let i = 0; i < rows; i++) {
      const start = echo.start[i]!;
      s.reserve(this.rowBytes);
      if (this.json) s.bytes(LINE_JSON);
      s.uint(echo.lines[i]!);
      s.bytes(this.json ? INPUT_JSON : COMMA);
      if (start >= 0) s.bytes(echo.src, start, echo.end[i]!);
      else s.text(echo.text[i]!);
      s.reserve(this.rowBytes);
      if (this.classify) this.probabilities(outputs, i * outSize, outSize);
      else {
        const v = outputs[i * outSize]!;
        s.bytes(this.json ? PREDICTION_JSON : COMMA);
        s.text(fmtValue(this.target ? v * this.target.std + this.target.mean : v));
      }
      s.bytes(this.tail);
    }
    return s.drain();
  }

  private probabilities(outputs: Float32Array, o: number, k: number): void {
    const s = this.sink;
    let best = 0;
    for (let c = 1; c < k; c++) if (outputs[o + c]! > outputs[o + best]!) best = c;
    if (this.json) {
      s.bytes(PREDICTION_JSON);
      s.bytes(this.labels[best]!);
      s.bytes(CONFIDENCE_JSON);
      s.fixed6(outputs[o + best]!);
      s.bytes(PROBABILITIES_JSON);
      for (let c = 0; c < k; c++) {
        s.bytes(this.keys[c]!);
        s.fixed6(outputs[o + c]!);
      }
      s.byte(125);
      return;
    }
    s.byte(44);
    s.bytes(this.labels[best]!);
    s.byte(44);
    s.fixed6(outputs[o + best]!);
    for (let c = 0; c < k; c++) {
      s.byte(44);
      s.fixed6(outputs[o + c]!);
    }
  }
}

const COMMA = bytesOf(',');
const LINE_JSON = bytesOf('{"line":');
const INPUT_JSON = bytesOf(',"input":');
const PREDICTION_JSON = bytesOf(',"prediction":');
const CONFIDENCE_JSON = bytesOf(',"confidence":');
const PROBABILITIES_JSON = bytesOf(',"probabilities":{');

/**
 * Batch input and output formats. An input record becomes the model's raw feature values (or
 * the reason it cannot) plus the text to echo beside its prediction; an output row is the
 * input line number, the echoed input, the prediction and the model's name and version.
 */
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { userError, type ModelSpec } from '@edgeml/core';
import { InputError, type Prediction } from '@edgeml/ml';
import type { ModelPipeline } from '../serve/pipeline.js';
import { csvField, csvRecords } from './csv.js';

export type DataFormat = 'csv' | 'jsonl';

/** `.csv` or `.jsonl`/`.ndjson`, else undefined. */
export function formatOfPath(path: string): DataFormat | undefined {
  const lower = path.toLowerCase();
  if (lower.endsWith('.csv')) return 'csv';
  if (lower.endsWith('.jsonl') || lower.endsWith('.ndjson')) return 'jsonl';
  return undefined;
}

/** What the runner gets per record: features written into `x`, or the reason they were not. */
export type Decoded = { line: number; echo: string } | { line: number; error: string; text: string };

export interface InputReader {
  /** Names of the echoed columns, for a CSV output header. */
  readonly echoColumns: string[];
  records(): AsyncGenerator<Decoded>;
}

/**
 * Read `input` in `format`, writing each good record's raw features into `x` at row `slot()`
 * before it is yielded. `echoAs` is the output format the echo text is for.
 */
export async function openReader(o: {
  input: Readable;
  file: string;
  format: DataFormat;
  pipe: ModelPipeline;
  /** The runner's batch buffer; each good record is written at row `slot()`. */
  x: Float32Array;
  slot: () => number;
  echoAs: DataFormat;
}): Promise<InputReader> {
  return o.format === 'csv' ? csvReader(o) : jsonlReader(o);
}

async function csvReader(o: Parameters<typeof openReader>[0]): Promise<InputReader> {
  const { spec, width } = o.pipe;
  const it = csvRecords(o.input);
  const first = await it.next();
  if (first.done) throw userError('empty-file', `${o.file}: the file is empty; a header row naming the model's features is needed`);
  if ('error' in first.value) throw userError('bad-csv', `${o.file}:${first.value.line}: the header row: ${first.value.error}`);
  const header = first.value.cells.map((c) => c.trim());
  const seen = new Set<string>();
  for (const h of header) {
    if (seen.has(h)) throw userError('bad-header', `${o.file}:${first.value.line}: column "${h}" appears twice in the header`);
    seen.add(h);
  }
  const missing = spec.features.filter((f) => !seen.has(f));
  if (missing.length) {
    throw userError('missing-column', `${o.file}: column${missing.length > 1 ? 's' : ''} ${missing.slice(0, 10).map((m) => `"${m}"`).join(', ')} that the model needs ${missing.length > 1 ? 'are' : 'is'} missing from the header`);
  }
  const cols = spec.features.map((f) => header.indexOf(f));
  const toJson = o.echoAs === 'jsonl';
  return {
    echoColumns: header,
    async *records() {
      for await (const rec of it) {
        if ('error' in rec) {
          yield { line: rec.line, error: rec.error, text: rec.text };
          continue;
        }
        const { cells } = rec;
        if (cells.length !== header.length) {
          yield { line: rec.line, error: `has ${cells.length} fields, the header has ${header.length}`, text: rec.text ?? cells.join(',') };
          continue;
        }
        const x = o.x;
        const at = o.slot() * width;
        let error: string | undefined;
        for (let j = 0; j < width; j++) {
          const cell = cells[cols[j]!]!;
          const v = Number(cell);
          // Number('') and Number('  ') are 0: an empty cell is missing, not zero.
          if (!Number.isFinite(v) || (v === 0 && cell.trim() === '')) {
            error = cell.trim() === '' ? `column "${spec.features[j]}" is empty` : `column "${spec.features[j]}" holds "${cell.slice(0, 40)}", not a finite number`;
            break;
          }
          x[at + j] = v;
        }
        if (error) {
          yield { line: rec.line, error, text: rec.text ?? cells.join(',') };
          continue;
        }
        const echo = toJson ? JSON.stringify(Object.fromEntries(header.map((h, i) => [h, cells[i]]))) : (rec.text ?? cells.map(csvField).join(','));
        yield { line: rec.line, echo };
      }
    },
  };
}

async function jsonlReader(o: Parameters<typeof openReader>[0]): Promise<InputReader> {
  const { spec, width } = o.pipe;
  const toCsv = o.echoAs === 'csv';
  return {
    // A JSON line has no fixed columns: a CSV output echoes the model's features.
    echoColumns: spec.features,
    async *records() {
      const lines = createInterface({ input: o.input, crlfDelay: Infinity });
      let n = 0;
      for await (let text of lines) {
        n++;
        if (n === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
        if (text.length === 0 || (text.charCodeAt(0) <= 32 && text.trim() === '')) continue;
        let value: unknown;
        try {
          value = JSON.parse(text);
        } catch (e) {
          yield { line: n, error: `not valid JSON: ${(e as Error).message}`, text };
          continue;
        }
        const x = o.x;
        const at = o.slot() * width;
        const error = encodeJson(o.pipe, spec, value, x, at);
        if (error) {
          yield { line: n, error, text };
          continue;
        }
        yield { line: n, echo: toCsv ? Array.from(x.subarray(at, at + width), String).join(',') : text.trim() };
      }
    },
  };
}

/** A JSON record: an object of named features (other keys are kept, not refused), or an array. */
function encodeJson(pipe: ModelPipeline, spec: ModelSpec, value: unknown, x: Float32Array, at: number): string | undefined {
  if (Array.isArray(value)) {
    try {
      pipe.encode([value], x, at / pipe.width);
    } catch (e) {
      if (e instanceof InputError) return e.message.replace(/^row 0: /, '');
      throw e;
    }
    return undefined;
  }
  if (value === null || typeof value !== 'object') return `expected an object of named features or an array of ${pipe.width} numbers, not ${value === null ? 'null' : typeof value}`;
  const obj = value as Record<string, unknown>;
  for (let j = 0; j < pipe.width; j++) {
    const name = spec.features[j]!;
    if (!Object.hasOwn(obj, name)) return `feature "${name}" is missing`;
    const v = obj[name];
    if (typeof v !== 'number') return `feature "${name}" is ${v === null ? 'null' : typeof v}, not a number`;
    if (!Number.isFinite(v)) return `feature "${name}" is ${v}, not a finite number`;
    x[at + j] = v;
  }
  return undefined;
}

export interface ModelStamp {
  name: string;
  /** The signed release version, or `sha256:<prefix>` for a model directory. */
  version: number | string;
}

export interface OutputWriter {
  /** Written once at the top of a new output file. */
  header(): string;
  row(line: number, echo: string, p: Prediction): string;
}

/** Columns the output adds; an input with a column of the same name would be ambiguous. */
export function addedColumns(spec: ModelSpec): string[] {
  const probs = spec.task === 'classification' ? ['confidence', ...spec.labels!.map((l) => `p_${l}`)] : [];
  return ['line', 'prediction', ...probs, 'model', 'model_version'];
}

export function createWriter(format: DataFormat, spec: ModelSpec, echoColumns: string[], model: ModelStamp, file: string): OutputWriter {
  if (format === 'jsonl') {
    const tail = `,"model":${JSON.stringify(model.name)},"model_version":${JSON.stringify(model.version)}}\n`;
    const labels = spec.labels?.map((l) => JSON.stringify(l)) ?? [];
    return {
      header: () => '',
      row(line, echo, p) {
        if (!('label' in p)) return `{"line":${line},"input":${echo},"prediction":${fmtValue(p.value)}${tail}`;
        let probs = '';
        for (let c = 0; c < p.probabilities.length; c++) probs += `${c ? ',' : ''}${labels[c]}:${fmtProb(p.probabilities[c]!)}`;
        return `{"line":${line},"input":${echo},"prediction":${labels[p.index]},"confidence":${fmtProb(p.probabilities[p.index]!)},"probabilities":{${probs}}${tail}`;
      },
    };
  }
  const added = addedColumns(spec);
  const clash = echoColumns.filter((c) => added.includes(c));
  if (clash.length) throw userError('column-clash', `${file}: the input has column${clash.length > 1 ? 's' : ''} ${clash.map((c) => `"${c}"`).join(', ')}, which the output adds; rename ${clash.length > 1 ? 'them' : 'it'} in the input`);
  const tail = `,${csvField(model.name)},${csvField(String(model.version))}\n`;
  const labels = spec.labels?.map(csvField) ?? [];
  return {
    header: () => ['line', ...echoColumns, ...added.slice(1)].map(csvField).join(',') + '\n',
    row(line, echo, p) {
      if (!('label' in p)) return `${line},${echo},${fmtValue(p.value)}${tail}`;
      let probs = '';
      for (let c = 0; c < p.probabilities.length; c++) probs += `,${fmtProb(p.probabilities[c]!)}`;
      return `${line},${echo},${labels[p.index]},${fmtProb(p.probabilities[p.index]!)}${probs}${tail}`;
    },
  };
}

/** Probabilities come from float32 outputs: six decimals is all they carry. */
const fmtProb = (v: number) => v.toFixed(6);
const fmtValue = (v: number) => String(Number(v.toPrecision(7)));

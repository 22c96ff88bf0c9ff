/**
 * The compact body of POST /v1/predict, for clients that send many rows: little-endian float32
 * rows (`Content-Type: application/octet-stream`, the feature count in `X-Edgeml-Features`),
 * answered with little-endian float32 outputs (`X-Edgeml-Outputs` per row). No JSON is parsed
 * or written on this path; that, not the model, is what held JSON batches to about a third of
 * the runtime's rows/s. Every check gives a named error (`code`) with a 4xx.
 */
import type { IncomingMessage } from 'node:http';
import { declaredLength } from './body.js';

export const COMPACT_TYPE = 'application/octet-stream';
export const FEATURES_HEADER = 'x-edgeml-features';
export const OUTPUTS_HEADER = 'x-edgeml-outputs';
export const ROWS_HEADER = 'x-edgeml-rows';

/** A refused compact body: the HTTP status, a stable code for programs and a message for people. */
export class CompactError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function isCompact(req: IncomingMessage): boolean {
  const type = req.headers['content-type'];
  return type !== undefined && type.split(';')[0]!.trim().toLowerCase() === COMPACT_TYPE;
}

/** Check a compact request's headers against a model of `width` features, before its body is read. */
export function checkCompactHeaders(req: IncomingMessage, width: number, limit: number): void {
  const given = req.headers[FEATURES_HEADER];
  if (given === undefined) throw new CompactError(400, 'missing-feature-count', `a ${COMPACT_TYPE} body needs the ${FEATURES_HEADER} header: the number of float32 values per row`);
  const n = Number(given);
  if (!Number.isInteger(n) || n < 1) throw new CompactError(400, 'bad-feature-count', `${FEATURES_HEADER} must be a whole number of at least 1, not "${String(given).slice(0, 40)}"`);
  if (n !== width) throw new CompactError(422, 'wrong-feature-count', `${FEATURES_HEADER} is ${n}; the model takes ${width} features per row`);
  const declared = declaredLength(req);
  if (declared !== undefined && declared > limit) throw new CompactError(413, 'too-large', `request body of ${declared} bytes exceeds the limit of ${limit} bytes (${Math.floor(limit / (4 * width))} rows)`);
}

/**
 * The body's rows as float32 values, not yet checked finite. A view of the body itself where it
 * can be (a little-endian host, the body 4-byte aligned, as it is when it came in one read or was
 * gathered by readBody): the body is this request's own memory, and the model standardises it in
 * place. Otherwise one copy.
 */
export function compactRows(body: Buffer, width: number): { x: Float32Array; n: number } {
  if (body.length === 0) throw new CompactError(400, 'empty-body', 'the body is empty; send at least one row of float32 values');
  const rowBytes = 4 * width;
  if (body.length % rowBytes !== 0) {
    throw new CompactError(400, 'wrong-length', `the body is ${body.length} bytes, not a whole number of rows of ${width} float32 values (${rowBytes} bytes each)`);
  }
  const n = body.length / rowBytes;
  const values = n * width;
  if (littleEndian && body.byteOffset % 4 === 0) return { x: new Float32Array(body.buffer, body.byteOffset, values), n };
  const x = new Float32Array(values);
  if (littleEndian) new Uint8Array(x.buffer).set(body);
  else for (let i = 0; i < values; i++) x[i] = body.readFloatLE(i * 4);
  return { x, n };
}

/** The refusal of a value that is NaN or infinite, at index `i` of rows of `width` values. */
export function notFinite(x: Float32Array, i: number, width: number): CompactError {
  const r = Math.floor(i / width);
  return new CompactError(422, 'not-finite', `row ${r}, feature ${i - r * width}: ${x[i]} is not a finite number`);
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * The answer's bytes for `values` outputs, and a float32 view of them for the runtime to write
 * into: on a little-endian host the model's outputs land in the answer with no further copy.
 * `view` is undefined on a big-endian host (use encodeOutputs).
 */
export function answerBuffer(values: number): { bytes: Buffer; view: Float32Array | undefined } {
  // Its own memory, 8-byte aligned (not a slice of node's shared pool): the response keeps it until written.
  const bytes = Buffer.allocUnsafeSlow(values * 4);
  return { bytes, view: littleEndian ? new Float32Array(bytes.buffer, bytes.byteOffset, values) : undefined };
}

/** The outputs as little-endian float32 bytes into `out` (the big-endian host's path). */
export function encodeOutputs(outputs: Float32Array, values: number, out: Buffer): void {
  for (let i = 0; i < values; i++) out.writeFloatLE(outputs[i]!, i * 4);
}

/**
 * The compact body of POST /v1/predict, for clients that send many rows: little-endian float32
 * rows (`Content-Type: application/octet-stream`, the feature count in `X-Edgeml-Features`),
 * answered with little-endian float32 outputs (`X-Edgeml-Outputs` per row). No JSON is parsed
 * or written on this path; that, not the model, is what held JSON batches to about a third of
 * the runtime's rows/s. Every check gives a named error (`code`) with a 4xx.
 */
import type { IncomingMessage } from 'node:http';

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

/**
 * Reads and checks compact bodies into one float32 buffer that grows to the largest body seen
 * (bounded by the body limit) and is reused: a steady load allocates nothing per request for
 * its input. Requests are decoded and run one at a time on the event loop, so one buffer serves.
 */
export class CompactReader {
  private scratch = new Float32Array(0);

  constructor(private readonly limit: number) {}

  /** Check a compact request's headers against a model of `width` features, before its body is read. */
  header(req: IncomingMessage, width: number): void {
    const given = req.headers[FEATURES_HEADER];
    if (given === undefined) throw new CompactError(400, 'missing-feature-count', `a ${COMPACT_TYPE} body needs the ${FEATURES_HEADER} header: the number of float32 values per row`);
    const n = Number(given);
    if (!Number.isInteger(n) || n < 1) throw new CompactError(400, 'bad-feature-count', `${FEATURES_HEADER} must be a whole number of at least 1, not "${String(given).slice(0, 40)}"`);
    if (n !== width) throw new CompactError(422, 'wrong-feature-count', `${FEATURES_HEADER} is ${n}; the model takes ${width} features per row`);
    const declared = Number(req.headers['content-length']);
    if (declared > this.limit) throw new CompactError(413, 'too-large', `request body of ${declared} bytes exceeds the limit of ${this.limit} bytes (${Math.floor(this.limit / (4 * width))} rows)`);
  }

  /** The body's rows as float32 values, checked finite; valid until the next call. */
  read(body: Buffer, width: number): { x: Float32Array; n: number } {
    if (body.length === 0) throw new CompactError(400, 'empty-body', 'the body is empty; send at least one row of float32 values');
    const rowBytes = 4 * width;
    if (body.length % rowBytes !== 0) {
      throw new CompactError(400, 'wrong-length', `the body is ${body.length} bytes, not a whole number of rows of ${width} float32 values (${rowBytes} bytes each)`);
    }
    const n = body.length / rowBytes;
    const values = n * width;
    if (this.scratch.length < values) this.scratch = new Float32Array(values);
    const x = this.scratch.subarray(0, values);
    // A copy, not a view: the body may not be 4-byte aligned, and the model standardises in place.
    new Uint8Array(x.buffer, x.byteOffset, body.length).set(body);
    if (!littleEndian) for (let i = 0; i < values; i++) x[i] = body.readFloatLE(i * 4);
    for (let i = 0; i < values; i++) {
      const v = x[i]!;
      // v - v is NaN for NaN and the infinities, 0 for every finite value.
      if (v - v !== 0) {
        const r = Math.floor(i / width);
        throw new CompactError(422, 'not-finite', `row ${r}, feature ${i - r * width}: ${v} is not a finite number`);
      }
    }
    return { x, n };
  }
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The outputs as the answer's bytes (little-endian float32): a copy the response may keep. */
export function encodeOutputs(outputs: Float32Array, values: number): Buffer {
  const out = Buffer.allocUnsafeSlow(values * 4);
  if (littleEndian) out.set(new Uint8Array(outputs.buffer, outputs.byteOffset, values * 4));
  else for (let i = 0; i < values; i++) out.writeFloatLE(outputs[i]!, i * 4);
  return out;
}

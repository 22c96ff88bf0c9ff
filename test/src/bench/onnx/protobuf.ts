/**
 * The few protobuf wire-format pieces an ONNX model needs, for writing only. A message is the
 * concatenation of its fields; each field is a tag (field number << 3 | wire type) followed by
 * a varint (wire type 0), a length-prefixed byte string or sub-message (wire type 2) or four
 * little-endian bytes (wire type 5). Fields are built as byte arrays and joined once.
 */

const VARINT = 0;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

const utf8 = new TextEncoder();

/**
 * Varint bytes of an int64 field. Negative values are written as their 64-bit two's
 * complement (ten bytes), which is how protobuf encodes a negative int64 (e.g. `axis = -1`).
 */
export function varint(value: number | bigint): Uint8Array {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) throw new RangeError(`varint of a non-integer: ${value}`);
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Uint8Array.from(out);
}

function tag(field: number, wireType: number): Uint8Array {
  return varint((field << 3) | wireType);
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** An int32/int64/enum field. */
export function intField(field: number, value: number | bigint): Uint8Array {
  return concat([tag(field, VARINT), varint(value)]);
}

/** A float field (fixed32, little-endian). */
export function floatField(field: number, value: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setFloat32(0, value, true);
  return concat([tag(field, FIXED32), b]);
}

export function bytesField(field: number, bytes: Uint8Array): Uint8Array {
  return concat([tag(field, LENGTH_DELIMITED), varint(bytes.length), bytes]);
}

export function stringField(field: number, text: string): Uint8Array {
  return bytesField(field, utf8.encode(text));
}

/** An embedded message, given as its already-encoded fields. */
export function messageField(field: number, fields: readonly Uint8Array[]): Uint8Array {
  return bytesField(field, concat(fields));
}

/** A repeated int64 field in packed form (one length-delimited run of varints). */
export function packedIntsField(field: number, values: readonly number[]): Uint8Array {
  return bytesField(field, concat(values.map((v) => varint(v))));
}

/** Little-endian float32 bytes, as TensorProto.raw_data stores them whatever the host's order. */
export function float32Bytes(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  return out;
}

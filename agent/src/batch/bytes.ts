/**
 * Output bytes for batch inference, written straight into a buffer: no string per row, no
 * string concatenation, no re-encoding. Numbers are formatted by hand where that is exact.
 */

/** A growable byte buffer. */
export class ByteSink {
  buf: Buffer;
  pos = 0;

  constructor(capacity: number) {
    this.buf = Buffer.allocUnsafeSlow(Math.max(64, capacity));
  }

  /** Make room for `n` more bytes. */
  reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** One byte; the caller has reserved room. */
  byte(b: number): void {
    this.buf[this.pos++] = b;
  }

  /** Bytes [start, end) of `src`; reserves room itself. */
  bytes(src: Uint8Array, start = 0, end = src.length): void {
    const n = end - start;
    this.reserve(n);
    const b = this.buf;
    // Not src.subarray: on a Buffer it builds a Buffer object, four times a row (a separator, the
    // echo, the label, the tail), which cost more than the copies and fed the young-generation GC.
    if (n <= 32) {
      let p = this.pos;
      for (let i = start; i < end; i++) b[p++] = src[i]!;
      this.pos = p;
      return;
    }
    b.set(new Uint8Array(src.buffer, src.byteOffset + start, n), this.pos);
    this.pos += n;
  }

  /** A string as UTF-8; reserves room itself. */
  text(s: string): void {
    this.reserve(s.length * 3);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  /** A non-negative integer in decimal; the caller has reserved 16 bytes. */
  uint(n: number): void {
    if (n < 10) {
      this.buf[this.pos++] = 48 + n;
      return;
    }
    let digits = 1;
    for (let t = n; t >= 10; t = Math.floor(t / 10)) digits++;
    let p = this.pos + digits;
    this.pos = p;
    do {
      const q = Math.floor(n / 10);
      this.buf[--p] = 48 + (n - q * 10);
      n = q;
    } while (n > 0);
  }

  /**
   * Exactly what `v.toFixed(6)` gives, for a float32 value `v`; the caller has reserved 32 bytes.
   * For |v| < 1e9, v * 1e6 is exact in a double (24 + 14 significant bits), so Math.round finds
   * the same nearest integer toFixed does (ties away from zero, as toFixed rounds |v|).
   */
  fixed6(v: number): void {
    if (!(v > -1e9 && v < 1e9)) {
      this.text(v.toFixed(6));
      return;
    }
    if (v < 0) {
      this.buf[this.pos++] = 45;
      v = -v;
    }
    const n = Math.round(v * 1e6);
    const whole = Math.floor(n / 1e6);
    let frac = n - whole * 1e6;
    this.uint(whole);
    const b = this.buf;
    const p = this.pos;
    b[p] = 46;
    for (let i = 6; i >= 1; i--) {
      const q = Math.floor(frac / 10);
      b[p + i] = 48 + (frac - q * 10);
      frac = q;
    }
    this.pos = p + 7;
  }

  /** The bytes written, as a view valid until the next write; starts over. */
  drain(): Uint8Array {
    const out = this.buf.subarray(0, this.pos);
    this.pos = 0;
    return out;
  }
}

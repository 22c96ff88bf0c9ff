/**
 * A bounds-checked flatbuffer table reader. The `flatbuffers` runtime trusts its input (a
 * corrupt offset reads garbage or throws a RangeError deep inside), and .tflite files arrive
 * from disk and the network, so the reader checks every offset and length against the buffer
 * and raises one error type that callers turn into a clear message.
 */

export class CorruptFlatbufferError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CorruptFlatbufferError';
  }
}

export class FlatReader {
  readonly view: DataView;
  readonly length: number;

  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.length = bytes.byteLength;
  }

  private check(pos: number, size: number, what: string): void {
    if (!Number.isInteger(pos) || pos < 0 || pos + size > this.length) {
      throw new CorruptFlatbufferError(`${what} at byte ${pos} runs past the end of the file (${this.length} bytes)`);
    }
  }

  u8(pos: number): number { this.check(pos, 1, 'byte'); return this.view.getUint8(pos); }
  i8(pos: number): number { this.check(pos, 1, 'byte'); return this.view.getInt8(pos); }
  u16(pos: number): number { this.check(pos, 2, 'uint16'); return this.view.getUint16(pos, true); }
  i32(pos: number): number { this.check(pos, 4, 'int32'); return this.view.getInt32(pos, true); }
  u32(pos: number): number { this.check(pos, 4, 'uint32'); return this.view.getUint32(pos, true); }
  f32(pos: number): number { this.check(pos, 4, 'float'); return this.view.getFloat32(pos, true); }
  i64(pos: number): number { this.check(pos, 8, 'int64'); return Number(this.view.getBigInt64(pos, true)); }
  u64(pos: number): number { this.check(pos, 8, 'uint64'); return Number(this.view.getBigUint64(pos, true)); }

  /** The root table of a finished buffer. */
  root(): Table {
    return this.table(this.u32(0), 'root table');
  }

  fileIdentifier(): string {
    if (this.length < 8) return '';
    return String.fromCharCode(this.u8(4), this.u8(5), this.u8(6), this.u8(7));
  }

  table(pos: number, what: string): Table {
    this.check(pos, 4, what);
    const vtable = pos - this.i32(pos);
    this.check(vtable, 4, `vtable of ${what}`);
    const vtableLength = this.u16(vtable);
    if (vtableLength < 4 || vtableLength % 2 !== 0) throw new CorruptFlatbufferError(`bad vtable of ${what} at byte ${vtable}`);
    this.check(vtable, vtableLength, `vtable of ${what}`);
    return new Table(this, pos, vtable, vtableLength, what);
  }
}

export class Table {
  constructor(
    private readonly r: FlatReader,
    readonly pos: number,
    private readonly vtable: number,
    private readonly vtableLength: number,
    readonly what: string,
  ) {}

  /** Absolute position of field `id`, or 0 when absent. */
  field(id: number): number {
    const entry = 4 + 2 * id;
    if (entry >= this.vtableLength) return 0;
    const off = this.r.u16(this.vtable + entry);
    return off === 0 ? 0 : this.pos + off;
  }

  has(id: number): boolean {
    return this.field(id) !== 0;
  }

  u8(id: number, dflt = 0): number { const p = this.field(id); return p ? this.r.u8(p) : dflt; }
  i8(id: number, dflt = 0): number { const p = this.field(id); return p ? this.r.i8(p) : dflt; }
  bool(id: number, dflt = false): boolean { const p = this.field(id); return p ? this.r.u8(p) !== 0 : dflt; }
  i32(id: number, dflt = 0): number { const p = this.field(id); return p ? this.r.i32(p) : dflt; }
  u32(id: number, dflt = 0): number { const p = this.field(id); return p ? this.r.u32(p) : dflt; }
  f32(id: number, dflt = 0): number { const p = this.field(id); return p ? this.r.f32(p) : dflt; }
  u64(id: number, dflt = 0): number { const p = this.field(id); return p ? this.r.u64(p) : dflt; }

  private indirect(id: number): number {
    const p = this.field(id);
    return p ? p + this.r.u32(p) : 0;
  }

  table(id: number, what: string): Table | undefined {
    const p = this.indirect(id);
    return p ? this.r.table(p, what) : undefined;
  }

  string(id: number): string | undefined {
    const v = this.vector(id, 1, 'string');
    if (!v) return undefined;
    return new TextDecoder('utf-8', { fatal: false }).decode(this.r.bytes.subarray(v.start, v.start + v.length));
  }

  /** A vector's element count and the position of its first element, bounds-checked. */
  vector(id: number, elementSize: number, what: string): { start: number; length: number } | undefined {
    const p = this.indirect(id);
    if (!p) return undefined;
    const length = this.r.u32(p);
    const start = p + 4;
    if (start + length * elementSize > this.r.length) {
      throw new CorruptFlatbufferError(`${what} in ${this.what} claims ${length} elements, more than the file holds`);
    }
    return { start, length };
  }

  i32s(id: number, what: string): number[] {
    const v = this.vector(id, 4, what);
    const out: number[] = [];
    if (v) for (let i = 0; i < v.length; i++) out.push(this.r.i32(v.start + 4 * i));
    return out;
  }

  f32s(id: number, what: string): number[] {
    const v = this.vector(id, 4, what);
    const out: number[] = [];
    if (v) for (let i = 0; i < v.length; i++) out.push(this.r.f32(v.start + 4 * i));
    return out;
  }

  i64s(id: number, what: string): number[] {
    const v = this.vector(id, 8, what);
    const out: number[] = [];
    if (v) for (let i = 0; i < v.length; i++) out.push(this.r.i64(v.start + 8 * i));
    return out;
  }

  tables(id: number, what: string): Table[] {
    const v = this.vector(id, 4, what);
    const out: Table[] = [];
    if (v) {
      for (let i = 0; i < v.length; i++) {
        const at = v.start + 4 * i;
        out.push(this.r.table(at + this.r.u32(at), `${what}[${i}]`));
      }
    }
    return out;
  }
}

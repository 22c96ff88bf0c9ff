/**
 * Cutting batch input into blocks a worker decodes on its own: every block starts at a record
 * boundary with its first line known, the header travels alone, the last blocks shrink so the
 * workers finish together, and buffers handed back are read into again.
 */
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlockReader, type Block } from './split.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeml-split-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** Every block of `text`, read `blockBytes` at a time; `recycle` hands each buffer back once read. */
async function blocks(name: string, text: string, blockBytes: number, o: { format?: 'csv' | 'jsonl'; spread?: number; recycle?: boolean } = {}): Promise<Block[]> {
  const file = join(dir, name);
  await writeFile(file, text);
  const fh = await open(file, 'r');
  try {
    const size = Buffer.byteLength(text);
    const reader = new BlockReader(fh, o.format ?? 'csv', blockBytes, { start: { offset: 0, lines: 0 }, size, spread: o.spread ?? 4, firstRecordAlone: true });
    const out: Block[] = [];
    for (let b = await reader.next(); b; b = await reader.next()) {
      // A copy to check against, as a worker would hold the bytes until it hands them back.
      out.push({ ...b, bytes: Buffer.from(b.bytes), ...(o.recycle ? { reused: b.bytes.buffer } : {}) });
      if (o.recycle) reader.recycle(b.bytes.buffer as ArrayBuffer);
    }
    return out;
  } finally {
    await fh.close();
  }
}

/** Line breaks as the decoder counts them: LF, CRLF and a lone CR. */
const lineBreaks = (s: string) => s.match(/\r\n|\n|\r/g)?.length ?? 0;

describe('BlockReader', () => {
  it('cuts a CSV only where its quotes are balanced, the header alone first, each block knowing the line it starts on', async () => {
    const header = 'id,"a\nsecond line of a name",b\n';
    const rows: string[] = [];
    for (let i = 0; i < 3000; i++) {
      if (i % 37 === 3) rows.push(`${i},"x\ny ""quoted"", and more\r\nz",${i}\n`);
      else if (i % 11 === 0) rows.push(`${i},${i * 2},${i}\r\n`);
      else rows.push(`${i},${i * 2},${i}\n`);
    }
    const text = header + rows.join('');
    const got = await blocks('quoted.csv', text, 4096);
    expect(got[0]!.bytes.toString()).toBe(header);
    expect(Buffer.concat(got.map((b) => b.bytes)).toString()).toBe(text);
    expect(got.at(-1)!.last).toBe(true);
    let at = 0;
    for (const b of got) {
      const before = text.slice(0, at);
      expect(b.offset).toBe(at);
      expect(b.cut).toBe(true);
      expect(b.lineBase).toBe(lineBreaks(before));
      at += b.bytes.length;
      if (!b.last) {
        // A record boundary: a line break with an even number of quotes before it.
        expect(b.bytes.at(-1)).toBe(10);
        expect((text.slice(0, at).match(/"/g)?.length ?? 0) % 2).toBe(0);
        expect(b.lineCount).toBe(lineBreaks(b.bytes.toString()));
      }
    }
    expect(got.length).toBeGreaterThan(10);
  });

  it('sends the first JSON line alone, then whole lines', async () => {
    const lines = Array.from({ length: 2000 }, (_, i) => JSON.stringify({ a: i, b: `"${i}"` }) + '\n');
    const got = await blocks('rows.jsonl', lines.join(''), 4096, { format: 'jsonl' });
    expect(got[0]!.bytes.toString()).toBe(lines[0]);
    for (const b of got.slice(0, -1)) expect(b.bytes.at(-1)).toBe(10);
    expect(Buffer.concat(got.map((b) => b.bytes)).toString()).toBe(lines.join(''));
  });

  it('shrinks the last blocks, so that the blocks in flight at the end are small', async () => {
    const row = `${'1,'.repeat(63)}1\n`;
    const text = `${Array.from({ length: 64 }, (_, i) => `c${i}`).join(',')}\n${row.repeat(30_000)}`;
    const blockBytes = 256 << 10;
    const got = await blocks('tail.csv', text, blockBytes, { spread: 4 });
    expect(Buffer.concat(got.map((b) => b.bytes)).toString()).toBe(text);
    const sizes = got.slice(1).map((b) => b.bytes.length);
    // Whole blocks first (give or take a row), then a share of what is left, down to 64 KiB.
    expect(sizes[0]).toBeGreaterThan(blockBytes - row.length);
    const tail = sizes.slice(-4, -1);
    for (const n of tail) expect(n).toBeLessThan(blockBytes / 2);
    expect(Math.min(...sizes.slice(0, -1))).toBeGreaterThanOrEqual((64 << 10) - row.length);
  });

  it('reads into the buffers it is handed back instead of new ones', async () => {
    const row = `${'2,'.repeat(63)}2\n`;
    const text = `${Array.from({ length: 64 }, (_, i) => `c${i}`).join(',')}\n${row.repeat(5_000)}`;
    const got = (await blocks('reuse.csv', text, 8192, { recycle: true })) as (Block & { reused: ArrayBuffer })[];
    const buffers = new Set(got.map((b) => b.reused));
    expect(got.length).toBeGreaterThan(50);
    expect(buffers.size).toBeLessThanOrEqual(2);
    expect(Buffer.concat(got.map((b) => b.bytes)).toString()).toBe(text);
  });
});

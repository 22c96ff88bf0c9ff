import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '@edgeml/core';
import { Outbox, type OutboxRecord } from './outbox.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeml-outbox-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function ids(): Promise<string[]> {
  const out: string[] = [];
  for (const f of (await readdir(dir)).filter((f) => /^\d+\.json$/.test(f))) out.push((JSON.parse(await readFile(join(dir, f), 'utf8')) as OutboxRecord).payload.id);
  return out;
}

describe('outbox record ids', () => {
  it('stay unique over concurrent appends', async () => {
    const box = await Outbox.open(dir, 10_000, silentLogger);
    await Promise.all(Array.from({ length: 200 }, (_, i) => box.append('t', () => ({ n: i }))));
    const all = await ids();
    expect(all).toHaveLength(200);
    expect(new Set(all).size).toBe(200);
  });

  it('never repeat after the records were sent and meta.json was lost (a reinstall or crash)', async () => {
    const first = await Outbox.open(dir, 1000, silentLogger);
    const sent: string[] = [];
    for (let i = 0; i < 20; i++) sent.push(await first.append('t', () => ({})));
    // Sent and acknowledged: the files are gone; then the meta file is lost too.
    await rm(dir, { recursive: true, force: true });
    const second = await Outbox.open(dir, 1000, silentLogger);
    for (let i = 0; i < 20; i++) await second.append('t', () => ({}));
    const again = await ids();
    expect(again.filter((id) => sent.includes(id))).toEqual([]);
    expect(again.every((id) => id.length <= 64)).toBe(true);
  });

  it('keep the sending order by file name across a reopen', async () => {
    const a = await Outbox.open(dir, 1000, silentLogger);
    await a.append('t', () => ({ n: 1 }));
    await rm(join(dir, 'meta.json'));
    const b = await Outbox.open(dir, 1000, silentLogger);
    await b.append('t', () => ({ n: 2 }));
    const files = (await readdir(dir)).filter((f) => /^\d+\.json$/.test(f)).sort();
    const ns = await Promise.all(files.map(async (f) => (JSON.parse(await readFile(join(dir, f), 'utf8')) as OutboxRecord).payload.n));
    expect(ns).toEqual([1, 2]);
  });
});

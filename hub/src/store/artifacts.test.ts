import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256Hex } from '@edgeml/core';
import { chunkHashes } from '../release/manifest.js';
import { ArtifactStore } from './artifacts.js';

let dir: string;
let store: ArtifactStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeml-store-'));
  store = new ArtifactStore(join(dir, 'artifacts'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const collect = async (it: AsyncIterable<Buffer>) => {
  const out: Buffer[] = [];
  // The store hands out one buffer again and again: copy each chunk before asking for the next.
  for await (const c of it) out.push(Buffer.from(c));
  return Buffer.concat(out);
};

describe('artifact store', () => {
  const upload = async (bytes: Buffer) => {
    const u = await store.upload();
    for (let at = 0; at < bytes.length; at += 7_000) await u.write(bytes.subarray(at, at + 7_000));
    return u.finish();
  };

  it('stores an upload piece by piece as the same bytes, and reads them back in chunks', async () => {
    const bytes = randomBytes(300_001);
    const stored = await upload(bytes);
    expect(stored).toEqual({ sha256: sha256Hex(bytes), size: bytes.length });
    expect(Buffer.from(await store.get(stored.sha256)).equals(bytes)).toBe(true);
    expect(await store.chunkHashes(stored.sha256, 65_536)).toEqual(chunkHashes(bytes, 65_536));
    expect((await collect(store.chunks(stored.sha256, 65_536))).equals(bytes)).toBe(true);
    // The same bytes again: one file, the same answer.
    expect(await upload(bytes)).toEqual(stored);
  });

  it('refuses to hand out chunks of a file that no longer matches its name', async () => {
    const bytes = randomBytes(100_000);
    const { sha256, path } = await store.put(bytes);
    await chmod(path, 0o644);
    await writeFile(path, Buffer.concat([bytes.subarray(0, 99_999), Buffer.from([bytes[99_999]! ^ 1])]));
    await expect(collect(store.chunks(sha256, 65_536))).rejects.toThrow(/corrupt on disk/);
  });
});

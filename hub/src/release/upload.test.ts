import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256Hex } from '@edgeml/core';
import { ArtifactStore } from '../store/artifacts.js';
import { readReleaseBody } from './upload.js';

let dir: string;
let store: ArtifactStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeml-upload-'));
  store = new ArtifactStore(join(dir, 'artifacts'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The body as a request delivers it: in pieces of `size` bytes. */
async function* pieces(text: string, size: number): AsyncGenerator<Buffer> {
  const b = Buffer.from(text);
  for (let at = 0; at < b.length; at += size) yield b.subarray(at, at + size);
}

describe('release body', () => {
  const bytes = randomBytes(10_000);
  const body = {
    model: 'iris',
    spec: { note: 'a "quoted" \\ string, a nested {"artifact": "not this one"} and é', artifact: 'nested, kept' },
    list: [{ artifact: 'in an array, kept' }],
    artifact: bytes.toString('base64'),
    fingerprint: 'fp',
  };

  for (const size of [1, 3, 64, 65_536]) {
    it(`decodes the top-level artifact into the store and keeps the rest, read in pieces of ${size} bytes`, async () => {
      const got = await readReleaseBody(pieces(JSON.stringify(body, null, size === 3 ? 1 : undefined), size), store, 1 << 20);
      expect(got.artifact).toEqual({ sha256: sha256Hex(bytes), size: bytes.length });
      expect(got.body).toEqual({ ...body, artifact: '' });
      expect(Buffer.from(await store.get(got.artifact!.sha256)).equals(bytes)).toBe(true);
    });
  }

  it('refuses an artifact that is not base64 and leaves no file behind', async () => {
    await expect(readReleaseBody(pieces(JSON.stringify({ ...body, artifact: 'bm90IGJh*2U2NA==' }), 5), store, 1 << 20)).rejects.toMatchObject({ status: 400, message: 'artifact: not base64' });
    await expect(readReleaseBody(pieces(JSON.stringify({ ...body, artifact: 'abcde' }), 5), store, 1 << 20)).rejects.toMatchObject({ status: 400 });
    expect((await readdir(join(dir, 'artifacts'))).filter((f) => f.startsWith('.upload'))).toEqual([]);
  });

  it('refuses a body over the limit and one that is not JSON', async () => {
    await expect(readReleaseBody(pieces(JSON.stringify(body), 100), store, 1000)).rejects.toMatchObject({ status: 413 });
    await expect(readReleaseBody(pieces('{"artifact": "YWJj", nope', 4), store, 1000)).rejects.toMatchObject({ status: 400, message: 'body is not valid JSON' });
    expect(await readReleaseBody(pieces('{"model": "x"}', 4), store, 1000)).toEqual({ body: { model: 'x' }, artifact: undefined });
  });
});

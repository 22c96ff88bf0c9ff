import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256File, sha256Hex, writeFileAtomic } from './fsutil.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeml-fsutil-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writeFileAtomic', () => {
  it('writes a new file, creating its folder, and leaves no temp file behind', async () => {
    const path = join(dir, 'nested', 'state.json');
    await writeFileAtomic(path, '{"a":1}\n');
    expect(await readFile(path, 'utf8')).toBe('{"a":1}\n');
    expect(await readdir(join(dir, 'nested'))).toEqual(['state.json']);
  });

  it('replaces existing content whole, including a longer old file', async () => {
    const path = join(dir, 'state.json');
    await writeFile(path, 'an old and much longer content than the new one');
    await writeFileAtomic(path, new Uint8Array([1, 2, 3]));
    expect([...(await readFile(path))]).toEqual([1, 2, 3]);
    expect(await readdir(dir)).toEqual(['state.json']);
  });

  it('gives the file the mode asked for', async () => {
    const path = join(dir, 'secret.key');
    await writeFileAtomic(path, 'secret', 0o600);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  // Two writers in one process (an agent saving state while staging an envelope) must not
  // share a temp file, or one truncates and overwrites the other's bytes before the rename.
  it('leaves one whole content, not a torn mix, when two writes to the same path race', async () => {
    const path = join(dir, 'state.json');
    const long = 'A'.repeat(64 * 1024);
    const short = 'B'.repeat(16);
    const results = await Promise.allSettled([writeFileAtomic(path, long), writeFileAtomic(path, short)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    expect([long, short]).toContain(await readFile(path, 'utf8'));
    expect(await readdir(dir)).toEqual(['state.json']);
  });

  it('leaves no temp file when the rename fails', async () => {
    // A directory where the file should go makes rename fail after the temp file is written.
    const path = join(dir, 'target');
    await mkdir(join(path, 'child'), { recursive: true });
    await expect(writeFileAtomic(path, 'new')).rejects.toThrow();
    expect(await readdir(dir)).toEqual(['target']);
  });
});

describe('sha256', () => {
  it('hashes bytes, strings and files alike', async () => {
    const path = join(dir, 'f');
    await writeFile(path, 'abc');
    const expected = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
    expect(sha256Hex('abc')).toBe(expected);
    expect(sha256Hex(new TextEncoder().encode('abc'))).toBe(expected);
    expect(await sha256File(path)).toBe(expected);
  });
});

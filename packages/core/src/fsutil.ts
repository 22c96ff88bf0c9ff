import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Write a file so that a crash at any instant leaves either the old content or the new one:
 * write a temp file beside it, fsync, rename over, then fsync the directory so the rename
 * itself is durable. A failed write (a full disk) removes its temp file: nothing is left behind.
 * Temp files are named `<file>.tmp-<pid>-<random>` (see `isAtomicTempFile`), so a process that
 * was killed mid-write can sweep its leftovers at start.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  // A unique name per call, created exclusively: two writers never share (or truncate) a temp file.
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  const fh = await open(tmp, 'wx', mode);
  try {
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A leftover of `writeFileAtomic` cut short by a crash. */
export const isAtomicTempFile = (name: string): boolean => /\.tmp-\d+-[0-9a-f]{12}$/.test(name);

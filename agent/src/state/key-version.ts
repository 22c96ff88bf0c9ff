/**
 * The highest release-key document version this device has accepted, kept in its own file in
 * the data dir (written atomically) so it survives restarts and never goes down: once a
 * rotated key has been seen, releases signed by the key it replaced are refused for good.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '@edgeml/core';

const file = (dataDir: string) => join(dataDir, 'release-key-version.json');

export async function readSeenKeyVersion(dataDir: string): Promise<number> {
  try {
    const v = (JSON.parse(await readFile(file(dataDir), 'utf8')) as { version?: unknown }).version;
    return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : 0;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    // A damaged file must not reopen the door to old keys: refuse to start rather than guess.
    throw new Error(`cannot read ${file(dataDir)}: ${(e as Error).message}`);
  }
}

export async function recordKeyVersion(dataDir: string, version: number): Promise<void> {
  await writeFileAtomic(file(dataDir), JSON.stringify({ version }) + '\n', 0o600);
}

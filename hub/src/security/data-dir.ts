/**
 * The hub's data dir holds device password hashes, token hashes, feedback rows (raw inputs and
 * labels) and the release key: nobody but the hub's user reads it. Tightened on every start,
 * so a dir created by an older hub (0755, registry 0644) is fixed too.
 */
import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';

export async function makeDataDir(dataDir: string): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await chmod(dataDir, 0o700);
}

/** Registry files, once SQLite has created them (its -wal and -shm files get the same). */
export async function lockRegistryFiles(dataDir: string): Promise<void> {
  for (const name of ['registry.sqlite', 'registry.sqlite-wal', 'registry.sqlite-shm', 'secrets.json']) {
    await chmod(join(dataDir, name), 0o600).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
  }
}

import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Hex, writeFileAtomic } from '@edgeml/core';

/**
 * Content-addressed artifact store: a file's name is its sha256, so the same bytes are stored
 * once and a stored file can always be checked against its name.
 */
export class ArtifactStore {
  constructor(private readonly dir: string) {}

  pathOf(sha256: string): string {
    return join(this.dir, sha256.slice(0, 2), sha256);
  }

  async put(bytes: Uint8Array): Promise<{ sha256: string; size: number; path: string }> {
    const sha256 = sha256Hex(bytes);
    const path = this.pathOf(sha256);
    const existing = await stat(path).catch(() => undefined);
    if (existing?.size !== bytes.length) {
      await mkdir(join(this.dir, sha256.slice(0, 2)), { recursive: true });
      await writeFileAtomic(path, bytes, 0o444);
    }
    return { sha256, size: bytes.length, path };
  }

  async has(sha256: string): Promise<boolean> {
    return /^[0-9a-f]{64}$/.test(sha256) && (await stat(this.pathOf(sha256)).catch(() => undefined)) !== undefined;
  }

  async get(sha256: string): Promise<Uint8Array> {
    const bytes = await readFile(this.pathOf(sha256));
    if (sha256Hex(bytes) !== sha256) throw new Error(`artifact store: ${sha256} is corrupt on disk`);
    return bytes;
  }
}

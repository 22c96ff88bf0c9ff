import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Hex, writeFileAtomic } from '@edgeml/core';

/** A stored artifact: its name and size. */
export interface StoredArtifact {
  sha256: string;
  size: number;
}

/** An artifact being stored piece by piece (`ArtifactStore.upload`). */
export interface ArtifactUpload {
  write(bytes: Uint8Array): Promise<void>;
  finish(): Promise<StoredArtifact>;
  abort(): Promise<void>;
}

/**
 * Content-addressed artifact store: a file's name is its sha256, so the same bytes are stored
 * once and a stored file can always be checked against its name.
 *
 * Large artifacts pass through in pieces of 64 KiB at most (uploads, chunk hashes, chunks): a whole-artifact Buffer per publish is what made the hub's memory grow. Freed, a
 * buffer of a few MB raises glibc's mmap threshold to its size, and every later one of that size
 * stays in the allocator's heap instead of going back to the system.
 */
export class ArtifactStore {
  constructor(private readonly dir: string) {}

  pathOf(sha256: string): string {
    return join(this.dir, sha256.slice(0, 2), sha256);
  }

  async put(bytes: Uint8Array): Promise<StoredArtifact & { path: string }> {
    const sha256 = sha256Hex(bytes);
    const path = this.pathOf(sha256);
    const existing = await stat(path).catch(() => undefined);
    if (existing?.size !== bytes.length) {
      await mkdir(join(this.dir, sha256.slice(0, 2)), { recursive: true });
      await writeFileAtomic(path, bytes, 0o444);
    }
    return { sha256, size: bytes.length, path };
  }

  /**
   * Store an artifact that arrives in pieces: written to a temp file and hashed as it comes,
   * named by its hash on `finish`, removed on `abort`.
   */
  async upload(): Promise<ArtifactUpload> {
    await mkdir(this.dir, { recursive: true });
    const tmp = join(this.dir, `.upload-${process.pid}-${randomBytes(6).toString('hex')}`);
    const hash = createHash('sha256');
    let size = 0;
    const file = await open(tmp, 'wx', 0o444);
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await file.close();
    };
    return {
      write: async (bytes) => {
        hash.update(bytes);
        size += bytes.length;
        await file.write(bytes);
      },
      finish: async () => {
        try {
          await file.sync();
          await close();
          const sha256 = hash.digest('hex');
          const existing = await stat(this.pathOf(sha256)).catch(() => undefined);
          if (existing?.size === size) await rm(tmp);
          else {
            await mkdir(join(this.dir, sha256.slice(0, 2)), { recursive: true });
            await rename(tmp, this.pathOf(sha256));
          }
          return { sha256, size };
        } catch (e) {
          await rm(tmp, { force: true });
          throw e;
        }
      },
      abort: async () => {
        await close().catch(() => undefined);
        await rm(tmp, { force: true });
      },
    };
  }

  async has(sha256: string): Promise<boolean> {
    return /^[0-9a-f]{64}$/.test(sha256) && (await stat(this.pathOf(sha256)).catch(() => undefined)) !== undefined;
  }

  async get(sha256: string): Promise<Uint8Array> {
    const bytes = await readFile(this.pathOf(sha256));
    if (sha256Hex(bytes) !== sha256) throw new Error(`artifact store: ${sha256} is corrupt on disk`);
    return bytes;
  }

  /** The sha256 of each `size`-byte chunk of a stored artifact, as the signed release lists them. */
  async chunkHashes(sha256: string, size: number): Promise<string[]> {
    const hashes: string[] = [];
    for await (const chunk of this.chunks(sha256, size)) hashes.push(sha256Hex(chunk));
    return hashes;
  }

  /**
   * The stored file, checked against its name, then read `size` bytes at a time into one buffer
   * that is handed out again for each chunk: a consumer must be done with a chunk before it asks
   * for the next.
   */
  async *chunks(sha256: string, size: number): AsyncGenerator<Buffer> {
    const buf = Buffer.allocUnsafe(size);
    const hash = createHash('sha256');
    for await (const c of this.read(sha256, buf)) hash.update(c);
    if (hash.digest('hex') !== sha256) throw new Error(`artifact store: ${sha256} is corrupt on disk`);
    yield* this.read(sha256, buf);
  }

  /** The file in pieces of `buf.length` bytes, each read into `buf`. */
  private async *read(sha256: string, buf: Buffer): AsyncGenerator<Buffer> {
    const file = await open(this.pathOf(sha256), 'r');
    try {
      for (;;) {
        // A read may return less than asked before the end: fill the chunk before handing it out.
        let filled = 0;
        for (;;) {
          const { bytesRead } = await file.read(buf, filled, buf.length - filled, null);
          filled += bytesRead;
          if (bytesRead === 0 || filled === buf.length) break;
        }
        if (filled === 0) return;
        yield filled === buf.length ? buf : buf.subarray(0, filled);
        if (filled < buf.length) return;
      }
    } finally {
      await file.close();
    }
  }
}

/**
 * Artifact download over HTTP(S), for releases whose manifest names a URL (the hub's own API or
 * any object store). Same guarantees as the MQTT path: each chunk is checked against the signed
 * chunk hashes as it streams in, the file on disk is always a verified prefix, a restart resumes
 * with a Range request, and a server that sends more than the signed size is cut off at once.
 */
import { open } from 'node:fs/promises';
import { RefusedError, sha256Hex, type ArtifactRef, type Logger } from '@edgeml/core';
import { verifiedPrefix } from './transfer.js';

export async function downloadHttp(o: { artifact: ArtifactRef & { url: string }; partPath: string; log: Logger; signal: AbortSignal }): Promise<{ resumedFrom: number }> {
  const { artifact } = o;
  const start = await verifiedPrefix(o.partPath, artifact);
  if (start === artifact.chunks.length) return { resumedFrom: start };
  const offset = start * artifact.chunkSize;
  if (start > 0) o.log.info('resuming download', { sha256: artifact.sha256, fromChunk: start, of: artifact.chunks.length });
  const res = await fetch(artifact.url, { signal: o.signal, headers: offset ? { range: `bytes=${offset}-` } : {} });
  if (!res.ok || !res.body) throw new Error(`GET ${artifact.url} answered ${res.status}`);
  // A server that ignores Range sends the whole file: skip what is already on disk.
  let skip = offset > 0 && res.status !== 206 ? offset : 0;
  const fh = await open(o.partPath, 'a');
  let index = start;
  let pending = Buffer.alloc(0);
  let received = offset;
  const flush = async (final: boolean) => {
    while (pending.length >= artifact.chunkSize || (final && pending.length > 0)) {
      const len = Math.min(artifact.chunkSize, pending.length);
      const chunk = pending.subarray(0, len);
      if (sha256Hex(chunk) !== artifact.chunks[index]) throw new RefusedError('hash-mismatch', `chunk ${index} from ${artifact.url} does not match its signed hash`);
      await fh.write(chunk);
      pending = pending.subarray(len);
      index++;
    }
  };
  try {
    for await (const part of res.body as AsyncIterable<Uint8Array>) {
      let bytes = Buffer.from(part);
      if (skip > 0) {
        const cut = Math.min(skip, bytes.length);
        bytes = bytes.subarray(cut);
        skip -= cut;
      }
      received += bytes.length;
      if (received > artifact.size) throw new RefusedError('size-mismatch', `${artifact.url} sent more than the signed ${artifact.size} bytes`);
      pending = Buffer.concat([pending, bytes]);
      await flush(false);
    }
    await flush(true);
    await fh.sync();
  } finally {
    await fh.close();
  }
  if (received !== artifact.size) throw new RefusedError('size-mismatch', `${artifact.url} sent ${received} bytes, the release declares ${artifact.size}`);
  return { resumedFrom: start };
}

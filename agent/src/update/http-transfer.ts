/**
 * Artifact download over HTTP(S), for releases whose manifest names a URL (the hub's own API or
 * any object store). Same guarantees as the MQTT path: each chunk is checked against the signed
 * chunk hashes as it streams in, the file on disk is always a verified prefix, a restart resumes
 * with a Range request, and a server that sends more than the signed size is cut off at once.
 * A server that stops sending for `stallMs` (or trickles a byte now and then) is cut off with a
 * transient fault, as are network errors and answers a later try can get past (5xx, 404, 429).
 */
import { open } from 'node:fs/promises';
import { RefusedError, sha256Hex, type ArtifactRef, type Logger } from '@edgeml/core';
import { verifiedPrefix } from './transfer.js';
import { transientError } from './retry.js';

export interface HttpTransferOptions {
  artifact: ArtifactRef & { url: string };
  partPath: string;
  log: Logger;
  signal: AbortSignal;
  /** No verified chunk for this long fails the transfer (transient). */
  stallMs?: number;
  onProgress?: (bytes: number) => void;
}

/** Status codes that say "not now" rather than "never": the object may appear, the server recover. */
const RETRYABLE_STATUS = new Set([404, 408, 425, 429, 500, 502, 503, 504]);

export async function downloadHttp(o: HttpTransferOptions): Promise<{ resumedFrom: number }> {
  const { artifact } = o;
  const stallMs = o.stallMs ?? 30_000;
  const start = await verifiedPrefix(o.partPath, artifact);
  if (start === artifact.chunks.length) return { resumedFrom: start };
  const offset = start * artifact.chunkSize;
  if (start > 0) o.log.info('resuming download', { sha256: artifact.sha256, fromChunk: start, of: artifact.chunks.length });
  // Progress is a verified chunk, not a byte: one byte a minute must not hold the update slot.
  const stalled = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => stalled.abort(transientError('transfer-stalled', `${artifact.url} sent no complete chunk for ${stallMs} ms`)), stallMs);
  };
  const signal = AbortSignal.any([o.signal, stalled.signal]);
  arm();
  try {
    let res: Response;
    try {
      res = await fetch(artifact.url, { signal, headers: offset ? { range: `bytes=${offset}-` } : {} });
    } catch (e) {
      if (o.signal.aborted) throw e;
      if (stalled.signal.aborted) throw stalled.signal.reason;
      throw transientError('transfer-network', `GET ${artifact.url} failed: ${(e as Error).message}`, e);
    }
    if (!res.ok || !res.body) {
      const msg = `GET ${artifact.url} answered ${res.status}`;
      await res.body?.cancel().catch(() => undefined);
      if (RETRYABLE_STATUS.has(res.status)) throw transientError('transfer-unavailable', msg);
      throw new RefusedError('malformed', msg);
    }
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
        arm();
        o.onProgress?.(Math.min(index * artifact.chunkSize, artifact.size));
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
    } catch (e) {
      if (o.signal.aborted || e instanceof RefusedError) throw e;
      if (stalled.signal.aborted) throw stalled.signal.reason;
      throw transientError('transfer-network', `reading ${artifact.url} failed: ${(e as Error).message}`, e);
    } finally {
      await fh.close();
    }
    // The connection ended early: what arrived is kept, the rest is fetched on the next try.
    if (received < artifact.size) throw transientError('transfer-short', `${artifact.url} sent ${received} bytes of the signed ${artifact.size}`);
    if (received !== artifact.size) throw new RefusedError('size-mismatch', `${artifact.url} sent ${received} bytes, the release declares ${artifact.size}`);
    return { resumedFrom: start };
  } finally {
    clearTimeout(timer);
  }
}

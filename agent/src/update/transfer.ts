/**
 * Artifact download over MQTT. The hub publishes each chunk once as a retained message; an
 * agent subscribes to a sliding window of chunk topics, checks each chunk against the signed
 * chunk hashes and appends it in order. What is on disk is always a verified prefix, so after a
 * disconnect or a restart the download resumes from the last verified chunk. A transfer that
 * makes no progress asks for its window again, and past `stallMs` fails with a transient fault,
 * so the update path decides (retry later, or take a newer release) instead of waiting forever.
 */
import { open, stat, truncate } from 'node:fs/promises';
import type { MqttClient } from 'mqtt';
import { RefusedError, sha256Hex, topics, type ArtifactRef, type Logger } from '@edgeml/core';
import { transientError } from './retry.js';

export interface TransferOptions {
  client: MqttClient;
  artifact: ArtifactRef;
  partPath: string;
  log: Logger;
  signal: AbortSignal;
  /** Chunks requested at once. */
  window?: number;
  /** No chunk for this long fails the transfer (transient); the window is re-requested before. */
  stallMs?: number;
  onProgress?: (bytes: number) => void;
  /** Fault injection: wait this long after writing each chunk (see config `stepDelayMs`). */
  chunkDelayMs?: number;
}

/** Keep the verified prefix of a partial download; returns the index of the next chunk. */
export async function verifiedPrefix(partPath: string, artifact: ArtifactRef): Promise<number> {
  const size = (await stat(partPath).catch(() => undefined))?.size ?? 0;
  if (size === 0) return 0;
  const fh = await open(partPath, 'r');
  let next = 0;
  try {
    const buf = Buffer.alloc(artifact.chunkSize);
    for (; next < artifact.chunks.length; next++) {
      const off = next * artifact.chunkSize;
      const len = Math.min(artifact.chunkSize, artifact.size - off);
      if (off + len > size) break;
      const { bytesRead } = await fh.read(buf, 0, len, off);
      if (bytesRead !== len || sha256Hex(buf.subarray(0, len)) !== artifact.chunks[next]) break;
    }
  } finally {
    await fh.close();
  }
  const keep = Math.min(size, next * artifact.chunkSize);
  if (keep !== size) await truncate(partPath, keep);
  return next;
}

export async function downloadArtifact(opts: TransferOptions): Promise<{ resumedFrom: number }> {
  const { client, artifact, partPath, log } = opts;
  const total = artifact.chunks.length;
  const window = opts.window ?? 8;
  const stallMs = opts.stallMs ?? 30_000;
  // Re-request well before giving up: a broker restart loses the subscriptions, not the chunks.
  const askAgainMs = Math.max(50, Math.min(5000, Math.floor(stallMs / 3)));
  const start = await verifiedPrefix(partPath, artifact);
  if (start > 0) log.info('resuming download', { sha256: artifact.sha256, fromChunk: start, of: total });
  if (start === total) return { resumedFrom: start };

  const fh = await open(partPath, 'a');
  const pending = new Map<number, Buffer>();
  const subscribed = new Set<number>();
  let next = start;
  let settle: { resolve: () => void; reject: (e: unknown) => void } | undefined;
  const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  let writing = Promise.resolve();
  let lastProgress = Date.now();
  let lastAsked = lastProgress;

  const request = (i: number) => {
    if (i >= total || subscribed.has(i)) return;
    subscribed.add(i);
    client.subscribe(topics.artifactChunk(artifact.sha256, artifact.chunkSize, i), { qos: 1 });
  };
  const release = (i: number) => {
    subscribed.delete(i);
    client.unsubscribe(topics.artifactChunk(artifact.sha256, artifact.chunkSize, i));
  };
  const prefix = `${topics.artifactChunks(artifact.sha256, artifact.chunkSize).slice(0, -1)}`;

  const onMessage = (topic: string, payload: Buffer) => {
    if (!topic.startsWith(prefix)) return;
    const i = Number(topic.slice(prefix.length));
    if (!Number.isInteger(i) || i < next || i >= total || pending.has(i)) return;
    if (payload.length > artifact.chunkSize) {
      settle?.reject(new RefusedError('size-mismatch', `chunk ${i} is ${payload.length} bytes, above the signed chunk size ${artifact.chunkSize}`));
      return;
    }
    if (sha256Hex(payload) !== artifact.chunks[i]) {
      // A bad chunk is dropped and asked for again; the signed hash decides, not the sender.
      log.warn('chunk hash mismatch, requesting it again', { chunk: i });
      release(i);
      request(i);
      return;
    }
    pending.set(i, payload);
    writing = writing.then(async () => {
      while (pending.has(next)) {
        const data = pending.get(next)!;
        pending.delete(next);
        await fh.write(data);
        if (opts.chunkDelayMs) {
          await fh.sync();
          await new Promise((r) => setTimeout(r, opts.chunkDelayMs));
        }
        release(next);
        next++;
        lastProgress = Date.now();
        opts.onProgress?.(Math.min(next * artifact.chunkSize, artifact.size));
        request(next + window - 1);
      }
      if (next === total) settle?.resolve();
    }).catch((e) => settle?.reject(e));
  };

  const onAbort = () => settle?.reject(opts.signal.reason ?? new Error('download aborted'));
  opts.signal.addEventListener('abort', onAbort);
  client.on('message', onMessage);
  const stall = setInterval(() => {
    const now = Date.now();
    if (now - lastProgress >= stallMs) {
      settle?.reject(transientError('transfer-stalled', `no chunk of ${artifact.sha256.slice(0, 12)} arrived for ${stallMs} ms (next chunk ${next} of ${total})`));
      return;
    }
    if (now - Math.max(lastProgress, lastAsked) < askAgainMs) return;
    // Retained chunks are delivered again on a fresh subscribe: ask for the window anew.
    log.info('download stalled, requesting outstanding chunks again', { nextChunk: next });
    lastAsked = now;
    for (const i of [...subscribed]) release(i);
    for (let i = next; i < next + window; i++) request(i);
  }, Math.min(askAgainMs, 1000));
  try {
    for (let i = next; i < next + window; i++) request(i);
    await done;
    await writing;
    await fh.sync();
  } finally {
    clearInterval(stall);
    client.off('message', onMessage);
    opts.signal.removeEventListener('abort', onAbort);
    for (const i of [...subscribed]) release(i);
    await fh.close();
  }
  return { resumedFrom: start };
}

/**
 * aedes' memory persistence finds the retained messages for a subscription by testing every
 * retained message against the pattern. With a retained status per device, 10,000 devices each
 * subscribing to a few exact topics is 10^8 pattern tests: measured, half the hub's CPU while
 * a fleet connects. A subscription without wildcards matches one topic at most, so we keep an
 * index by topic beside the store and look it up; wildcard subscriptions still scan.
 */
import type { Readable } from 'node:stream';
import { Readable as ReadableStream } from 'node:stream';
import * as persistenceModule from 'aedes-persistence';

interface RetainedPacket {
  topic: string;
  payload: Buffer;
}

interface RetainedStore {
  storeRetained(packet: RetainedPacket, cb?: unknown): unknown;
  createRetainedStream(pattern: string): Readable;
  createRetainedStreamCombi(patterns: string[]): Readable;
}

const wild = (p: string) => p.includes('+') || p.includes('#');

/** The memory persistence with an exact-topic index for retained messages (this instance only). */
export function indexedMemoryPersistence(): unknown {
  // The package is CommonJS: its default export is the factory of the memory persistence.
  const memory = (persistenceModule as unknown as { default: () => unknown }).default;
  const persistence = memory();
  const p = persistence as unknown as RetainedStore;
  const index = new Map<string, RetainedPacket>();
  const store = p.storeRetained.bind(p);
  const single = p.createRetainedStream.bind(p);
  const combi = p.createRetainedStreamCombi.bind(p);
  const lookup = (patterns: string[]) => ReadableStream.from(patterns.flatMap((t) => index.get(t) ?? []));
  p.storeRetained = (packet, cb) => {
    // An empty retained payload clears the topic, as MQTT says.
    if (packet.payload.length === 0) index.delete(packet.topic);
    else index.set(packet.topic, { ...packet });
    return store(packet, cb);
  };
  p.createRetainedStream = (pattern) => (wild(pattern) ? single(pattern) : lookup([pattern]));
  p.createRetainedStreamCombi = (patterns) => (patterns.some(wild) ? combi(patterns) : lookup(patterns));
  return persistence;
}

import { createServer, connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { PublishRate, watchPacketSizes } from './limits.js';

/** Bytes written by a real client, read by a real server socket that a watcher taps. */
async function announced(chunks: Buffer[], max: number): Promise<number[]> {
  const seen: number[] = [];
  const server = createServer();
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const client = connect(port, '127.0.0.1');
  const socket = await accepted;
  const ended = new Promise<void>((resolve) => socket.once('end', resolve));
  // Like aedes: a 'readable' consumer in charge, the watcher only taps what it reads.
  socket.on('readable', () => {
    while (socket.read() !== null);
  });
  watchPacketSizes(socket, () => max, (n) => seen.push(n));
  for (const c of chunks) {
    client.write(c);
    await new Promise((r) => setTimeout(r, 5));
  }
  client.end();
  await ended;
  server.close();
  return seen;
}

/** An MQTT fixed header: type byte and the remaining-length varint. */
function header(length: number): Buffer {
  const out = [0x30];
  do {
    let b = length % 128;
    length = Math.floor(length / 128);
    if (length > 0) b |= 0x80;
    out.push(b);
  } while (length > 0);
  return Buffer.from(out);
}

describe('watchPacketSizes', () => {
  it('follows packets across chunk boundaries and stops at the first one announced above the limit', async () => {
    const small = Buffer.concat([header(3), Buffer.from('abc')]);
    const big = header(100 << 20);
    // A small packet, one split in the middle of its body, then a 100 MB header split in its varint.
    const seen = await announced([small, small.subarray(0, 3), small.subarray(3), big.subarray(0, 2), big.subarray(2), Buffer.alloc(1000)], 1000);
    expect(seen).toEqual([100 << 20]);
  });

  it('lets packets at the limit through', async () => {
    expect(await announced([Buffer.concat([header(1000), Buffer.alloc(1000)]), Buffer.concat([header(0)])], 1000)).toEqual([]);
  });
});

describe('PublishRate', () => {
  it('passes a burst, then holds each publish for its place in the queue, then refuses past the backlog', () => {
    let now = 0;
    const rate = new PublishRate({ devicePublishRate: 10, devicePublishBurst: 3, maxThrottleMs: 250 }, () => now);
    expect([rate.take('d'), rate.take('d'), rate.take('d')]).toEqual([0, 0, 0]);
    expect(rate.take('d')).toBeCloseTo(100);
    expect(rate.take('d')).toBeCloseTo(200);
    expect(rate.take('d')).toBeUndefined();
    // Other devices have buckets of their own.
    expect(rate.take('e')).toBe(0);
    now += 1000;
    expect(rate.take('d')).toBe(0);
  });
});

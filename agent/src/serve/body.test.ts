/**
 * Reading request bodies on a real node:http server over loopback: whole and byte-exact however
 * the client splits them, bounded before or while reading, and a client that leaves mid-body
 * rejects the read instead of leaving it pending.
 */
import { createServer, request, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BodyError, readBody } from './body.js';

const LIMIT = 4096;
let server: Server;
let port: number;
/** What the server made of each request, in arrival order. */
let outcomes: Promise<Buffer>[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const read = readBody(req, LIMIT);
    outcomes.push(read);
    read.then(
      (body) => res.writeHead(200, { 'content-length': body.length }).end(body),
      (e: unknown) => {
        const status = e instanceof BodyError ? e.status : 500;
        if (!res.destroyed) res.writeHead(status, { connection: 'close' }).end((e as Error).message);
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** POST `parts` as separate writes (with a Content-Length unless `chunked`); the status and echoed body. */
function post(parts: Buffer[], chunked = false): Promise<{ status: number; body: Buffer }> {
  const length = parts.reduce((n, p) => n + p.length, 0);
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers: chunked ? {} : { 'content-length': length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    const write = async () => {
      for (const p of parts) {
        req.write(p);
        // Each part in its own packet: the server sees a body split where the client split it.
        await new Promise((r) => setImmediate(r));
      }
      req.end();
    };
    write().catch(reject);
  });
}

const bytes = (n: number, seed = 1) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

describe('readBody', () => {
  it('returns the body byte for byte whether it comes in one write or in many uneven ones', async () => {
    const whole = bytes(3001);
    expect((await post([whole])).body.equals(whole)).toBe(true);
    const parts = [whole.subarray(0, 1), whole.subarray(1, 7), whole.subarray(7, 1500), whole.subarray(1500, 1501), whole.subarray(1501)];
    const r = await post(parts);
    expect(r.status).toBe(200);
    expect(r.body.equals(whole)).toBe(true);
  });

  it('joins a chunked body (no Content-Length) and answers an empty one with an empty buffer', async () => {
    const whole = bytes(2000, 7);
    const r = await post([whole.subarray(0, 999), whole.subarray(999)], true);
    expect(r.body.equals(whole)).toBe(true);
    const empty = await post([]);
    expect(empty.status).toBe(200);
    expect(empty.body.length).toBe(0);
  });

  it('refuses a body over the limit with 413, declared (before reading) or chunked (while reading)', async () => {
    const declared = await post([bytes(LIMIT + 1)]);
    expect(declared.status).toBe(413);
    expect(declared.body.toString()).toBe(`request body of ${LIMIT + 1} bytes exceeds the limit of ${LIMIT} bytes`);
    const streamed = await post([bytes(3000), bytes(3000)], true);
    expect(streamed.status).toBe(413);
    expect(streamed.body.toString()).toBe(`request body exceeds the limit of ${LIMIT} bytes`);
  });

  it('rejects, with 400, the read of a body whose client leaves halfway', async () => {
    outcomes = [];
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n' + 'a'.repeat(300));
    // Leave only once the server has begun reading this request.
    for (let i = 0; outcomes.length === 0 && i < 400; i++) await new Promise((r) => setTimeout(r, 25));
    expect(outcomes).toHaveLength(1);
    socket.destroy();
    const e = await outcomes[0]!.then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(BodyError);
    expect((e as BodyError).status).toBe(400);
  });
});

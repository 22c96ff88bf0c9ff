/**
 * A client of the agent's API in its own process, as an application on the device would be:
 * `node http-client.js PORT BODY_FILE CONTENT_TYPE FEATURES MS [CONNECTIONS] [WARMUP_MS]` posts the
 * body again and again for MS milliseconds on CONNECTIONS keep-alive connections (default 1),
 * each with one request in flight at a time, reading and parsing each answer whole. Before that
 * it sends for WARMUP_MS (default: 50 requests per connection) so that both ends' code is
 * compiled. Prints `timed` when the timed window starts, then
 * `{"requestsPerSecond": N, "requests": N, "warmupRequests": N}`; `requests` counts the timed ones.
 *
 * With one connection this measures a request's round trip (client, kernel, server, back); with
 * several, the server always has a request waiting while it answers another, which is how a
 * high-throughput client uses it and what rows/s at the server is.
 */
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';

const [port, bodyFile, contentType, features, ms, connectionsArg, warmupArg] = process.argv.slice(2);
const body = readFileSync(bodyFile!);
const connections = Number(connectionsArg ?? 1);
const warmupMs = warmupArg === undefined ? undefined : Number(warmupArg);
const agent = new Agent({ keepAlive: true, maxSockets: connections });
const headers: Record<string, string | number> = { 'content-type': contentType!, 'content-length': body.length };
if (contentType === 'application/octet-stream') headers['x-edgeml-features'] = features!;

function post(): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = request({ agent, host: '127.0.0.1', port: Number(port), method: 'POST', path: '/v1/predict', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`answered ${res.statusCode}: ${Buffer.concat(chunks).toString('utf8').slice(0, 200)}`))));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

// The client parses what it gets, as a real one must.
const parse =
  contentType === 'application/json'
    ? (b: Buffer) => JSON.parse(b.toString('utf8')) as unknown
    : // Buffer.concat gives a fresh, aligned buffer; a view is all a client needs.
      (b: Buffer) => new Float32Array(b.buffer, b.byteOffset, b.length / 4);

/** One connection's loop: requests back to back until `until` (and at least `min`); how many it sent. */
async function loop(until: number, min: number): Promise<number> {
  let n = 0;
  while (performance.now() < until || n < min) {
    parse(await post());
    n++;
  }
  return n;
}

async function main(): Promise<void> {
  const lanes = Array.from({ length: connections });
  const warm = await Promise.all(lanes.map(() => loop(warmupMs === undefined ? 0 : performance.now() + warmupMs, 50)));
  // The server's side starts its CPU clock on this line: the timed window only, not the warm-up.
  process.stdout.write('timed\n');
  const t0 = performance.now();
  const counts = await Promise.all(lanes.map(() => loop(t0 + Number(ms), 20)));
  const elapsed = performance.now() - t0;
  const requests = counts.reduce((a, b) => a + b, 0);
  process.stdout.write(JSON.stringify({ requestsPerSecond: (requests * 1000) / elapsed, requests, warmupRequests: warm.reduce((a, b) => a + b, 0) }) + '\n');
  agent.destroy();
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});

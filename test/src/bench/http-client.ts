/**
 * A client of the agent's API in its own process, as an application on the device would be:
 * `node http-client.js PORT BODY_FILE CONTENT_TYPE FEATURES MS` posts the body again and again on
 * one keep-alive connection for MS milliseconds (after a warm-up), reading each answer whole, and
 * prints `{"requestsPerSecond": N, "requests": N}`.
 */
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';

const [port, bodyFile, contentType, features, ms] = process.argv.slice(2);
const body = readFileSync(bodyFile!);
const agent = new Agent({ keepAlive: true, maxSockets: 1 });
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

async function main(): Promise<void> {
  // The client parses what it gets, as a real one must.
  const parse = contentType === 'application/json' ? (b: Buffer) => JSON.parse(b.toString('utf8')) as unknown : (b: Buffer) => new Float32Array(b.buffer, b.byteOffset, b.length / 4);
  for (let i = 0; i < 50; i++) parse(await post());
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < Number(ms) || n < 20) {
    parse(await post());
    n++;
  }
  process.stdout.write(JSON.stringify({ requestsPerSecond: (n * 1000) / (performance.now() - t0), requests: n + 50 }) + '\n');
  agent.destroy();
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});

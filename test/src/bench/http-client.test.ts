/**
 * The HTTP batch bench's client (http-client.ts, run as its own process as the bench runs it)
 * against the agent's real API serving a real model: it sends on as many keep-alive connections
 * as asked (so the server has the next request waiting while it answers one, as with a
 * high-throughput client), prints `timed` before its timed window, and counts only timed requests.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Predictor, startApi, type Api } from '@edgeml/agent';
import { silentLogger, type Release } from '@edgeml/core';
import { buildDataset, readCsvFile, saveBundle, splitDataset, tfjsWasmLoader, trainModel } from '@edgeml/ml';
import { dataFile, tempDir } from '../helpers/cli.js';

const CLIENT = fileURLToPath(new URL('../../dist/bench/http-client.js', import.meta.url));

let api: Api;
let predictor: Predictor;
let bodyFile: string;
let cleanup: () => Promise<void>;
/** The client ports the server has seen requests from. */
const ports = new Set<number>();

beforeAll(async () => {
  const { dataset } = buildDataset(await readCsvFile(dataFile('iris.csv')), { target: 'species' });
  const trained = await trainModel(splitDataset(dataset, { seed: 7 }), { arch: 'mlp', seed: 7, epochs: 5, hidden: [8] });
  const artifact = await saveBundle(trained.model);
  trained.model.dispose();
  const release: Release = {
    type: 'release',
    model: 'iris',
    version: 1,
    channel: 'stable',
    created: new Date().toISOString(),
    expires: new Date(Date.now() + 86_400_000).toISOString(),
    artifact: { sha256: '0'.repeat(64), size: artifact.length, format: 'tfjs-layers', runtime: 'tfjs-wasm', chunkSize: 65536, chunks: [] },
    spec: trained.spec,
    validation: {},
    budgets: {},
    selfTest: { rows: [], expected: [], tolerance: 0 },
  };
  predictor = new Predictor();
  predictor.swap({ release, runtime: await tfjsWasmLoader('tfjs-layers')(artifact) });
  api = await startApi({ host: '127.0.0.1', port: 0, predictor, log: silentLogger, health: () => ({ status: 'ok' }), processMetrics: false });
  api.server.on('request', (req) => ports.add(req.socket.remotePort ?? 0));
  const dir = await tempDir('edgeml-http-client-');
  cleanup = dir.cleanup;
  bodyFile = join(dir.dir, 'rows.f32');
  // 64 rows of 4 features.
  await writeFile(bodyFile, Buffer.from(Float32Array.from({ length: 64 * 4 }, (_, i) => 1 + (i % 7)).buffer));
});

afterAll(async () => {
  await api?.close();
  predictor?.swap(null)?.runtime.dispose();
  await cleanup?.();
});

/** Run the client for `ms` on `connections`; its output lines. */
function runClient(connections: number, ms: number): Promise<string[]> {
  const port = new URL(api.url).port;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLIENT, port, bodyFile, 'application/octet-stream', '4', String(ms), String(connections), '100'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out.trim().split('\n'));
      else reject(new Error(`the client exited ${code}: ${err}`));
    });
  });
}

describe('the HTTP batch bench client', () => {
  it('sends on each of its connections, and counts only the timed requests', async () => {
    ports.clear();
    const lines = await runClient(4, 300);
    expect(lines[0]).toBe('timed');
    const result = JSON.parse(lines[1]!) as { requestsPerSecond: number; requests: number; warmupRequests: number };
    // At least 20 timed and 50 warm-up requests per connection, however slow the machine.
    expect(result.requests).toBeGreaterThanOrEqual(4 * 20);
    expect(result.warmupRequests).toBeGreaterThanOrEqual(4 * 50);
    expect(result.requestsPerSecond).toBeGreaterThan(0);
    // Four keep-alive connections, each used throughout.
    expect(ports.size).toBe(4);
  });

  it('with one connection uses that one only', async () => {
    ports.clear();
    const lines = await runClient(1, 200);
    expect(lines).toHaveLength(2);
    expect(ports.size).toBe(1);
  });
});

/**
 * The agent's local API on a real agent process: values beyond float32 range are refused with
 * the row and feature named (they would otherwise poison the telemetry the hub analyses), and a
 * request naming a foreign Host or Origin (a web page in a browser on the device, a DNS
 * rebinding) is refused with 403.
 */
import { request } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLOAT32_MAX, writeFileAtomic } from '@edgeml/core';
import { irisModel, publishModel, spawnTestAgent, startTestHub, waitFor, type TestHub } from '../helpers/fleet.js';
import type { AgentProcess } from 'edgeml';

let t: TestHub;
let agent: AgentProcess;
let url: string;

/** node:http, so the test sets Host and Origin itself, as a browser or a rebinding page would. */
function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: { error?: string } & Record<string, unknown> }> {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as { error?: string } }));
    });
    req.on('error', reject);
    req.end(text);
  });
}

beforeAll(async () => {
  t = await startTestHub();
  await publishModel(t.hub, await irisModel());
  agent = await spawnTestAgent(t, 'api-dev');
  await waitFor('the agent serving v1', () => (t.hub.registry.getDevice('api-dev')?.state === 'active' && t.hub.registry.getDevice('api-dev')?.version === 1 ? true : undefined), 240_000, 100);
  url = await agent.apiUrl();
}, 300_000);

afterAll(async () => {
  await agent?.stop();
  await t?.stop();
});

const ok = [5.1, 3.5, 1.4, 0.2];

describe('float32 range at the agent API', () => {
  it.each([
    ['1e39', 1e39],
    ['-1e39', -1e39],
    ['just past float32 max', 3.4028236e38],
  ])('refuses %s with the row and feature named', async (_, v) => {
    const one = await post('/v1/predict', { row: [5.1, 3.5, v, 0.2] });
    expect(one.status).toBe(422);
    expect(one.body.error).toBe(`row 0: feature "petal_length" is ${v}, outside the float32 range (|x| <= ${FLOAT32_MAX})`);
    const named = await post('/v1/predict', { rows: [ok, { sepal_length: 5.1, sepal_width: v, petal_length: 1.4, petal_width: 0.2 }] });
    expect(named.status).toBe(422);
    expect(named.body.error).toMatch(/^row 1: feature "sepal_width" is .*outside the float32 range/);
  });

  it('accepts the largest float32 value itself', async () => {
    const r = await post('/v1/predict', { row: [5.1, 3.5, FLOAT32_MAX, -FLOAT32_MAX] });
    expect(r.status).toBe(200);
  });
});

describe('Host and Origin at the agent API', () => {
  it('answers loopback names', async () => {
    const port = new URL(url).port;
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`]) {
      expect((await post('/v1/predict', { row: ok }, { host })).status).toBe(200);
    }
    expect((await post('/v1/predict', { row: ok }, { origin: `http://localhost:${port}` })).status).toBe(200);
  });

  it('refuses a page from another origin in a browser on the device', async () => {
    const r = await post('/v1/predict', { row: ok }, { origin: 'https://evil.example' });
    expect(r.status).toBe(403);
    expect(r.body.error).toContain('Origin "https://evil.example" is not allowed');
    expect((await post('/v1/predict', { row: ok }, { origin: 'null' })).status).toBe(403);
  });

  it('refuses a DNS-rebinding request naming a foreign Host', async () => {
    const r = await post('/v1/predict', { row: ok }, { host: 'rebind.evil.example:8760' });
    expect(r.status).toBe(403);
    expect(r.body.error).toContain('Host "rebind.evil.example:8760" is not one this API answers to');
  });

  it('answers a name the agent config allows, after a restart with it', async () => {
    const configPath = join(agent.dir, 'agent.json');
    const config = JSON.parse(await readFile(configPath, 'utf8')) as { api: Record<string, unknown> };
    await agent.stop();
    await writeFileAtomic(configPath, JSON.stringify({ ...config, api: { ...config.api, allowedHosts: ['kiosk.local'] } }), 0o600);
    agent = await spawnTestAgent(t, 'api-dev');
    url = await waitFor('the restarted API', () => agent.apiUrl().catch(() => undefined), 180_000, 100);
    expect((await post('/v1/predict', { row: ok }, { host: 'kiosk.local', origin: 'http://kiosk.local' })).status).not.toBe(403);
    expect((await post('/v1/predict', { row: ok }, { host: 'other.local' })).status).toBe(403);
  }, 300_000);
});

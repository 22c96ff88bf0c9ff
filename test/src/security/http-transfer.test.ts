/**
 * Artifacts over HTTP(S) instead of MQTT chunks: a device installs a release whose manifest
 * names a URL (the hub's own artifact route), and refuses a server that sends endless data or
 * bytes other than the signed ones.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connectAsync } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '@edgeml/core';
import type { Agent } from '@edgeml/agent';
import { buildRelease, releaseInputFrom, signRelease, type Candidate } from '@edgeml/hub';
import { irisModel, privilegedClientOptions, publishModel, releaseSigner, startTestAgent, startTestHub, untilStatus, type TestHub } from '../helpers/fleet.js';

let t: TestHub;
let c: Candidate;
let agent: Agent;
let rogue: Server;
let rogueUrl: string;
let mode: 'endless' | 'wrong' = 'endless';

beforeAll(async () => {
  t = await startTestHub({ artifactBaseUrl: 'self' });
  c = await irisModel();
  ({ agent } = await startTestAgent(t, 'http-dev'));
  rogue = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    if (mode === 'wrong') return res.end(Buffer.alloc(c.artifact.length, 7));
    // Endless data: keep writing until the client hangs up.
    const chunk = Buffer.alloc(64 * 1024, 1);
    const pump = () => {
      while (res.write(chunk)) if (res.destroyed) return;
      if (!res.destroyed) res.once('drain', pump);
    };
    res.on('close', () => res.destroy());
    pump();
  });
  await new Promise<void>((r) => rogue.listen(0, '127.0.0.1', r));
  rogueUrl = `http://127.0.0.1:${(rogue.address() as AddressInfo).port}/model.bin`;
});
afterAll(async () => {
  await agent?.close();
  await t?.stop();
  await new Promise((r) => rogue?.close(r));
});

describe('artifacts over HTTP', () => {
  it('installs a release whose manifest names the hub artifact URL', async () => {
    const rec = await publishModel(t.hub, c);
    expect(rec.envelope.signed.artifact.url).toBe(`${t.hub.httpUrl}/v1/artifacts/${rec.sha256}`);
    await untilStatus(agent, 'active over HTTP', (s) => s.state === 'active' && s.version === rec.version);
    // A range request resumes where a download stopped.
    const res = await fetch(rec.envelope.signed.artifact.url!, { headers: { range: 'bytes=100-' } });
    expect(res.status).toBe(206);
    expect((await res.arrayBuffer()).byteLength).toBe(rec.sizeBytes - 100);
  });

  it.each([
    ['endless data', 'endless', 'size-mismatch'],
    ['bytes other than the signed ones', 'wrong', 'hash-mismatch'],
  ] as const)('refuses a server that sends %s', async (_name, m, reason) => {
    mode = m;
    const signer = await releaseSigner(t.hub);
    const version = t.hub.registry.nextVersion('iris') + (m === 'wrong' ? 1 : 0);
    const r = buildRelease({ ...releaseInputFrom(c, { model: 'iris', budgets: { probationMs: 0 } }), version, url: rogueUrl });
    const client = await connectAsync(t.hub.brokerUrl, privilegedClientOptions(t));
    await client.publishAsync(topics.release('iris', 'stable'), JSON.stringify(signRelease(r, signer)), { qos: 1, retain: true });
    await client.endAsync();
    const s = await untilStatus(agent, reason, (st) => st.failedVersion === version && st.state === 'rolled-back');
    expect(s.lastError).toContain(`${reason}:`);
    expect(s.version).toBe(1);
  });
});

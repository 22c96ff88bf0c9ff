/**
 * Enrolment through a man in the middle: a proxy on the device's network forwards to the real
 * hub (its own process) and rewrites the answer. The device, `edgeml agent enroll` as a user
 * runs it, must refuse and write nothing; without the proxy, over HTTPS with --ca, it enrols.
 */
import { createServer, type Server } from 'node:http';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, rootFingerprint, signEnvelope, signReleaseKey } from '@edgeml/core';
import { edgeml, tempDir } from '../helpers/cli.js';
import { selfSignedCert, spawnHub, type HubProcess } from './hub-process.js';

type Rewrite = (body: Record<string, unknown>) => Record<string, unknown>;

/** An HTTP proxy that forwards /v1/enroll to `target` and rewrites the JSON answer. */
async function mitmProxy(target: string, rewrite: Rewrite): Promise<{ url: string; close(): Promise<void>; seen: number }> {
  const state = { seen: 0 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const upstream = await fetch(new URL(req.url ?? '/', target), { method: req.method ?? 'GET', headers: { 'content-type': 'application/json' }, body: Buffer.concat(chunks) });
        let body = (await upstream.json()) as Record<string, unknown>;
        if (upstream.ok) {
          state.seen++;
          body = rewrite(body);
        }
        res.writeHead(upstream.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      })().catch((e: Error) => {
        res.writeHead(502);
        res.end(e.message);
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get seen() {
      return state.seen;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const ATTACKER_BROKER = 'mqtt://203.0.113.7:1883';

/** The full-fidelity attacker: its own root and release keys, everything re-signed. */
const swapRootAndBroker: Rewrite = (body) => {
  const root = generateKeyPair();
  const release = generateKeyPair();
  const doc = (body.enrollment as { signed: Record<string, unknown> } | undefined)?.signed;
  return {
    ...body,
    brokerUrl: ATTACKER_BROKER,
    rootKey: root.publicKeyPem,
    ...(doc ? { releaseKey: signReleaseKey(root, release, new Date()), enrollment: signEnvelope({ ...doc, brokerUrl: ATTACKER_BROKER }, release) } : {}),
  };
};

/** Keeps the hub's root key and signatures, points the device at another broker. */
const swapBrokerOnly: Rewrite = (body) => ({ ...body, brokerUrl: ATTACKER_BROKER });

let dir: string;
let cleanup: () => Promise<void>;
let plain: HubProcess;
let secure: HubProcess;
let cert: { cert: string; key: string };

async function token(hub: HubProcess): Promise<string> {
  const r = await edgeml(['hub', 'token', '--data-dir', hub.dataDir, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { token: string }).token;
}

function enroll(hubUrl: string, tok: string, id: string, extra: string[] = []) {
  const agentDir = join(dir, 'devices', id);
  return edgeml(['agent', 'enroll', '--hub', hubUrl, '--token', tok, '--device-id', id, '--model', 'iris', '--data-dir', agentDir, '--config', join(agentDir, 'agent.json'), '--api-port', '0', ...extra]).then((r) => ({
    ...r,
    agentDir,
  }));
}

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('intercept-enrol'));
  cert = selfSignedCert(dir);
  plain = await spawnHub(join(dir, 'hub-plain'));
}, 180_000);

afterAll(async () => {
  await plain?.kill();
  await secure?.kill();
  await cleanup?.();
});

describe('enrolment through a man-in-the-middle proxy', () => {
  it('refuses a hub whose root key is not the one the token pins, and writes nothing', async () => {
    const proxy = await mitmProxy(plain.apiUrl, swapRootAndBroker);
    try {
      const r = await enroll(proxy.url, await token(plain), 'mitm-root');
      expect(proxy.seen).toBe(1);
      expect(r.code, r.stdout + r.stderr).toBe(1);
      expect(r.stderr).toMatch(/root key has fingerprint sha256:[0-9a-f]{64}, the token pins sha256:[0-9a-f]{64}/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(existsSync(r.agentDir)).toBe(false);
    } finally {
      await proxy.close();
    }
  });

  it('refuses a broker URL the hub did not sign, and writes nothing', async () => {
    const proxy = await mitmProxy(plain.apiUrl, swapBrokerOnly);
    try {
      const r = await enroll(proxy.url, await token(plain), 'mitm-broker');
      expect(proxy.seen).toBe(1);
      expect(r.code, r.stdout + r.stderr).toBe(1);
      expect(r.stderr).toContain(`the broker URL ${ATTACKER_BROKER} is not the one the hub signed`);
      expect(existsSync(r.agentDir)).toBe(false);
    } finally {
      await proxy.close();
    }
  });

  it('refuses a token that pins no root key, before it talks to anyone', async () => {
    const bare = (await token(plain)).split('.')[0]!;
    const r = await enroll(plain.apiUrl, bare, 'no-pin');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('the token carries no root key fingerprint');
    expect(existsSync(r.agentDir)).toBe(false);
    // The same secret with the fingerprint passed on its own enrols.
    const fp = rootFingerprint(await readFile(join(plain.dataDir, 'keys', 'root.pub'), 'utf8'));
    const ok = await enroll(plain.apiUrl, bare, 'no-pin', ['--root-fingerprint', `sha256:${fp}`]);
    expect(ok.code, ok.stderr).toBe(0);
  });

  it('enrols without the proxy, pinning the hub root key and broker URL', async () => {
    const r = await enroll(plain.apiUrl, await token(plain), 'direct');
    expect(r.code, r.stderr).toBe(0);
    const config = JSON.parse(await readFile(join(r.agentDir, 'agent.json'), 'utf8')) as { broker: { url: string } };
    expect(config.broker.url).toBe(plain.brokerUrl);
    expect(await readFile(join(r.agentDir, 'root.pub'), 'utf8')).toBe(await readFile(join(plain.dataDir, 'keys', 'root.pub'), 'utf8'));
  });
});

describe('the hub API over HTTPS', () => {
  beforeAll(async () => {
    secure = await spawnHub(join(dir, 'hub-tls'), ['--https-cert', cert.cert, '--https-key', cert.key]);
  }, 180_000);

  it('serves HTTPS with --https-cert and enrols a device that trusts its CA with --ca', async () => {
    expect(secure.apiUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const r = await enroll(secure.apiUrl, await token(secure), 'tls-dev', ['--ca', cert.cert]);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(r.agentDir, 'agent.json'))).toBe(true);
  });

  it('refuses an HTTPS hub whose certificate it has no CA for, and writes nothing', async () => {
    const r = await enroll(secure.apiUrl, await token(secure), 'tls-untrusted');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/cannot reach the hub .*(self-signed|certificate)/);
    expect(existsSync(r.agentDir)).toBe(false);
  });
});

describe('reserved ids', () => {
  it.each(['edgeml-hub', 'edgeml-operator', 'edgeml-anything'])('refuses to enrol %s at the hub', async (id) => {
    const secret = (await token(plain)).split('.')[0]!;
    const res = await fetch(`${plain.apiUrl}/v1/enroll`, { method: 'POST', body: JSON.stringify({ token: secret, deviceId: id }) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toContain('reserved');
  });
});

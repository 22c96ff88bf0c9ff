/**
 * Device identity on the embedded broker: every client authenticates, enrolment tokens work
 * once, a device publishes only under its own subtree and reads nothing of other devices, and
 * the broker can serve MQTT over TLS.
 */
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '@edgeml/core';
import { enrollDevice } from '@edgeml/agent';
import { irisModel, publishModel, startTestAgent, startTestHub, untilStatus, waitFor, type TestHub } from '../helpers/fleet.js';

let t: TestHub;
const clients: MqttClient[] = [];
const connect = async (opts: Parameters<typeof connectAsync>[1], url = t.hub.brokerUrl) => {
  const c = await connectAsync(url, { reconnectPeriod: 0, ...opts });
  clients.push(c);
  return c;
};

/** A publish the broker may refuse: it never acknowledges it, so do not wait for an ack. */
const attempt = (c: MqttClient, topic: string, payload: string) =>
  Promise.race([c.publishAsync(topic, payload, { qos: 1, retain: true }).catch(() => undefined), new Promise((r) => setTimeout(r, 1000))]);

/** The QoS the broker granted, 128 for a refusal (mqtt.js reports that as an error). */
const grantedQos = (c: MqttClient, topic: string, qos: 0 | 1 = 1) =>
  c.subscribeAsync(topic, { qos }).then(
    (g) => g[0]!.qos,
    (e: Error) => (/Subscribe error/.test(e.message) ? 128 : Promise.reject(e)),
  );

/** The retained payload on a topic, as a trusted reader sees it now. */
async function retained(topic: string): Promise<string | undefined> {
  const reader = await connect({ ...t.hub.hubCredentials, clientId: `${t.hub.hubCredentials.username}:reader-${Date.now()}` });
  const got = new Promise<string | undefined>((resolve) => {
    reader.on('message', (tp, p) => tp === topic && resolve(p.toString()));
    setTimeout(() => resolve(undefined), 500);
  });
  await reader.subscribeAsync(topic, { qos: 1 });
  return got;
}

async function enroll(id: string) {
  return enrollDevice({ hubUrl: t.hub.httpUrl!, token: t.hub.createEnrollToken(), deviceId: id, model: 'iris', dataDir: join(t.dir, id), configPath: join(t.dir, id, 'agent.json') });
}

beforeAll(async () => {
  t = await startTestHub();
  await publishModel(t.hub, await irisModel());
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)));
  await t?.stop();
});

describe('enrolment', () => {
  it('exchanges a one-time token for credentials, once', async () => {
    const token = t.hub.createEnrollToken();
    const first = await fetch(`${t.hub.httpUrl}/v1/enroll`, { method: 'POST', body: JSON.stringify({ token, deviceId: 'enrol-1' }) });
    expect(first.status).toBe(200);
    const body = (await first.json()) as { username: string; password: string; rootKey: string };
    expect(body.username).toBe('enrol-1');
    expect(body.rootKey).toBe(t.hub.rootPublicKeyPem);
    const again = await fetch(`${t.hub.httpUrl}/v1/enroll`, { method: 'POST', body: JSON.stringify({ token, deviceId: 'enrol-2' }) });
    expect(again.status).toBe(403);
  });

  it('refuses an expired token, an unknown token and a second enrolment of the same id', async () => {
    const expired = t.hub.createEnrollToken(-1);
    expect((await fetch(`${t.hub.httpUrl}/v1/enroll`, { method: 'POST', body: JSON.stringify({ token: expired, deviceId: 'enrol-3' }) })).status).toBe(403);
    expect((await fetch(`${t.hub.httpUrl}/v1/enroll`, { method: 'POST', body: JSON.stringify({ token: 'x'.repeat(40), deviceId: 'enrol-3' }) })).status).toBe(403);
    expect((await fetch(`${t.hub.httpUrl}/v1/enroll`, { method: 'POST', body: JSON.stringify({ token: t.hub.createEnrollToken(), deviceId: 'enrol-1' }) })).status).toBe(409);
    expect((await fetch(`${t.hub.httpUrl}/v1/enroll`, { method: 'POST', body: JSON.stringify({ token: t.hub.createEnrollToken(), deviceId: 'bad/id+' }) })).status).toBe(400);
    expect((await fetch(`${t.hub.httpUrl}/v1/enroll`, { method: 'POST', body: '{nope' })).status).toBe(400);
  });

  it('writes the agent config with mode 0600 and the pinned root key', async () => {
    const config = await enroll('enrol-4');
    const { stat } = await import('node:fs/promises');
    expect((await stat(join(t.dir, 'enrol-4', 'agent.json'))).mode & 0o777).toBe(0o600);
    expect(await readFile(config.rootKey, 'utf8')).toBe(t.hub.rootPublicKeyPem);
  });
});

describe('broker authentication and ACLs', () => {
  it('refuses a client without credentials or with a wrong password', async () => {
    await expect(connect({ clientId: 'anon' })).rejects.toThrow(/Bad username or password|Not authorized/i);
    const c = await enroll('acl-pw');
    await expect(connect({ clientId: 'x', username: c.broker.username, password: 'wrong' })).rejects.toThrow(/Bad username or password|Not authorized/i);
  });

  it('refuses a device that publishes a release', async () => {
    const before = await retained(topics.release('iris', 'stable'));
    expect(before).toBeDefined();
    const c = await enroll('acl-rogue');
    const rogue = await connect({ clientId: c.broker.username!, username: c.broker.username, password: c.broker.password });
    // The broker drops the connection of a client that publishes where it may not.
    await attempt(rogue, topics.release('iris', 'stable'), '{"forged":true}');
    expect(await retained(topics.release('iris', 'stable'))).toBe(before);
  });

  it("refuses a device that publishes another device's status", async () => {
    const { agent } = await startTestAgent(t, 'acl-victim');
    try {
      await untilStatus(agent, 'victim active', (s) => s.state === 'active');
      await waitFor('victim in registry', () => t.hub.registry.listDevices().find((d) => d.id === 'acl-victim' && d.state === 'active'), 5000);
      const c = await enroll('acl-liar');
      const liar = await connect({ clientId: c.broker.username!, username: c.broker.username, password: c.broker.password });
      const forged = { ...agent.status(), state: 'failed', health: 'failed' };
      await attempt(liar, topics.status('acl-victim'), JSON.stringify(forged));
      await new Promise((r) => setTimeout(r, 300));
      expect(t.hub.registry.listDevices().find((d) => d.id === 'acl-victim')?.state).toBe('active');
      expect(JSON.parse((await retained(topics.status('acl-victim')))!).state).toBe('active');
    } finally {
      await agent.close();
    }
  });

  it("lets a device read releases and its own topics, but not other devices'", async () => {
    const c = await enroll('acl-reader');
    const dev = await connect({ clientId: c.broker.username!, username: c.broker.username, password: c.broker.password });
    const granted = (topic: string) => grantedQos(dev, topic);
    expect(await granted(topics.release('iris', 'stable'))).toBe(1);
    expect(await granted('edgeml/v1/devices/acl-reader/cmd')).toBe(1);
    expect(await granted('edgeml/v1/devices/acl-victim/cmd')).toBe(128);
    expect(await granted('edgeml/v1/devices/+/status')).toBe(128);
    expect(await granted('#')).toBe(128);
  });

  it('gives operators read-only access to statuses', async () => {
    const op = await connect({ clientId: `${t.hub.operator.username}:op`, ...t.hub.operator });
    expect(await grantedQos(op, topics.allStatuses(), 0)).toBe(0);
    expect(await grantedQos(op, 'edgeml/v1/devices/+/cmd', 0)).toBe(128);
  });
});

describe('TLS', () => {
  it('serves mqtts with a certificate, and an agent that trusts it installs over it', async () => {
    const dir = join(t.dir, 'tls');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(dir, { recursive: true });
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    const cert = await readFile(join(dir, 'cert.pem'), 'utf8');
    const key = await readFile(join(dir, 'key.pem'), 'utf8');
    const secure = await startTestHub({ tls: { cert, key } });
    try {
      expect(secure.hub.brokerUrl).toMatch(/^mqtts:\/\//);
      await publishModel(secure.hub, await irisModel());
      const { agent } = await startTestAgent(secure, 'tls-dev', { broker: { ca: join(dir, 'cert.pem') } });
      try {
        await untilStatus(agent, 'active over TLS', (s) => s.state === 'active' && s.version === 1);
      } finally {
        await agent.close();
      }
      // Without trusting the certificate, the handshake fails.
      await expect(connectAsync(secure.hub.brokerUrl, { ...secure.hub.operator, reconnectPeriod: 0, connectTimeout: 3000 })).rejects.toThrow(/self-signed|certificate/i);
    } finally {
      await secure.stop();
    }
  });
});

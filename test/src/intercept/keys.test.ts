/**
 * Release-key lifecycle on real processes: an offline root, a short-lived release key the hub
 * warns about (log, /metrics, `edgeml release`), a rotation the running hub picks up without a
 * restart, and an agent that, having seen the new key, refuses a release signed by the old one.
 */
import { existsSync } from 'node:fs';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connectAsync } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readKeyPair, signEnvelope, topics, type Envelope, type ReleaseKeyDoc, type SignedRelease } from '@edgeml/core';
import { Registry } from '@edgeml/hub';
import { spawnAgent, waitFor, type AgentProcess } from 'edgeml';
import { dataFile, edgeml, tempDir } from '../helpers/cli.js';
import { spawnHub, type HubProcess } from './hub-process.js';

let dir: string;
let cleanup: () => Promise<void>;
let hub: HubProcess | undefined;
let agent: AgentProcess | undefined;
let admin: string;
const keys = () => join(dir, 'keys');
const offline = () => join(dir, 'offline-root');

interface FleetEntry {
  id: string;
  version: number | null;
  state: string;
  lastError: string | null;
}

async function fleetEntry(id: string): Promise<FleetEntry | undefined> {
  const res = await fetch(`${hub!.apiUrl}/v1/fleet`, { headers: { authorization: `Bearer ${admin}` } });
  return ((await res.json()) as FleetEntry[]).find((d) => d.id === id);
}

async function release(name: string, extra: Record<string, unknown> = {}) {
  const file = join(dir, `${name}.json`);
  await writeFile(file, JSON.stringify({ model: 'iris', data: dataFile('iris.csv'), target: 'species', format: 'tflite-int8', gates: { minAccuracy: 0.85 }, out: join(dir, 'out', name), ...extra }));
  return edgeml(['release', '--config', file, '--hub', hub!.apiUrl, '--token', admin, '--json']);
}

const metricsText = async () => (await fetch(`${hub!.apiUrl}/metrics`)).text();

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('intercept-keys'));
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  await hub?.kill();
  await cleanup?.();
});

describe('release keys', () => {
  it('generates an offline root: the hub key dir holds no root private key', async () => {
    const r = await edgeml(['keys', 'generate', '--dir', keys(), '--root-dir', offline(), '--lifetime', '20d']);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(keys(), 'root.key'))).toBe(false);
    expect(existsSync(join(offline(), 'root.key'))).toBe(true);
    expect(await readFile(join(keys(), 'root.pub'), 'utf8')).toBe(await readFile(join(offline(), 'root.pub'), 'utf8'));
    const doc = JSON.parse(await readFile(join(keys(), 'release-key.json'), 'utf8')) as Envelope<ReleaseKeyDoc>;
    expect(doc.signed.version).toBe(1);
    const days = (Date.parse(doc.signed.expires) - Date.parse(doc.signed.created)) / 86_400_000;
    expect(days).toBe(20);
  });

  it('warns 30 days before the release key expires: in its log, /metrics and edgeml release', async () => {
    hub = await spawnHub(join(dir, 'hub'), ['--keys', keys()]);
    admin = (JSON.parse(await readFile(join(hub.dataDir, 'secrets.json'), 'utf8')) as { admin: string }).admin;
    expect(hub.output()).toMatch(/"level":"warn"[^\n]*the release key expires at [^ ]+ \(in 20 days\)/);
    const m = await metricsText();
    expect(m).toContain('edgeml_release_key_expiring 1');
    expect(m).toContain('edgeml_release_key_version 1');

    const token = JSON.parse((await edgeml(['hub', 'token', '--data-dir', hub.dataDir, '--keys', keys(), '--json'])).stdout) as { token: string };
    const agentDir = join(dir, 'device');
    const enrolled = await edgeml(['agent', 'enroll', '--hub', hub.apiUrl, '--token', token.token, '--device-id', 'key-dev', '--model', 'iris', '--data-dir', agentDir, '--config', join(agentDir, 'agent.json'), '--api-port', '0']);
    expect(enrolled.code, enrolled.stderr).toBe(0);
    agent = await spawnAgent({ id: 'key-dev', dir: agentDir, configPath: join(agentDir, 'agent.json') });

    const r = await release('v1');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/warning from the hub: the release key expires at .* \(in 20 days\)/);
    await waitFor('the device on v1', async () => ((await fleetEntry('key-dev'))?.version === 1 ? true : undefined), 240_000, 250);
  }, 480_000);

  it('signs with a rotated key without a restart, and the agent then refuses a release signed by the old key', async () => {
    // What an attacker holding the rotated-out key has.
    const oldKey = await readKeyPair(join(keys(), 'release.key'));
    const oldDoc = JSON.parse(await readFile(join(keys(), 'release-key.json'), 'utf8')) as Envelope<ReleaseKeyDoc>;
    await cp(keys(), join(dir, 'old-keys'), { recursive: true });

    const rot = await edgeml(['keys', 'rotate', '--dir', keys(), '--root-dir', offline(), '--lifetime', '90d']);
    expect(rot.code, rot.stderr).toBe(0);
    expect(rot.stdout).toContain('document version 2');

    const r = await release('v2', { gates: { minAccuracy: 0.8 } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('warning from the hub');
    expect(hub!.output()).toContain('release key rotated; signing with the new key');
    const m = await metricsText();
    expect(m).toContain('edgeml_release_key_expiring 0');
    expect(m).toContain('edgeml_release_key_version 2');
    const registry = new Registry(join(hub!.dataDir, 'registry.sqlite'));
    let v2: SignedRelease;
    try {
      v2 = registry.getVersion('iris', 2)!.envelope;
    } finally {
      registry.close();
    }
    expect(v2.releaseKey.signed.version).toBe(2);
    await waitFor('the device on v2', async () => ((await fleetEntry('key-dev'))?.version === 2 ? true : undefined), 240_000, 250);
    expect(JSON.parse(await readFile(join(dir, 'device', 'release-key-version.json'), 'utf8'))).toEqual({ version: 2 });

    // v3, validly signed by the old release key, which the root once vouched for and has not expired.
    const forged = { ...signEnvelope({ ...v2.signed, version: 3, created: new Date().toISOString() }, oldKey), releaseKey: oldDoc };
    const secrets = JSON.parse(await readFile(join(hub!.dataDir, 'secrets.json'), 'utf8')) as { hub: string };
    const client = await connectAsync(hub!.brokerUrl, { username: 'edgeml-hub', password: secrets.hub, clientId: `edgeml-hub:attacker-${process.pid}`, reconnectPeriod: 0 });
    try {
      await client.publishAsync(topics.release('iris', 'stable'), JSON.stringify(forged), { qos: 1, retain: true });
    } finally {
      await client.endAsync();
    }
    const refused = await waitFor('the agent to refuse the old-key release', async () => {
      const d = await fleetEntry('key-dev');
      return d?.lastError?.includes('superseded-key') ? d : undefined;
    }, 240_000, 250);
    expect(refused.version).toBe(2);
    expect(refused.lastError).toContain('release key version 1 was replaced by version 2');
  }, 600_000);
});

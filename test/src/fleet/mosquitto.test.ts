/**
 * The fleet test of rollout.test.ts against an external broker: Debian's Mosquitto, started
 * here with a password file and the ACL file of docs/EXTERNAL-BROKER.md, no anonymous access.
 * The hub and ten agents run unchanged, configured only with the broker's URL and credentials;
 * the devices are provisioned as an operator does for an external broker (a user per device in
 * the password file, the agent config written by hand) instead of enrolling.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type IClientOptions } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentConfigSchema, silentLogger, topics } from '@edgeml/core';
import { enrollDevice, startAgent, type Agent } from '@edgeml/agent';
import { deviceRuntimes } from 'edgeml';
import type { Candidate } from '@edgeml/hub';
import { edgeml, repoRoot } from '../helpers/cli.js';
import { irisModel, waitFor, type TestHub } from '../helpers/fleet.js';
import { HUB_USER, MOSQUITTO_ACL, OPERATOR_USER, newPassword, startExternalHub, startMosquitto, startProvisionedFleet, type Mosquitto } from '../helpers/mosquitto.js';
import { onVersion, publishV, type FleetAgent } from './fleet.js';
import { fleetScenarios } from './scenarios.js';

let mq: Mosquitto;
let t: TestHub;
let c: Candidate;
let fleet: FleetAgent[];
let late: Agent | undefined;
const ids = () => fleet.map((a) => a.id);
const as = (user: string, extra: IClientOptions = {}): IClientOptions => ({ username: user, password: mq.users.get(user)!, clientId: `test-${user}-${Math.random().toString(36).slice(2, 8)}`, reconnectPeriod: 0, ...extra });

beforeAll(async () => {
  mq = await startMosquitto({ [HUB_USER]: newPassword(), [OPERATOR_USER]: newPassword(), intruder: newPassword() });
  t = await startExternalHub(mq);
  c = await irisModel();
  const v1 = await publishV(t, c);
  fleet = await startProvisionedFleet(t, mq, 10);
  await onVersion(t, ids(), v1.version);
}, 180_000);

afterAll(async () => {
  await late?.close();
  await Promise.all(fleet?.map((a) => a.agent.close()) ?? []);
  await t?.hub.close();
  await mq?.stop();
  if (t) await rm(t.dir, { recursive: true, force: true });
  if (mq) await rm(mq.dir, { recursive: true, force: true });
});

/** The retained message on `topic` as `user` reads it, or undefined when there is none. */
async function retained(topic: string, user: string): Promise<string | undefined> {
  const client = await connectAsync(mq.url, as(user));
  try {
    const got = new Promise<string>((resolve) => client.on('message', (tp, payload) => tp === topic && resolve(payload.toString('utf8'))));
    await client.subscribeAsync(topic, { qos: 0 });
    return await Promise.race([got, new Promise<undefined>((r) => setTimeout(() => r(undefined), 500))]);
  } finally {
    await client.endAsync();
  }
}


describe('the fleet on an external Mosquitto broker', () => {
  fleetScenarios({
    hub: () => t,
    fleet: () => fleet,
    candidate: () => c,
    // Only the broker process goes away; the hub and the agents stay up and reconnect.
    brokerDown: () => mq.stop(),
    brokerUp: () => mq.start(),
    fleetStatusArgs: () => ['--broker', mq.url, '--username', OPERATOR_USER, '--password', mq.users.get(OPERATOR_USER)!],
    diagnostics: () => `mosquitto log:\n${mq.log().slice(-4000)}`,
  });

  it('runs Mosquitto with the ACL file docs/EXTERNAL-BROKER.md gives, and no anonymous access', async () => {
    const doc = await readFile(`${repoRoot}/docs/EXTERNAL-BROKER.md`, 'utf8');
    expect(doc).toContain(MOSQUITTO_ACL);
    await expect(connectAsync(mq.url, { clientId: 'anonymous', reconnectPeriod: 0 })).rejects.toThrow(/Not authorized/);
    await expect(connectAsync(mq.url, { ...as('fleet-03'), password: 'wrong' })).rejects.toThrow(/Not authorized/);
    // A hub the broker refuses does not start, and says why.
    const dir = await mkdtemp(join(tmpdir(), 'edgeml-hub-refused-'));
    try {
      await expect(startExternalHub(mq, dir, { brokerPassword: 'wrong' })).rejects.toThrow(/Not authorized/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a device that publishes a release or another device\'s status (the retained topics stay as they were)', async () => {
    const releaseTopic = topics.release('iris', 'stable');
    const victim = topics.status('fleet-01');
    // Read as a device: with the client id bound to the user name, reading as edgeml-hub would take over the hub's session.
    const release = await retained(releaseTopic, 'intruder');
    const status = await retained(victim, OPERATOR_USER);
    expect(JSON.parse(release!).signed.model).toBe('iris');
    expect(JSON.parse(status!).deviceId).toBe('fleet-01');
    const forged = { ...JSON.parse(status!), version: 999, state: 'failed', health: 'failing' };

    // MQTT 3.1.1: Mosquitto acknowledges the publish and drops it; nothing changes.
    const device = await connectAsync(mq.url, as('intruder'));
    await device.publishAsync(releaseTopic, JSON.stringify({ signed: { forged: true }, signatures: [] }), { qos: 1, retain: true });
    await device.publishAsync(victim, JSON.stringify(forged), { qos: 1, retain: true });
    await device.publishAsync(topics.telemetry('fleet-01'), '{}', { qos: 1 });
    // Reading other devices' subtrees yields nothing either, wildcards or not.
    const seen: string[] = [];
    device.on('message', (tp) => seen.push(tp));
    await device.subscribeAsync([topics.allStatuses(), topics.command('fleet-01'), topics.allFleetDevices()], { qos: 1 });
    await new Promise((r) => setTimeout(r, 500));
    await device.endAsync();
    expect(seen.every((tp) => tp === topics.status('intruder'))).toBe(true);

    // MQTT 5: the refusal is explicit (PUBACK reason 0x87, not authorised).
    const device5 = await connectAsync(mq.url, as('intruder', { protocolVersion: 5 }));
    await expect(device5.publishAsync(releaseTopic, 'forged', { qos: 1, retain: true })).rejects.toMatchObject({ code: 0x87 });
    await expect(device5.publishAsync(victim, JSON.stringify(forged), { qos: 1, retain: true })).rejects.toMatchObject({ code: 0x87 });
    await device5.endAsync();

    expect(await retained(releaseTopic, 'intruder')).toBe(release);
    expect(await retained(victim, OPERATOR_USER)).toBe(status);
    expect(t.hub.registry.listDevices().find((d) => d.id === 'fleet-01')!.version).not.toBe(999);
    // The operator account reads statuses but may not publish them.
    const op = await connectAsync(mq.url, as(OPERATOR_USER, { protocolVersion: 5 }));
    await expect(op.publishAsync(victim, JSON.stringify(forged), { qos: 1, retain: true })).rejects.toMatchObject({ code: 0x87 });
    await op.endAsync();
  });

  it('connects a device enrolled over the hub API once the operator adds its credentials to the broker', async () => {
    // Enrolment issues the credentials (the hub keeps only a hash); the broker knows nothing yet.
    const dataDir = join(t.dir, 'agents', 'late-01');
    const config = await enrollDevice({ hubUrl: t.hub.httpUrl!, token: t.hub.createEnrollToken(), deviceId: 'late-01', model: 'iris', dataDir, configPath: join(dataDir, 'agent.json') });
    expect(config.broker.url).toBe(mq.url);
    late = await startAgent({ config: AgentConfigSchema.parse({ ...config, telemetry: { periodMs: 300, maxQueued: 1000 } }), runtimes: deviceRuntimes(), log: silentLogger });
    await new Promise((r) => setTimeout(r, 1500));
    expect(t.hub.registry.listDevices().some((d) => d.id === 'late-01')).toBe(false);
    // The operator copies the device's password into the broker's password file and reloads it.
    await mq.addUsers({ 'late-01': config.broker.password! });
    const newest = t.hub.registry.listVersions('iris').filter((v) => v.status === 'published').at(-1)!.version;
    await onVersion(t, ['late-01'], newest);
  });
});

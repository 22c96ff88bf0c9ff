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
import { feedbackOn, onVersion, predictOn, publishV, type FleetAgent } from './fleet.js';

let mq: Mosquitto;
let t: TestHub;
let c: Candidate;
let fleet: FleetAgent[];
let late: Agent | undefined;
const ids = () => fleet.map((a) => a.id);
const hubFlags = () => ['--hub', t.hub.httpUrl!, '--token', t.hub.adminToken];
const as = (user: string, extra: IClientOptions = {}): IClientOptions => ({ username: user, password: mq.users.get(user)!, clientId: `test-${user}-${Math.random().toString(36).slice(2, 8)}`, reconnectPeriod: 0, ...extra });
const rows = [
  [5.1, 3.5, 1.4, 0.2],
  [6.7, 3.0, 5.2, 2.3],
  [5.9, 3.0, 4.2, 1.5],
];

beforeAll(async () => {
  mq = await startMosquitto({ [HUB_USER]: newPassword(), [OPERATOR_USER]: newPassword() });
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

const rolloutState = (id: number) => t.hub.registry.rollouts.get(id)!;
const until = (id: number, states: string[]) => waitFor(`rollout ${id} in ${states.join('/')}`, () => (states.includes(rolloutState(id).state) ? rolloutState(id) : undefined), 90_000);

describe('the fleet on an external Mosquitto broker', () => {
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
    const release = await retained(releaseTopic, HUB_USER);
    const status = await retained(victim, OPERATOR_USER);
    expect(JSON.parse(release!).signed.model).toBe('iris');
    expect(JSON.parse(status!).deviceId).toBe('fleet-01');
    const forged = { ...JSON.parse(status!), version: 999, state: 'failed', health: 'failing' };

    // MQTT 3.1.1: Mosquitto acknowledges the publish and drops it; nothing changes.
    const device = await connectAsync(mq.url, as('fleet-09'));
    await device.publishAsync(releaseTopic, JSON.stringify({ signed: { forged: true }, signatures: [] }), { qos: 1, retain: true });
    await device.publishAsync(victim, JSON.stringify(forged), { qos: 1, retain: true });
    await device.publishAsync(topics.telemetry('fleet-01'), '{}', { qos: 1 });
    // Reading other devices' subtrees yields nothing either, wildcards or not.
    const seen: string[] = [];
    device.on('message', (tp) => seen.push(tp));
    await device.subscribeAsync([topics.allStatuses(), topics.command('fleet-01'), topics.allFleetDevices()], { qos: 1 });
    await new Promise((r) => setTimeout(r, 500));
    await device.endAsync();
    expect(seen.every((tp) => tp === topics.status('fleet-09'))).toBe(true);

    // MQTT 5: the refusal is explicit (PUBACK reason 0x87, not authorised).
    const device5 = await connectAsync(mq.url, as('fleet-09', { protocolVersion: 5 }));
    await expect(device5.publishAsync(releaseTopic, 'forged', { qos: 1, retain: true })).rejects.toMatchObject({ code: 0x87 });
    await expect(device5.publishAsync(victim, JSON.stringify(forged), { qos: 1, retain: true })).rejects.toMatchObject({ code: 0x87 });
    await device5.endAsync();

    expect(await retained(releaseTopic, HUB_USER)).toBe(release);
    expect(await retained(victim, OPERATOR_USER)).toBe(status);
    expect(t.hub.registry.listDevices().find((d) => d.id === 'fleet-01')!.version).not.toBe(999);
    // The operator account reads statuses but may not publish them.
    const op = await connectAsync(mq.url, as(OPERATOR_USER, { protocolVersion: 5 }));
    await expect(op.publishAsync(victim, JSON.stringify(forged), { qos: 1, retain: true })).rejects.toMatchObject({ code: 0x87 });
    await op.endAsync();
  });

  it('takes a good release from the canaries through the waves to every device', async () => {
    const v2 = await publishV(t, c, { stage: true });
    const r = await edgeml(['rollout', 'iris', String(v2.version), '--canary-tags', 'canary', '--waves', '50%,100%', '--soak', '1s', '--max-error-rate', '0.01', '--json', ...hubFlags()]);
    expect(r.stderr).toBe('');
    const rollout = JSON.parse(r.stdout) as { id: number };
    await onVersion(t, ['fleet-00', 'fleet-01'], v2.version);
    expect(t.hub.registry.listDevices().filter((d) => d.version === v2.version).length).toBeLessThan(10);
    const done = await until(rollout.id, ['completed', 'halted']);
    expect(done.state).toBe('completed');
    await onVersion(t, ids(), v2.version);
    const bench = t.hub.registry.fleet.benchmarks('iris', v2.version);
    expect(bench.map((b) => b.deviceId)).toEqual(['fleet-00', 'fleet-01']);
    expect(bench[0]!.result.p95Ms).toBeGreaterThan(0);
    expect(t.hub.registry.getVersion('iris', v2.version)!.status).toBe('published');
  });

  it('halts a release that is too slow on the devices at the canary benchmark', async () => {
    const before = t.hub.registry.listDevices().map((d) => [d.id, d.version]);
    const v3 = await publishV(t, c, { stage: true });
    const r = await edgeml(['rollout', 'iris', String(v3.version), '--canary', '2', '--bench-p95-ms', '0.000001', '--wait', '--json', ...hubFlags()]);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { state: string; reason: string; devices: { upgraded: string[] } };
    expect(out.state).toBe('halted');
    expect(out.reason).toMatch(/device benchmark: p95 .* is above the budget/);
    expect(out.devices.upgraded).toEqual([]);
    expect(t.hub.registry.listDevices().map((d) => [d.id, d.version])).toEqual(before);
  });

  it('halts a release whose canaries report falling live accuracy, and rolls them back', async () => {
    const current = t.hub.registry.listDevices()[0]!.version!;
    const v4 = await publishV(t, c, { stage: true });
    const rollout = t.hub.rollouts.create('iris', v4.version, { canary: { tags: ['canary'] }, waves: [100], soakMs: 60_000, benchmark: false, gates: { minLiveAccuracy: 0.8, minLabels: 10 } });
    const canaries = fleet.slice(0, 2);
    await onVersion(t, canaries.map((a) => a.id), v4.version);
    for (let i = 0; i < 12; i++) {
      const a = canaries[i % 2]!;
      const p = await predictOn(a, rows[i % 3]!);
      expect(p.version).toBe(v4.version);
      await feedbackOn(a, p.id, p.label === 'setosa' ? 'virginica' : 'setosa');
    }
    const halted = await until(rollout.id, ['halted', 'completed']);
    expect(halted.state).toBe('halted');
    expect(halted.reason).toMatch(/live accuracy .* below 80\.0%/);
    await onVersion(t, ids(), current);
    const p = await predictOn(canaries[0]!, rows[0]!);
    expect(p.version).toBe(current);
  });

  it('loses no telemetry or feedback while Mosquitto is down for 30 s mid-rollout', async () => {
    const current = t.hub.registry.listDevices()[0]!.version!;
    const v5 = await publishV(t, c, { stage: true });
    const rollout = t.hub.rollouts.create('iris', v5.version, { canary: { tags: ['canary'] }, waves: [100], soakMs: 2_000, benchmark: false });
    await onVersion(t, ['fleet-00', 'fleet-01'], v5.version);
    const totals = () => new Map(t.hub.registry.fleet.telemetryTotals('iris').map((x) => [x.deviceId, x.requests]));
    await new Promise((r) => setTimeout(r, 1000));
    const base = totals();
    const feedbackBase = t.hub.registry.fleet.counts().feedback;
    const sent = new Map<string, number>();
    let feedback = 0;
    const traffic = async (ms: number) => {
      const end = Date.now() + ms;
      for (let i = 0; Date.now() < end; i++) {
        const a = fleet[i % fleet.length]!;
        const p = await predictOn(a, rows[i % 3]!);
        sent.set(a.id, (sent.get(a.id) ?? 0) + 1);
        if (i % 5 === 0) {
          await feedbackOn(a, p.id, p.label);
          feedback++;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await traffic(1000);
    // The broker process goes away (hub and agents stay up), and comes back on the same port.
    await mq.stop();
    await traffic(30_000);
    await mq.start();
    await traffic(1000);
    const done = await until(rollout.id, ['completed', 'halted']);
    expect(done.state).toBe('completed');
    await onVersion(t, ids(), v5.version);
    const want = new Map([...sent].map(([id, n]) => [id, (base.get(id) ?? 0) + n]));
    await waitFor('every record delivered', () => {
      const got = totals();
      return [...want].every(([id, n]) => got.get(id) === n) && t.hub.registry.fleet.counts().feedback === feedbackBase + feedback ? true : undefined;
    }, 30_000).catch(() => {
      throw new Error(`delivered ${JSON.stringify([...totals()])} vs expected ${JSON.stringify([...want])}; feedback ${t.hub.registry.fleet.counts().feedback} vs ${feedbackBase + feedback}\nmosquitto log:\n${mq.log().slice(-4000)}`);
    });
    expect(current).toBeLessThan(v5.version);
  }, 120_000);

  it('shows the same fleet in `edgeml fleet status --json` (operator account) as the registry holds', async () => {
    await new Promise((r) => setTimeout(r, 800));
    const r = await edgeml(['fleet', 'status', '--broker', mq.url, '--username', OPERATOR_USER, '--password', mq.users.get(OPERATOR_USER)!, '--json']);
    expect(r.stderr).toBe('');
    const shown = JSON.parse(r.stdout) as { id: string; version: number; state: string; online: boolean; labels: number }[];
    const registry = t.hub.registry.listDevices();
    expect(shown.map((d) => [d.id, d.version, d.state, d.online])).toEqual(registry.map((d) => [d.id, d.version, d.state, d.online]));
    expect(shown.some((d) => d.labels > 0)).toBe(true);
  });

  it('exposes rollouts, devices by version and ingest counts as Prometheus metrics', async () => {
    const text = await (await fetch(`${t.hub.httpUrl}/metrics`)).text();
    expect(text).toMatch(/edgeml_devices\{model="iris",version="\d+",state="active",health="ok",online="true"\} 10/);
    expect(text).toMatch(/edgeml_rollouts\{model="iris",version="\d+",state="completed"\} 1/);
    expect(text).toMatch(/edgeml_rollouts\{model="iris",version="\d+",state="halted"\} 1/);
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

/**
 * Client id bound to identity: no authenticated client can connect with another client's id
 * and so take over (or discard) its session: not on the embedded broker, where a client id must
 * be the user name or `<user name>:<suffix>`, and not on Mosquitto with the configuration of
 * docs/EXTERNAL-BROKER.md (`use_username_as_clientid`), where a device connecting as
 * `edgeml-hub` used to make the hub lose records devices had already deleted from their outboxes.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics, type Release } from '@edgeml/core';
import { enrollDevice } from '@edgeml/agent';
import { repoRoot } from '../helpers/cli.js';
import { irisModel, publishModel, startTestHub, waitFor, type TestHub } from '../helpers/fleet.js';
import * as mosquitto from '../helpers/mosquitto.js';
import { mqttAs } from './hub-process.js';
import { statusFor, telemetryFor } from './records.js';

const clients: MqttClient[] = [];
const keep = (c: MqttClient) => (clients.push(c), c);
afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)));
});

describe('on the embedded broker', () => {
  let t: TestHub;
  beforeAll(async () => {
    t = await startTestHub();
  });
  afterAll(async () => {
    await t?.stop();
  });
  const enrol = async (id: string) => {
    const cfg = await enrollDevice({ hubUrl: t.hub.httpUrl!, token: t.hub.createEnrollToken(), deviceId: id, model: 'iris', dataDir: join(t.dir, id), configPath: join(t.dir, id, 'agent.json') });
    return { username: cfg.broker.username!, password: cfg.broker.password! };
  };

  it("refuses a client id that is not the client's own user name, so no one kicks another client off", async () => {
    const holder = await enrol('holder');
    const thief = await enrol('thief');
    const victim = keep(await mqttAs(t.hub.brokerUrl, holder.username, holder.password));
    let kicked = false;
    victim.on('close', () => (kicked = true));
    const attempts: [string, { username: string; password: string }, string][] = [
      ['a device taking another device id', thief, 'holder'],
      ["a device taking the hub's user name", thief, 'edgeml-hub'],
      ['a device posing as a second connection of another device', thief, 'holder:2'],
      ['the operator taking a device id', t.hub.operator, 'holder'],
    ];
    for (const [what, who, clientId] of attempts) {
      await expect(mqttAs(t.hub.brokerUrl, who.username, who.password, { clientId }).then(keep), what).rejects.toThrow(/Identifier rejected/i);
    }
    // Its own name, and a suffixed second connection of itself, are fine.
    keep(await mqttAs(t.hub.brokerUrl, thief.username, thief.password));
    keep(await mqttAs(t.hub.brokerUrl, thief.username, thief.password, { clientId: 'thief:second' }));
    // The victim is still connected and its publishes still go through.
    await victim.publishAsync(topics.status('holder'), JSON.stringify(statusFor('holder', null)), { qos: 1, retain: true });
    await waitFor('the victim status at the hub', () => t.hub.registry.getDevice('holder'), 20_000);
    expect(kicked).toBe(false);
    expect(victim.connected).toBe(true);
  });
});

describe('on Mosquitto, configured as docs/EXTERNAL-BROKER.md says', () => {
  let mq: mosquitto.Mosquitto;
  let t: TestHub;
  let release: Release;

  beforeAll(async () => {
    mq = await mosquitto.startMosquitto({ [mosquitto.HUB_USER]: mosquitto.newPassword(), sender: mosquitto.newPassword(), thief: mosquitto.newPassword() });
    t = await mosquitto.startExternalHub(mq);
    release = (await publishModel(t.hub, await irisModel())).envelope.signed;
  }, 120_000);
  afterAll(async () => {
    await t?.hub.close();
    await mq?.stop();
    if (t) await rm(t.dir, { recursive: true, force: true });
    if (mq) await rm(mq.dir, { recursive: true, force: true });
  });

  it("gives the docs' client-id and packet-size settings word for word", async () => {
    const doc = await readFile(join(repoRoot, 'docs/EXTERNAL-BROKER.md'), 'utf8');
    expect(typeof mosquitto.MOSQUITTO_LIMITS).toBe('string');
    expect(doc).toContain(mosquitto.MOSQUITTO_LIMITS);
  });

  it("loses no acknowledged record while a device connects again and again with the hub's client id", async () => {
    const sender = keep(await mqttAs(mq.url, 'sender', mq.users.get('sender')!));
    const n = 150;
    const sending = (async () => {
      for (let i = 0; i < n; i++) {
        await sender.publishAsync(topics.telemetry('sender'), JSON.stringify(telemetryFor('sender', release)), { qos: 1 });
        await new Promise((r) => setTimeout(r, 15));
      }
    })();
    for (let i = 0; i < 5; i++) {
      // A clean session under the hub's id: on an unprotected broker, the hub's queued session is gone.
      const thief = await mqttAs(mq.url, 'thief', mq.users.get('thief')!, { clientId: mosquitto.HUB_USER, clean: true }).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 300));
      await thief?.endAsync(true);
    }
    await sending;
    const stored = () => t.hub.registry.fleet.telemetryTotals('iris').find((r) => r.deviceId === 'sender')?.records ?? 0;
    await waitFor(`all ${n} records at the hub`, () => (stored() === n ? true : undefined), 30_000).catch(() => undefined);
    expect(stored()).toBe(n);
  });
});

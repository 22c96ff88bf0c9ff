/**
 * A record the broker acknowledged is stored, whenever the hub dies: a device keeps hundreds of
 * QoS 1 telemetry and feedback records in flight and the hub process is SIGKILLed the moment
 * the 150th acknowledgement arrives. The device deletes a record once acknowledged, so each
 * acknowledged record must be in the registry after the kill.
 */
import Database from 'better-sqlite3';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger, topics, type Release } from '@edgeml/core';
import { startHub } from '@edgeml/hub';
import { irisModel, publishModel } from '../helpers/fleet.js';
import { feedbackFor, telemetryFor } from '../hostile/records.js';
import { hubProcess, type HubProcess } from './hub-process.js';

let dir: string;
let hub: HubProcess;
let release: Release;
let creds: { username: string; password: string };
let brokerUrl: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeml-hub-kill-'));
  const hubDir = join(dir, 'hub');
  const inproc = await startHub({ dataDir: hubDir, mqttPort: 0, httpPort: 0, log: silentLogger });
  try {
    release = (await publishModel(inproc, await irisModel())).envelope.signed;
    const res = await fetch(new URL('/v1/enroll', inproc.httpUrl), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: inproc.createEnrollToken(), deviceId: 'kill-1' }) });
    creds = (await res.json()) as { username: string; password: string };
    brokerUrl = inproc.brokerUrl;
    hub = hubProcess(hubDir, { mqtt: new URL(inproc.brokerUrl).port, http: new URL(inproc.httpUrl!).port });
  } finally {
    await inproc.close();
  }
  await hub.start();
}, 120_000);

afterAll(async () => {
  await hub?.stop('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

describe('a hub SIGKILLed with device records in flight', () => {
  it('has stored every record the broker acknowledged', async () => {
    const id = 'kill-1';
    const client = await connectAsync(brokerUrl, { ...creds, clientId: creds.username, reconnectPeriod: 0 });
    const acked: string[] = [];
    let killed: Promise<void> | undefined;
    let gone!: () => void;
    const down = new Promise<void>((r) => (gone = r));
    const sends = Array.from({ length: 600 }, (_, i) => {
      const record = i % 2 ? feedbackFor(id, release, { id: `f-${i}` }) : telemetryFor(id, release, { id: `t-${i}` });
      const topic = i % 2 ? topics.feedback(id) : topics.telemetry(id);
      return client.publishAsync(topic, JSON.stringify(record), { qos: 1 }).then(
        () => {
          if (killed) return;
          acked.push(record.id);
          // At once, in the callback: whatever the hub has not stored by now is lost for good.
          if (acked.length === 150) killed = hub.stop('SIGKILL').then(gone);
        },
        () => undefined,
      );
    });
    // Publishes cut off by the kill never settle: wait for the kill, not for them.
    await Promise.race([Promise.all(sends), down]);
    await killed;
    client.end(true);
    expect(acked.length).toBeGreaterThanOrEqual(150);
    const db = new Database(join(dir, 'hub', 'registry.sqlite'), { readonly: true });
    try {
      const ids = (table: string) => new Set((db.prepare(`SELECT id FROM ${table} WHERE device_id = ?`).all(id) as { id: string }[]).map((r) => r.id));
      const stored = new Set([...ids('telemetry'), ...ids('feedback')]);
      expect(acked.filter((a) => !stored.has(a))).toEqual([]);
    } finally {
      db.close();
    }
  }, 120_000);
});

/**
 * Hub events reach webhooks: a halted rollout on a hub with real agent processes is delivered,
 * signed, to a JSON receiver and a Slack-style one; a receiver that fails twice gets it on the
 * third try; one that refuses (4xx) is not asked again. The delivery log says all of it.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { edgeml, tempDir } from '../helpers/cli.js';
import { irisModel, publishModel, startTestHub, waitFor } from '../helpers/fleet.js';
import { startDashFleet, type DashFleet } from './fleet.js';
import { startReceiver, type Receiver } from './receiver.js';

const SECRET = 'webhook-secret-0123456789';
let f: DashFleet;
let good: Receiver;
let flaky: Receiver;
let slack: Receiver;
let refusing: Receiver;

const validSignature = (headers: Record<string, string | string[] | undefined>, body: string): boolean => {
  const sig = String(headers['x-edgeml-signature'] ?? '');
  const ts = String(headers['x-edgeml-timestamp'] ?? '');
  const want = `sha256=${createHmac('sha256', SECRET).update(`${ts}.${body}`).digest('hex')}`;
  return sig.length === want.length && timingSafeEqual(Buffer.from(sig), Buffer.from(want));
};

const halted = (r: Receiver) => r.got.filter((g) => g.headers['x-edgeml-event'] === 'rollout.halted');

beforeAll(async () => {
  good = await startReceiver();
  // Fails the first two attempts at the halted event, takes everything else.
  flaky = await startReceiver((h, seen) => (h['x-edgeml-event'] === 'rollout.halted' && seen.filter((s) => s.headers['x-edgeml-event'] === 'rollout.halted').length < 2 ? 503 : 200));
  slack = await startReceiver();
  refusing = await startReceiver(() => 404);
  f = await startDashFleet(2, 'hook', {
    webhooks: [
      { url: good.url, secret: SECRET },
      { url: flaky.url, secret: SECRET, events: ['rollout.halted'] },
      { url: slack.url, format: 'slack', events: ['rollout.halted'] },
      { url: refusing.url, events: ['rollout.halted'] },
    ],
    webhookRetry: { baseMs: 300, maxMs: 2000, maxAttempts: 5 },
  });
}, 180_000);

afterAll(async () => {
  await f?.stop();
  await Promise.all([good, flaky, slack, refusing].map((r) => r?.close()));
});

describe('webhooks', () => {
  it('delivers a halted rollout, signed, to every target; retries a failing one until it takes it; never retries a refusal', async () => {
    const { hub } = f.t;
    const v2 = await publishModel(hub, await irisModel(), { stage: true });
    // A benchmark budget no device can meet: the canary's figures halt the rollout.
    const rollout = hub.rollouts.create('iris', v2.version, { canary: { count: 1 }, benchmark: true, gates: { benchP95Ms: 0.000001 } });
    await waitFor('the rollout halted', () => (hub.registry.rollouts.get(rollout.id)?.state === 'halted' ? true : undefined), 90_000);

    const got = await waitFor('the halted event at the JSON receiver', () => halted(good)[0], 30_000);
    expect(validSignature(got.headers, got.body)).toBe(true);
    const event = JSON.parse(got.body) as { type: string; model: string; version: number; summary: string; data: { rollout: number; state: string; reason: string } };
    expect(event).toMatchObject({ type: 'rollout.halted', model: 'iris', version: v2.version, data: { rollout: rollout.id, state: 'halted' } });
    expect(event.data.reason).toMatch(/device benchmark/);
    // The JSON receiver takes every event: the gate failure and the publish came before.
    const types = good.got.map((g) => g.headers['x-edgeml-event']);
    expect(types).toEqual(expect.arrayContaining(['release.published', 'rollout.started', 'gate.failed', 'rollout.halted']));
    // A body altered in transit does not verify.
    expect(validSignature(got.headers, got.body.replace('halted', 'started'))).toBe(false);

    // Two 503s, then taken on the third try; each try signed.
    await waitFor('the flaky receiver took the event', () => (halted(flaky).some((g) => g.status === 200) ? true : undefined), 30_000);
    expect(halted(flaky).map((g) => g.status)).toEqual([503, 503, 200]);
    expect(halted(flaky).every((g) => validSignature(g.headers, g.body))).toBe(true);

    const text = JSON.parse((await waitFor('the Slack-style message', () => slack.got[0], 30_000)).body) as { text: string };
    expect(text.text).toMatch(new RegExp(`^\\[edgeml\\] rollout ${rollout.id}: iris v${v2.version} halted: device benchmark`));

    // The delivery log, as the dashboard's feed shows it.
    const entry = await waitFor(
      'the delivery log settled',
      () => {
        const e = hub.registry.events.recent(50).find((x) => x.type === 'rollout.halted');
        return e && e.deliveries.every((d) => d.state !== 'pending') ? e : undefined;
      },
      30_000,
    );
    const by = (part: string) => entry.deliveries.find((d) => d.target.includes(part))!;
    expect(entry.deliveries).toHaveLength(4);
    expect(by(new URL(flaky.url).host)).toMatchObject({ state: 'delivered', attempts: 3, lastStatus: 200 });
    expect(by(new URL(good.url).host)).toMatchObject({ state: 'delivered', attempts: 1 });
    expect(by(new URL(refusing.url).host)).toMatchObject({ state: 'failed', attempts: 1, lastStatus: 404 });
    expect(refusing.got).toHaveLength(1);
  });
});

describe('device events', () => {
  it('tells the webhooks once per device when devices roll a version back by themselves', async () => {
    const { hub } = f.t;
    // A self-test no model passes: every device installs it, fails its check and goes back.
    const bad = await publishModel(hub, await irisModel(), { selfTest: { rows: [[5.1, 3.5, 1.4, 0.2]], expected: [[99, 99, 99]], tolerance: 0 } });
    const rolled = () => good.got.filter((g) => g.headers['x-edgeml-event'] === 'device.rolled-back').map((g) => JSON.parse(g.body) as { deviceId: string; version: number; data: { failedVersion: number; runningVersion: number | null } });
    await waitFor('both devices reported rolling back', () => (new Set(rolled().map((e) => e.deviceId)).size === f.ids.length ? true : undefined), 90_000);
    // A later event is the sentinel: everything before it has been delivered.
    hub.events.emit({ type: 'key.expiring', summary: 'sentinel', data: {} });
    await waitFor('the sentinel', () => good.got.find((g) => g.body.includes('"sentinel"')), 30_000);
    expect(rolled().map((e) => e.deviceId).sort()).toEqual(f.ids);
    for (const e of rolled()) expect(e).toMatchObject({ version: bad.version, data: { failedVersion: bad.version } });
    expect(good.got.filter((g) => g.headers['x-edgeml-event'] === 'device.rolled-back').every((g) => validSignature(g.headers, g.body))).toBe(true);
  });
});

describe('webhook delivery log', () => {
  it('keeps an undelivered event across a hub restart and delivers it after', async () => {
    let up = false;
    const later = await startReceiver(() => (up ? 200 : 503));
    const dir = await tempDir('webhook-restart');
    const opts = { webhooks: [{ url: later.url, secret: SECRET }], webhookRetry: { baseMs: 200, maxMs: 500, maxAttempts: 50 } };
    try {
      let t = await startTestHub(opts, dir.dir);
      const v1 = await publishModel(t.hub, await irisModel());
      const event = await waitFor('a failed first attempt', () => t.hub.registry.events.recent(10).find((e) => e.type === 'release.published' && e.deliveries[0]!.attempts >= 1), 30_000);
      expect(event.deliveries[0]).toMatchObject({ state: 'pending', lastStatus: 503 });
      await t.hub.close();
      up = true;
      t = await startTestHub(opts, dir.dir);
      try {
        const done = await waitFor('delivered after the restart', () => {
          const d = t.hub.registry.events.deliveries(event.id)[0];
          return d?.state === 'delivered' ? d : undefined;
        }, 30_000);
        expect(done.attempts).toBeGreaterThan(event.deliveries[0]!.attempts);
        const ok = later.got.find((g) => g.status === 200)!;
        expect(validSignature(ok.headers, ok.body)).toBe(true);
        expect(JSON.parse(ok.body)).toMatchObject({ id: event.id, type: 'release.published', model: 'iris', version: v1.version });
        expect(ok.headers['x-edgeml-event-id']).toBe(String(event.id));
        // The same log from the command line.
        const cli = await edgeml(['hub', 'events', '--data-dir', join(dir.dir, 'hub'), '--json']);
        expect(cli.stderr).toBe('');
        const listed = (JSON.parse(cli.stdout) as { id: number; deliveries: { state: string }[] }[]).find((e) => e.id === event.id);
        expect(listed?.deliveries.map((d) => d.state)).toEqual(['delivered']);
      } finally {
        await t.hub.close();
      }
    } finally {
      await later.close();
      await dir.cleanup();
    }
  });
});

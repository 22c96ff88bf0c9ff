/**
 * Device claims are bound to enrolment: the operator gives a device its model, channel and tags
 * with the enrolment token; a status claiming another model or the canary tag does not steer
 * rollouts, and feedback for another model, an unknown label or a wrong row never reaches
 * retraining. Each refusal is counted per device in /metrics.
 */
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics, type Release } from '@edgeml/core';
import { enrollDevice } from '@edgeml/agent';
import type { EnrolmentScope } from '@edgeml/hub';
import { edgeml } from '../helpers/cli.js';
import { irisModel, publishModel, startTestHub, waitFor, type TestHub } from '../helpers/fleet.js';
import { counterValue, mqttAs } from './hub-process.js';
import { feedbackFor, statusFor } from './records.js';

let t: TestHub;
let iris: Release;
let other: Release;
const clients: MqttClient[] = [];

beforeAll(async () => {
  t = await startTestHub();
  const c = await irisModel();
  iris = (await publishModel(t.hub, c)).envelope.signed;
  other = (await publishModel(t.hub, c, { model: 'other' })).envelope.signed;
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)));
  await t?.stop();
});

async function enrol(id: string, scope?: EnrolmentScope, token = t.hub.createEnrollToken(undefined, scope)) {
  const cfg = await enrollDevice({ hubUrl: t.hub.httpUrl!, token, deviceId: id, model: 'iris', dataDir: join(t.dir, id), configPath: join(t.dir, id, 'agent.json') });
  const c = await mqttAs(t.hub.brokerUrl, cfg.broker.username!, cfg.broker.password!);
  clients.push(c);
  return { cfg, c };
}

const violations = async (device: string, reason: string) => {
  const text = await (await fetch(`${t.hub.httpUrl}/metrics`)).text();
  return counterValue(text, 'edgeml_hub_device_violations_total', { device, reason });
};

const status = (c: MqttClient, s: ReturnType<typeof statusFor>) => c.publishAsync(topics.status(s.deviceId), JSON.stringify(s), { qos: 1, retain: true });

describe('claims bound to enrolment', () => {
  it('targets canaries by the tags given at enrolment, not the tags a status claims', async () => {
    const tagged = await enrol('tagged', { model: 'iris', channel: null, tags: ['canary'] });
    const pretender = await enrol('pretender', { model: 'iris', channel: null, tags: [] });
    await status(tagged.c, statusFor('tagged', iris));
    await status(pretender.c, statusFor('pretender', iris, { tags: ['canary'] }));
    await waitFor('both statuses stored', () => (t.hub.registry.getDevice('tagged') && t.hub.registry.getDevice('pretender') ? true : undefined), 20_000);
    expect(t.hub.registry.getDevice('tagged')!.tags).toEqual(['canary']);
    expect(t.hub.registry.getDevice('pretender')!.tags).toEqual([]);
    expect(await violations('pretender', 'tags-not-enrolled')).toBe(1);

    const v = (await publishModel(t.hub, await irisModel(), { stage: true })).version;
    const r = t.hub.rollouts.create('iris', v, { canary: { tags: ['canary'] }, benchmark: false });
    try {
      expect(r.devices.canary).toEqual(['tagged']);
    } finally {
      t.hub.rollouts.request(r.id, 'abort');
      await waitFor('rollout aborted', () => (t.hub.registry.rollouts.get(r.id)!.state === 'aborted' ? true : undefined), 30_000);
    }
  });

  it('ignores a status that claims another model than the enrolled one', async () => {
    const d = await enrol('model-liar', { model: 'iris', channel: null, tags: null });
    await status(d.c, statusFor('model-liar', iris));
    await waitFor('status stored', () => t.hub.registry.getDevice('model-liar'), 20_000);
    await status(d.c, statusFor('model-liar', other));
    await waitFor('the claim counted', async () => ((await violations('model-liar', 'model-not-enrolled')) === 1 ? true : undefined), 20_000);
    expect(t.hub.registry.getDevice('model-liar')!.model).toBe('iris');
  });

  it('keeps feedback for another model, unknown labels and wrong rows out of retraining', async () => {
    const d = await enrol('labeller', { model: 'iris', channel: null, tags: null });
    const legacy = await enrol('legacy');
    const send = (c: MqttClient, f: ReturnType<typeof feedbackFor>) => c.publishAsync(topics.feedback(f.deviceId), JSON.stringify(f), { qos: 1 });
    await send(d.c, feedbackFor('labeller', other));
    await send(d.c, feedbackFor('labeller', iris, { label: 'pwned-class' }));
    await send(d.c, feedbackFor('labeller', iris, { row: [1, 2, 3] }));
    await send(d.c, feedbackFor('labeller', { ...iris, version: 99 }));
    // Finite as a double, infinite as the float32 a model reads.
    await send(d.c, feedbackFor('labeller', iris, { row: [1e39, 1, 1, 1] }));
    await send(legacy.c, feedbackFor('legacy', iris, { label: 'pwned-class' }));
    const good = feedbackFor('labeller', iris);
    await send(d.c, good);
    await waitFor('the good record stored', () => (t.hub.registry.fleet.labelledRows('iris').length > 0 ? true : undefined), 20_000);
    await waitFor('the legacy refusal counted', async () => ((await violations('legacy', 'unknown-label')) === 1 ? true : undefined), 20_000);
    expect(t.hub.registry.fleet.labelledRows('iris').map((r) => r.label)).toEqual([good.label]);
    expect(t.hub.registry.fleet.labelledRows('other')).toEqual([]);
    expect(await violations('labeller', 'model-not-enrolled')).toBe(1);
    expect(await violations('labeller', 'unknown-label')).toBe(1);
    expect(await violations('labeller', 'feature-count')).toBe(1);
    expect(await violations('labeller', 'unknown-release')).toBe(1);
    expect(await violations('labeller', 'malformed')).toBe(1);
  });

  it('`edgeml hub token --model --channel --tags` binds the device and enrolment writes it to its config', async () => {
    const r = await edgeml(['hub', 'token', '--data-dir', join(t.dir, 'hub'), '--model', 'iris', '--channel', 'stable', '--tags', 'canary,site-a', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const { token } = JSON.parse(r.stdout) as { token: string };
    const { cfg } = await enrol('cli-bound', undefined, token);
    expect(cfg.tags).toEqual(['canary', 'site-a']);
    expect(cfg.model).toBe('iris');
    expect(t.hub.registry.scopes.of('cli-bound')).toEqual({ model: 'iris', channel: 'stable', tags: ['canary', 'site-a'] });
    const bad = await edgeml(['hub', 'token', '--data-dir', join(t.dir, 'hub'), '--tags', 'a/#']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/invalid tag "a\/#"/);
  });
});

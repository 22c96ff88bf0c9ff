/**
 * The dashboard's API without a browser: the live stream carries hub events to a token that may
 * read and to no one else, the read routes validate their input, and a hub with streams open
 * still stops at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newApiToken } from '@edgeml/hub';
import { irisModel, publishModel, startTestHub, waitFor, type TestHub } from '../helpers/fleet.js';

let t: TestHub | undefined;
let operator: string;

const get = (path: string, token?: string, signal?: AbortSignal) => fetch(`${t!.hub.httpUrl!}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {}, ...(signal ? { signal } : {}) });

beforeAll(async () => {
  t = await startTestHub();
  const op = newApiToken('operator');
  const now = new Date();
  t.hub.registry.tokens.addApiToken({ id: op.id, kind: 'operator', secretHash: op.secretHash, expiresAt: new Date(now.getTime() + 3_600_000), now });
  operator = op.token;
}, 120_000);

afterAll(async () => {
  await t?.stop();
});

describe('dashboard API', () => {
  it('streams hub events to a reader token, refuses a request without one, and lets the hub stop with the stream open', async () => {
    expect((await get('/v1/events/stream')).status).toBe(401);
    expect((await get('/v1/events/stream', 'admin-000000000000.nope')).status).toBe(401);
    const who = (await (await get('/v1/whoami', operator)).json()) as { kind: string; actions: string[] };
    expect(who).toEqual({ kind: 'operator', actions: ['read', 'steer-rollout'] });

    // Bounded input: a clear 400, never a query the registry has to survive.
    const bad = await get('/v1/models/iris/series?hours=abc', operator);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/hours/);
    expect((await get('/v1/events?limit=100000', operator)).status).toBe(400);
    const empty = (await (await get('/v1/models/iris/series?hours=1&buckets=10', operator)).json()) as { times: number[]; versions: unknown[] };
    expect(empty.times).toHaveLength(10);
    expect(empty.versions).toEqual([]);

    const stop = new AbortController();
    const res = await get('/v1/events/stream', operator, stop.signal);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    const reading = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        text += value;
      }
    })().catch(() => undefined);

    const v1 = await publishModel(t!.hub, await irisModel());
    const frame = await waitFor('the published event on the stream', () => /event: hub\ndata: (.*)\n\n/.exec(text)?.[1], 30_000);
    expect(JSON.parse(frame)).toMatchObject({ type: 'release.published', model: 'iris', version: v1.version, id: expect.any(Number) as number });
    expect((await (await get('/v1/events?limit=5', operator)).json()) as unknown[]).toHaveLength(1);

    // The hub stops promptly though the stream is still open, and the stream ends.
    const started = Date.now();
    await t!.hub.close();
    expect(Date.now() - started).toBeLessThan(8_000);
    await reading;
    stop.abort();
    await t!.stop().catch(() => undefined);
    t = undefined;
  });
});

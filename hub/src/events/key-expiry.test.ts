import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateKeyDir, silentLogger } from '@edgeml/core';
import { LiveSigner } from '../security/signer.js';
import { HubEvents, type HubEvent } from './bus.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeml-key-event-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('key.expiring', () => {
  it('is emitted when the release key is within 30 days of expiry, at most once a day', async () => {
    const keys = await generateKeyDir(dir);
    const expires = Date.parse(keys.releaseKeyDoc.signed.expires);
    let now = expires - 40 * 86_400_000;
    const bus = new HubEvents();
    const seen: HubEvent[] = [];
    bus.on((e) => seen.push(e));
    const signer = new LiveSigner(dir, keys, silentLogger, () => new Date(now), (warning, at) => bus.emit({ type: 'key.expiring', summary: warning, data: { expires: at } }));
    signer.current();
    expect(seen).toEqual([]);
    now = expires - 10 * 86_400_000;
    signer.current();
    signer.current();
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ type: 'key.expiring', data: { expires: keys.releaseKeyDoc.signed.expires } });
    expect(seen[0]!.summary).toMatch(/expires at .* \(in 10 days\).*edgeml keys rotate/);
    now += 86_400_000 + 1;
    signer.current();
    expect(seen).toHaveLength(2);
  });
});

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateKeyDir, rotateReleaseKey, silentLogger, type Logger } from '@edgeml/core';
import { LiveSigner } from './signer.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeml-signer-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('LiveSigner', () => {
  it('signs with a rotated key at the next signature, without a restart', async () => {
    const first = await generateKeyDir(dir);
    const signer = new LiveSigner(dir, first, silentLogger);
    expect(signer.current().release.keyid).toBe(first.release.keyid);
    const second = await rotateReleaseKey(dir);
    expect(signer.current().release.keyid).toBe(second.release.keyid);
    expect(signer.current().releaseKeyDoc.signed.version).toBe(2);
  });

  it('refuses to sign, saying why, when the key files change into something unusable, and recovers once fixed', async () => {
    const first = await generateKeyDir(dir);
    const signer = new LiveSigner(dir, first, silentLogger);
    await writeFile(join(dir, 'release-key.json'), '{"half": ');
    expect(() => signer.current()).toThrow(/changed and cannot be loaded .*refusing to sign with the superseded key/);
    expect(signer.metrics()).toContain('edgeml_release_key_version 1');
    expect(() => signer.current()).toThrow(/refusing to sign/);
    const fixed = await rotateReleaseKey(dir);
    expect(signer.current().release.keyid).toBe(fixed.release.keyid);
  });

  it('refuses a key directory that now names another root', async () => {
    const first = await generateKeyDir(dir);
    const signer = new LiveSigner(dir, first, silentLogger);
    await generateKeyDir(dir);
    expect(() => signer.current()).toThrow(/names another root key/);
  });

  it('warns in the log once a day from 30 days before expiry, and in the metrics', async () => {
    const now = new Date('2026-01-01T00:00:00Z');
    const keys = await generateKeyDir(dir, now, { lifetimeDays: 45 });
    const lines: string[] = [];
    const log: Logger = { ...silentLogger, warn: (msg) => lines.push(msg) };
    let t = now.getTime();
    const signer = new LiveSigner(dir, keys, log, () => new Date(t));
    expect(signer.warning()).toBeUndefined();
    expect(signer.metrics()).toContain('edgeml_release_key_expiring 0');
    t += 16 * 86_400_000;
    signer.current();
    signer.current();
    expect(lines).toEqual([expect.stringMatching(/the release key expires at 2026-02-15T00:00:00.000Z \(in 29 days\)/)]);
    expect(signer.metrics()).toContain('edgeml_release_key_expiring 1');
    t += 30 * 86_400_000;
    expect(signer.warning()).toMatch(/expired at/);
  });
});

import { copyFile, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EdgemlError } from './errors.js';
import { ReleaseKeyDocSchema, type Envelope, type ReleaseKeyDoc } from './schemas.js';
import {
  generateKeyDir,
  generateKeyPair,
  hasValidSignature,
  keyFiles,
  keyIdOf,
  loadReleaseSigner,
  readKeyPair,
  rotateReleaseKey,
  signEnvelope,
  signReleaseKey,
} from './signing.js';

const now = new Date('2025-01-01T00:00:00Z');
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeml-keys-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const modeOf = async (file: string) => (await stat(join(dir, file))).mode & 0o777;

describe('key pairs and envelopes', () => {
  it('derives a 64-hex key id from the public key', () => {
    const key = generateKeyPair();
    expect(key.keyid).toMatch(/^[0-9a-f]{64}$/);
    expect(keyIdOf(key.publicKeyPem)).toBe(key.keyid);
    expect(generateKeyPair().keyid).not.toBe(key.keyid);
  });

  it('verifies an envelope under its signer and under no other key', () => {
    const key = generateKeyPair();
    const envelope = signEnvelope({ b: 2, a: 1 }, key);
    expect(envelope.signatures).toEqual([{ keyid: key.keyid, sig: expect.any(String) }]);
    expect(hasValidSignature(envelope, key.publicKeyPem)).toBe(true);
    expect(hasValidSignature(envelope, generateKeyPair().publicKeyPem)).toBe(false);
  });

  it('verifies whatever the key order of the signed object, since it signs canonical JSON', () => {
    const key = generateKeyPair();
    const envelope = signEnvelope({ b: 2, a: 1 }, key);
    expect(hasValidSignature({ signed: { a: 1, b: 2 }, signatures: envelope.signatures }, key.publicKeyPem)).toBe(true);
  });

  it('refuses a tampered payload, a garbage signature and a garbage public key', () => {
    const key = generateKeyPair();
    const envelope = signEnvelope({ version: 1 }, key);
    expect(hasValidSignature({ ...envelope, signed: { version: 2 } }, key.publicKeyPem)).toBe(false);
    expect(hasValidSignature({ ...envelope, signatures: [{ keyid: key.keyid, sig: 'AAAA' }] }, key.publicKeyPem)).toBe(false);
    expect(hasValidSignature(envelope, 'not a pem')).toBe(false);
    expect(hasValidSignature({ signed: { x: NaN }, signatures: envelope.signatures }, key.publicKeyPem)).toBe(false);
  });

  it('signs a release-key document that lives for the lifetime asked', () => {
    const root = generateKeyPair();
    const release = generateKeyPair();
    const doc = signReleaseKey(root, release, now, 30);
    expect(ReleaseKeyDocSchema.parse(doc.signed)).toEqual({
      type: 'release-key',
      keyid: release.keyid,
      publicKey: release.publicKeyPem,
      created: '2025-01-01T00:00:00.000Z',
      expires: '2025-01-31T00:00:00.000Z',
    });
    expect(hasValidSignature(doc, root.publicKeyPem)).toBe(true);
  });
});

describe('key directories', () => {
  it('writes private keys with mode 0600 and public files with 0644', async () => {
    await generateKeyDir(dir, now);
    expect(await modeOf(keyFiles.rootPrivate)).toBe(0o600);
    expect(await modeOf(keyFiles.releasePrivate)).toBe(0o600);
    expect(await modeOf(keyFiles.rootPublic)).toBe(0o644);
    expect(await modeOf(keyFiles.releasePublic)).toBe(0o644);
    expect(await modeOf(keyFiles.releaseKeyDoc)).toBe(0o644);
  });

  it('writes a release-key document that the root public key on disk verifies', async () => {
    const signer = await generateKeyDir(dir, now);
    const rootPem = await readFile(join(dir, keyFiles.rootPublic), 'utf8');
    const doc = JSON.parse(await readFile(join(dir, keyFiles.releaseKeyDoc), 'utf8')) as Envelope<ReleaseKeyDoc>;
    expect(rootPem).toBe(signer.rootPublicKeyPem);
    expect(doc).toEqual(signer.releaseKeyDoc);
    expect(doc.signed.keyid).toBe(signer.release.keyid);
    expect(hasValidSignature(doc, rootPem)).toBe(true);
  });

  it('rotates to a new release key that the same root still vouches for', async () => {
    const before = await generateKeyDir(dir, now);
    const after = await rotateReleaseKey(dir, new Date('2025-06-01T00:00:00Z'));
    expect(after.release.keyid).not.toBe(before.release.keyid);
    expect(after.rootPublicKeyPem).toBe(before.rootPublicKeyPem);
    expect(after.releaseKeyDoc.signed.keyid).toBe(after.release.keyid);
    expect(after.releaseKeyDoc.signed.created).toBe('2025-06-01T00:00:00.000Z');
    expect(hasValidSignature(after.releaseKeyDoc, before.rootPublicKeyPem)).toBe(true);
    expect(await modeOf(keyFiles.releasePrivate)).toBe(0o600);

    const loaded = await loadReleaseSigner(dir);
    expect(loaded.release.keyid).toBe(after.release.keyid);
    expect(loaded.releaseKeyDoc).toEqual(after.releaseKeyDoc);
  });

  it('reads back the key pair it wrote', async () => {
    const signer = await generateKeyDir(dir, now);
    const release = await readKeyPair(join(dir, keyFiles.releasePrivate));
    expect(release.keyid).toBe(signer.release.keyid);
    expect(release.publicKeyPem).toBe(signer.release.publicKeyPem);
  });

  it('refuses a missing private key with a user error naming the file', async () => {
    const missing = join(dir, 'nope.key');
    const err = await readKeyPair(missing).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EdgemlError);
    expect(err).toMatchObject({ code: 'key-missing', exitCode: 2 });
    expect((err as Error).message).toContain(missing);
  });

  it('refuses a release key document that describes another key', async () => {
    await generateKeyDir(dir, now);
    const other = await mkdtemp(join(tmpdir(), 'edgeml-keys-other-'));
    try {
      await generateKeyDir(other, now);
      await copyFile(join(other, keyFiles.releaseKeyDoc), join(dir, keyFiles.releaseKeyDoc));
      await expect(loadReleaseSigner(dir)).rejects.toMatchObject({ code: 'key-mismatch' });
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });
});

/**
 * TUF-style signing: Ed25519 over canonical JSON. A root key (kept offline by the user) signs a
 * release-key document; the release key signs releases; agents pin only the root public key,
 * so the release key can be rotated without touching a device.
 */
import { createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalJson } from './canonical.js';
import { userError } from './errors.js';
import { sha256Hex, writeFileAtomic } from './fsutil.js';
import type { Envelope, ReleaseKeyDoc } from './schemas.js';

export interface KeyPair {
  keyid: string;
  privateKeyPem: string;
  publicKeyPem: string;
}

/** The key id is the sha256 of the public key's DER encoding, as TUF does. */
export function keyIdOf(publicKeyPem: string): string {
  const der = createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
  return sha256Hex(der);
}

export function generateKeyPair(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return { keyid: keyIdOf(publicKeyPem), privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKeyPem };
}

export function signEnvelope<T>(signed: T, key: KeyPair): Envelope<T> {
  const sig = sign(null, Buffer.from(canonicalJson(signed)), key.privateKeyPem).toString('base64');
  return { signed, signatures: [{ keyid: key.keyid, sig }] };
}

/** True when one of the envelope's signatures is by `publicKeyPem` and verifies. */
export function hasValidSignature(envelope: { signed: unknown; signatures: { keyid: string; sig: string }[] }, publicKeyPem: string): boolean {
  let key: KeyObject;
  try {
    key = createPublicKey(publicKeyPem);
  } catch {
    return false;
  }
  const keyid = keyIdOf(publicKeyPem);
  let bytes: Buffer;
  try {
    bytes = Buffer.from(canonicalJson(envelope.signed));
  } catch {
    return false;
  }
  return envelope.signatures.some((s) => s.keyid === keyid && verify(null, bytes, key, Buffer.from(s.sig, 'base64')));
}

export function signReleaseKey(root: KeyPair, release: KeyPair, now: Date, lifetimeDays = 365, version?: number): Envelope<ReleaseKeyDoc> {
  const doc: ReleaseKeyDoc = {
    type: 'release-key',
    keyid: release.keyid,
    publicKey: release.publicKeyPem,
    created: now.toISOString(),
    expires: new Date(now.getTime() + lifetimeDays * 86_400_000).toISOString(),
    ...(version === undefined ? {} : { version }),
  };
  return signEnvelope(doc, root);
}

/** The files of a key directory, as `edgeml keys generate` writes them. */
export const keyFiles = {
  rootPrivate: 'root.key',
  rootPublic: 'root.pub',
  releasePrivate: 'release.key',
  releasePublic: 'release.pub',
  releaseKeyDoc: 'release-key.json',
} as const;

export interface ReleaseSigner {
  release: KeyPair;
  releaseKeyDoc: Envelope<ReleaseKeyDoc>;
  rootPublicKeyPem: string;
}

export interface KeyOptions {
  /** Days the release key is valid (default 365). */
  lifetimeDays?: number;
  /**
   * Where the root private key lives when it is kept apart (offline): `generateKeyDir` writes it
   * there instead of into `dir`, `rotateReleaseKey` reads it from there.
   */
  rootDir?: string;
}

/**
 * Write root and release keys into `dir`; private keys get mode 0600. With `rootDir`, the root
 * private key goes there and `dir` holds only what a hub needs (release key, its document,
 * root.pub).
 */
export async function generateKeyDir(dir: string, now = new Date(), opts: KeyOptions = {}): Promise<ReleaseSigner> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const root = generateKeyPair();
  const rootDir = opts.rootDir ?? dir;
  if (rootDir !== dir) await mkdir(rootDir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(join(rootDir, keyFiles.rootPrivate), root.privateKeyPem, 0o600);
  await writeFileAtomic(join(rootDir, keyFiles.rootPublic), root.publicKeyPem, 0o644);
  if (rootDir !== dir) await writeFileAtomic(join(dir, keyFiles.rootPublic), root.publicKeyPem, 0o644);
  return rotateReleaseKey(dir, now, root, opts);
}

/** The version of the release-key document in `dir`, 0 when there is none or it has none. */
async function currentKeyVersion(dir: string): Promise<number> {
  try {
    const doc = JSON.parse(await readFile(join(dir, keyFiles.releaseKeyDoc), 'utf8')) as Envelope<Partial<ReleaseKeyDoc>>;
    return typeof doc.signed.version === 'number' ? doc.signed.version : 0;
  } catch {
    return 0;
  }
}

/**
 * Replace the release key, signing its document with the root key (from `dir`, or
 * `opts.rootDir`). The document's version goes up by one, so agents that have seen it refuse
 * releases signed by any earlier key.
 */
export async function rotateReleaseKey(dir: string, now = new Date(), rootKey?: KeyPair, opts: KeyOptions = {}): Promise<ReleaseSigner> {
  const root = rootKey ?? (await readKeyPair(join(opts.rootDir ?? dir, keyFiles.rootPrivate)));
  const onFile = await readFile(join(dir, keyFiles.rootPublic), 'utf8').catch(() => undefined);
  if (onFile !== undefined && keyIdOf(onFile) !== root.keyid) {
    throw userError('key-mismatch', `the root key given is not the one ${join(dir, keyFiles.rootPublic)} names: devices pinned to it would refuse the new release key`);
  }
  const release = generateKeyPair();
  const releaseKeyDoc = signReleaseKey(root, release, now, opts.lifetimeDays ?? 365, (await currentKeyVersion(dir)) + 1);
  await writeFileAtomic(join(dir, keyFiles.releasePrivate), release.privateKeyPem, 0o600);
  await writeFileAtomic(join(dir, keyFiles.releasePublic), release.publicKeyPem, 0o644);
  await writeFileAtomic(join(dir, keyFiles.releaseKeyDoc), JSON.stringify(releaseKeyDoc, null, 2) + '\n', 0o644);
  return { release, releaseKeyDoc, rootPublicKeyPem: root.publicKeyPem };
}

export async function readKeyPair(privatePath: string): Promise<KeyPair> {
  let pem: string;
  try {
    pem = await readFile(privatePath, 'utf8');
  } catch (e) {
    throw userError('key-missing', `cannot read private key ${privatePath}: ${(e as Error).message}`);
  }
  const publicKeyPem = createPublicKey(pem).export({ type: 'spki', format: 'pem' }).toString();
  return { keyid: keyIdOf(publicKeyPem), privateKeyPem: pem, publicKeyPem };
}

/** Load the release signer of a key directory (the root private key is not needed). */
export async function loadReleaseSigner(dir: string): Promise<ReleaseSigner> {
  return loadReleaseSignerSync(dir);
}

/** The same, synchronously: the hub checks the key files before each signature. */
export function loadReleaseSignerSync(dir: string): ReleaseSigner {
  let pem: string;
  try {
    pem = readFileSync(join(dir, keyFiles.releasePrivate), 'utf8');
  } catch (e) {
    throw userError('key-missing', `cannot read private key ${join(dir, keyFiles.releasePrivate)}: ${(e as Error).message}`);
  }
  const publicKeyPem = createPublicKey(pem).export({ type: 'spki', format: 'pem' }).toString();
  const release: KeyPair = { keyid: keyIdOf(publicKeyPem), privateKeyPem: pem, publicKeyPem };
  const releaseKeyDoc = JSON.parse(readFileSync(join(dir, keyFiles.releaseKeyDoc), 'utf8')) as Envelope<ReleaseKeyDoc>;
  const rootPublicKeyPem = readFileSync(join(dir, keyFiles.rootPublic), 'utf8');
  if (releaseKeyDoc.signed.keyid !== release.keyid) {
    throw userError('key-mismatch', `${join(dir, keyFiles.releaseKeyDoc)} does not describe ${join(dir, keyFiles.releasePrivate)}`);
  }
  return { release, releaseKeyDoc, rootPublicKeyPem };
}

/**
 * TUF-style signing: Ed25519 over canonical JSON. A root key (kept offline by the user) signs a
 * release-key document; the release key signs releases; agents pin only the root public key,
 * so the release key can be rotated without touching a device.
 */
import { createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
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

export function signReleaseKey(root: KeyPair, release: KeyPair, now: Date, lifetimeDays = 365): Envelope<ReleaseKeyDoc> {
  const doc: ReleaseKeyDoc = {
    type: 'release-key',
    keyid: release.keyid,
    publicKey: release.publicKeyPem,
    created: now.toISOString(),
    expires: new Date(now.getTime() + lifetimeDays * 86_400_000).toISOString(),
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

/** Write root and release keys into `dir`; private keys get mode 0600. */
export async function generateKeyDir(dir: string, now = new Date()): Promise<ReleaseSigner> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const root = generateKeyPair();
  await writeFileAtomic(join(dir, keyFiles.rootPrivate), root.privateKeyPem, 0o600);
  await writeFileAtomic(join(dir, keyFiles.rootPublic), root.publicKeyPem, 0o644);
  return rotateReleaseKey(dir, now, root);
}

/** Replace the release key, signing its document with the root key found in `dir`. */
export async function rotateReleaseKey(dir: string, now = new Date(), rootKey?: KeyPair): Promise<ReleaseSigner> {
  const root = rootKey ?? (await readKeyPair(join(dir, keyFiles.rootPrivate)));
  const release = generateKeyPair();
  const releaseKeyDoc = signReleaseKey(root, release, now);
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
  const release = await readKeyPair(join(dir, keyFiles.releasePrivate));
  const releaseKeyDoc = JSON.parse(await readFile(join(dir, keyFiles.releaseKeyDoc), 'utf8')) as Envelope<ReleaseKeyDoc>;
  const rootPublicKeyPem = await readFile(join(dir, keyFiles.rootPublic), 'utf8');
  if (releaseKeyDoc.signed.keyid !== release.keyid) {
    throw userError('key-mismatch', `${join(dir, keyFiles.releaseKeyDoc)} does not describe ${join(dir, keyFiles.releasePrivate)}`);
  }
  return { release, releaseKeyDoc, rootPublicKeyPem };
}

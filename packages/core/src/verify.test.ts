import { describe, expect, it } from 'vitest';
import { sha256Hex } from './fsutil.js';
import { ReleaseSchema, type Envelope, type Release, type SignedRelease } from './schemas.js';
import { generateKeyPair, signEnvelope, signReleaseKey, type KeyPair } from './signing.js';
import { ArtifactChecker, RefusedError, checkArtifactBytes, verifyRelease, type RefusalReason, type VerifyOptions } from './verify.js';

const now = new Date('2025-03-01T12:00:00Z');
const day = 86_400_000;
const root = generateKeyPair();
const releaseKey = generateKeyPair();
const keyDoc = signReleaseKey(root, releaseKey, new Date(now.getTime() - 10 * day));
const artifact = new Uint8Array(Array.from({ length: 300 }, (_, i) => i % 251));

function release(overrides: Partial<Release> = {}): Release {
  const sha = sha256Hex(artifact);
  return ReleaseSchema.parse({
    type: 'release',
    model: 'iris',
    version: 3,
    channel: 'stable',
    created: new Date(now.getTime() - day).toISOString(),
    expires: new Date(now.getTime() + 30 * day).toISOString(),
    artifact: { sha256: sha, size: artifact.length, format: 'tfjs-layers', runtime: 'tfjs-wasm', chunkSize: 1024, chunks: [sha] },
    spec: {
      task: 'classification',
      target: 'species',
      features: ['sepal_length', 'sepal_width'],
      inputShape: [2],
      labels: ['setosa', 'versicolor'],
      preprocessing: { kind: 'standardize', mean: [5.8, 3.0], std: [0.8, 0.4] },
    },
    validation: { accuracy: 0.96, testRows: 23 },
    budgets: { p95Ms: 50, maxErrorRate: 0.01 },
    selfTest: { rows: [[5.1, 3.5]], expected: [[0.9, 0.1]], tolerance: 1e-3 },
    ...overrides,
  });
}

function signed(payload: unknown = release(), by: KeyPair = releaseKey, doc: Envelope<unknown> = keyDoc): SignedRelease {
  return { ...signEnvelope(payload, by), releaseKey: doc } as SignedRelease;
}

const opts: VerifyOptions = { rootPublicKeyPem: root.publicKeyPem, now, model: 'iris', channel: 'stable', seenVersion: 2 };

function reasonOf(input: unknown, options: VerifyOptions = opts): RefusalReason | 'accepted' {
  try {
    verifyRelease(input, options);
    return 'accepted';
  } catch (e) {
    if (e instanceof RefusedError) return e.reason;
    throw e;
  }
}

describe('verifyRelease', () => {
  it('accepts a release signed by a root-vouched key, returning the parsed release and key', () => {
    const input = signed();
    const verified = verifyRelease(input, opts);
    expect(verified.release).toEqual(release());
    expect(verified.releaseKey.keyid).toBe(releaseKey.keyid);
  });

  it('survives a JSON round trip, as a release does on the wire', () => {
    expect(reasonOf(JSON.parse(JSON.stringify(signed())))).toBe('accepted');
  });

  it('accepts without model, channel or seen version to check', () => {
    expect(reasonOf(signed(), { rootPublicKeyPem: root.publicKeyPem, now })).toBe('accepted');
  });

  const otherRoot = generateKeyPair();
  const stranger = generateKeyPair();
  const tampered = (): SignedRelease => {
    const input = signed();
    return { ...input, signed: { ...input.signed, version: 99 } };
  };
  const refusals: [string, () => unknown, RefusalReason][] = [
    ['garbage text', () => 'not a release', 'malformed'],
    ['null', () => null, 'malformed'],
    ['an envelope without its release key', () => signEnvelope(release(), releaseKey), 'malformed'],
    ['a valid signature over a payload that is not a release', () => signed({ type: 'release', model: 'iris', version: 'three' }), 'malformed'],
    ['a root-signed key document that is not one', () => signed(release(), releaseKey, signEnvelope({ type: 'something-else' }, root)), 'malformed'],
    ['a release key signed by another root', () => signed(release(), releaseKey, signReleaseKey(otherRoot, releaseKey, now)), 'unknown-key'],
    ['a release signed by a key the root does not vouch for', () => signed(release(), stranger), 'unknown-key'],
    ['a release with no signatures', () => ({ ...signed(), signatures: [] }), 'unknown-key'],
    ['a tampered version', tampered, 'bad-signature'],
    [
      'a forged signature under the vouched key id',
      () => ({ ...signed(release(), stranger), signatures: [{ keyid: releaseKey.keyid, sig: signEnvelope(release(), stranger).signatures[0]!.sig }] }),
      'bad-signature',
    ],
    ['an expired release', () => signed(release({ expires: new Date(now.getTime() - 1).toISOString() })), 'expired'],
    ['a release expiring this very instant', () => signed(release({ expires: now.toISOString() })), 'expired'],
    ['an unreadable expiry date', () => signed(release({ expires: 'someday' })), 'expired'],
    ['an expired release key', () => signed(release(), releaseKey, signReleaseKey(root, releaseKey, new Date(now.getTime() - 400 * day))), 'expired'],
    ['another model', () => signed(release({ model: 'digits' })), 'wrong-model'],
    ['another channel', () => signed(release({ channel: 'beta' })), 'wrong-channel'],
    ['the version already seen', () => signed(release({ version: 2 })), 'rollback'],
    ['an older version', () => signed(release({ version: 1 })), 'rollback'],
  ];
  it.each(refusals)('refuses %s', (_, input, reason) => {
    expect(reasonOf(input())).toBe(reason);
  });

  it('refuses a release signed by a release key older than the newest key document seen', () => {
    const v1 = signReleaseKey(root, releaseKey, new Date(now.getTime() - 10 * day), 365, 1);
    const newer = generateKeyPair();
    const v2 = signReleaseKey(root, newer, new Date(now.getTime() - day), 365, 2);
    expect(reasonOf(signed(release(), releaseKey, v1), { ...opts, seenKeyVersion: 2 })).toBe('superseded-key');
    // A document without a version counts as version 0.
    expect(reasonOf(signed(release(), releaseKey, keyDoc), { ...opts, seenKeyVersion: 1 })).toBe('superseded-key');
    expect(reasonOf(signed(release(), newer, v2), { ...opts, seenKeyVersion: 2 })).toBe('accepted');
    expect(verifyRelease(signed(release(), newer, v2), { ...opts, seenKeyVersion: 1 }).releaseKey.version).toBe(2);
  });

  it('prefixes the message with the reason code', () => {
    expect(() => verifyRelease(signed(release({ version: 2 })), opts)).toThrow(/^rollback: version 2 is not above 2/);
  });
});

describe('artifact checks', () => {
  const expected = { sha256: sha256Hex(artifact), size: artifact.length };
  const refusalOf = (fn: () => void): RefusalReason | 'accepted' => {
    try {
      fn();
      return 'accepted';
    } catch (e) {
      if (e instanceof RefusedError) return e.reason;
      throw e;
    }
  };

  it('accepts the declared bytes whole or in chunks', () => {
    expect(refusalOf(() => checkArtifactBytes(artifact, expected))).toBe('accepted');
    const checker = new ArtifactChecker(expected);
    for (let off = 0; off < artifact.length; off += 64) checker.update(artifact.subarray(off, off + 64));
    expect(refusalOf(() => checker.finish())).toBe('accepted');
  });

  it('refuses a short artifact as a size mismatch', () => {
    expect(refusalOf(() => checkArtifactBytes(artifact.subarray(0, 299), expected))).toBe('size-mismatch');
  });

  it('refuses a too-long artifact as a size mismatch', () => {
    const long = new Uint8Array(artifact.length + 1);
    long.set(artifact);
    expect(refusalOf(() => checkArtifactBytes(long, expected))).toBe('size-mismatch');
  });

  it('refuses in update as soon as the bytes run past the declared size', () => {
    const checker = new ArtifactChecker(expected);
    checker.update(artifact.subarray(0, 200));
    checker.update(artifact.subarray(200, 300));
    expect(refusalOf(() => checker.update(new Uint8Array(1)))).toBe('size-mismatch');
  });

  it('refuses bytes of the right size with another hash', () => {
    const flipped = Uint8Array.from(artifact);
    flipped[150]! ^= 1;
    expect(refusalOf(() => checkArtifactBytes(flipped, expected))).toBe('hash-mismatch');
  });
});

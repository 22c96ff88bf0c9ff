/**
 * The one verification path for releases. The agent runs it on every release it receives and
 * `edgeml verify` runs it on files, so both refuse exactly the same things with the same codes.
 */
import { createHash } from 'node:crypto';
import { hasValidSignature } from './signing.js';
import { ReleaseKeyDocSchema, ReleaseSchema, SignedReleaseSchema, describeZodError, type Release, type ReleaseKeyDoc } from './schemas.js';

export const refusalReasons = [
  'malformed',
  'unknown-key',
  'bad-signature',
  'expired',
  'wrong-model',
  'wrong-channel',
  'rollback',
  'superseded-key',
  'size-mismatch',
  'hash-mismatch',
] as const;
export type RefusalReason = (typeof refusalReasons)[number];

export class RefusedError extends Error {
  constructor(
    readonly reason: RefusalReason,
    message: string,
  ) {
    super(`${reason}: ${message}`);
    this.name = 'RefusedError';
  }
}

export interface VerifyOptions {
  rootPublicKeyPem: string;
  now: Date;
  /** Highest version this device has seen; a release must be above it. */
  seenVersion?: number;
  model?: string;
  channel?: string;
  /**
   * The creation time of the release the device runs: a rollback directive must be newer, so
   * an old directive replayed later cannot force a downgrade.
   */
  activeCreated?: string;
  /**
   * Highest release-key document version this device has seen: a release signed by an older
   * release key is refused, so a rotated-out key (lost, leaked) cannot sign anything it installs.
   */
  seenKeyVersion?: number;
}

export interface VerifiedRelease {
  release: Release;
  releaseKey: ReleaseKeyDoc;
}

/** Check signatures, freshness and addressing of a signed release; throws RefusedError. */
export function verifyRelease(input: unknown, opts: VerifyOptions): VerifiedRelease {
  const outer = SignedReleaseSchema.safeParse(input);
  if (!outer.success) throw new RefusedError('malformed', describeZodError(outer.error));
  const envelope = outer.data;

  if (!hasValidSignature(envelope.releaseKey, opts.rootPublicKeyPem)) {
    throw new RefusedError('unknown-key', 'the release key is not signed by the pinned root key');
  }
  const keyDoc = ReleaseKeyDocSchema.safeParse(envelope.releaseKey.signed);
  if (!keyDoc.success) throw new RefusedError('malformed', `release key document: ${describeZodError(keyDoc.error)}`);
  if (!envelope.signatures.some((s) => s.keyid === keyDoc.data.keyid)) {
    throw new RefusedError('unknown-key', 'no signature by the release key the root vouches for');
  }
  if (!hasValidSignature(envelope, keyDoc.data.publicKey)) {
    throw new RefusedError('bad-signature', 'the release signature does not verify');
  }
  // Parse only after the signature holds: a forged payload never reaches the schema's logic.
  const parsed = ReleaseSchema.safeParse(envelope.signed);
  if (!parsed.success) throw new RefusedError('malformed', describeZodError(parsed.error));
  const release = parsed.data;

  const now = opts.now.getTime();
  if (!(Date.parse(keyDoc.data.expires) > now)) throw new RefusedError('expired', `release key expired at ${keyDoc.data.expires}`);
  if (!(Date.parse(release.expires) > now)) throw new RefusedError('expired', `release expired at ${release.expires}`);
  if (opts.model !== undefined && release.model !== opts.model) {
    throw new RefusedError('wrong-model', `release is for model "${release.model}", this device runs "${opts.model}"`);
  }
  if (opts.channel !== undefined && release.channel !== opts.channel) {
    throw new RefusedError('wrong-channel', `release is on channel "${release.channel}", this device follows "${opts.channel}"`);
  }
  if (opts.seenVersion !== undefined && release.version <= opts.seenVersion) {
    if (!release.rollback) throw new RefusedError('rollback', `version ${release.version} is not above ${opts.seenVersion}, the highest seen`);
    if (opts.activeCreated !== undefined && !(Date.parse(release.created) > Date.parse(opts.activeCreated))) {
      throw new RefusedError('rollback', `rollback directive to version ${release.version} is older than the release this device runs`);
    }
  }
  const keyVersion = keyDoc.data.version ?? 0;
  if (opts.seenKeyVersion !== undefined && keyVersion < opts.seenKeyVersion) {
    throw new RefusedError('superseded-key', `release key version ${keyVersion} was replaced by version ${opts.seenKeyVersion}, the newest this device has seen`);
  }
  return { release, releaseKey: keyDoc.data };
}

/**
 * Hashes an artifact as it streams in and refuses it the moment it runs past the declared
 * size, so endless data costs the device nothing.
 */
export class ArtifactChecker {
  private readonly hash = createHash('sha256');
  private received = 0;

  constructor(private readonly expected: { sha256: string; size: number }) {}

  update(chunk: Uint8Array): void {
    this.received += chunk.length;
    if (this.received > this.expected.size) {
      throw new RefusedError('size-mismatch', `artifact exceeds its declared ${this.expected.size} bytes`);
    }
    this.hash.update(chunk);
  }

  finish(): void {
    if (this.received !== this.expected.size) {
      throw new RefusedError('size-mismatch', `artifact is ${this.received} bytes, the release declares ${this.expected.size}`);
    }
    const got = this.hash.digest('hex');
    if (got !== this.expected.sha256) throw new RefusedError('hash-mismatch', `artifact sha256 ${got} is not the signed ${this.expected.sha256}`);
  }
}

export function checkArtifactBytes(bytes: Uint8Array, expected: { sha256: string; size: number }): void {
  const checker = new ArtifactChecker(expected);
  checker.update(bytes);
  checker.finish();
}

/**
 * Building and signing a release manifest from an artifact the pipeline produced.
 */
import {
  sha256Hex,
  signEnvelope,
  type ArtifactFormat,
  type ModelSpec,
  type Release,
  type ReleaseSigner,
  type SignedRelease,
} from '@edgeml/core';

/** 64 KiB chunks: small enough for any broker's default limits, few enough to be cheap. */
export const DEFAULT_CHUNK_SIZE = 64 * 1024;

/** An artifact described rather than held: what the store computed from the file. */
export interface ArtifactDigest {
  sha256: string;
  size: number;
  /** sha256 of each chunk of `chunkSize` bytes. */
  chunks: string[];
}

export interface ReleaseInput {
  model: string;
  version: number;
  channel: string;
  artifact: Uint8Array | ArtifactDigest;
  format: ArtifactFormat;
  runtime: string;
  spec: ModelSpec;
  validation: Record<string, number>;
  budgets?: Release['budgets'];
  selfTest: Release['selfTest'];
  /** Training-split feature distribution, for drift detection. */
  reference?: Release['reference'];
  /** A signed instruction to go back to this older version. */
  rollback?: boolean;
  /** Lifetime of the signed release; an agent refuses it after that. */
  expiresInDays?: number;
  chunkSize?: number;
  /** Devices fetch the artifact from this URL (HTTP/S) instead of MQTT chunks. */
  url?: string;
  now?: Date;
}

export function chunkHashes(bytes: Uint8Array, chunkSize: number): string[] {
  const hashes: string[] = [];
  for (let off = 0; off < bytes.length; off += chunkSize) hashes.push(sha256Hex(bytes.subarray(off, off + chunkSize)));
  return hashes;
}

export function buildRelease(input: ReleaseInput): Release {
  const now = input.now ?? new Date();
  const chunkSize = input.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const a = input.artifact;
  const digest = a instanceof Uint8Array ? { sha256: sha256Hex(a), size: a.length, chunks: chunkHashes(a, chunkSize) } : a;
  return {
    type: 'release',
    model: input.model,
    version: input.version,
    channel: input.channel,
    created: now.toISOString(),
    expires: new Date(now.getTime() + (input.expiresInDays ?? 365) * 86_400_000).toISOString(),
    artifact: {
      sha256: digest.sha256,
      size: digest.size,
      format: input.format,
      runtime: input.runtime,
      chunkSize,
      chunks: digest.chunks,
      ...(input.url ? { url: input.url } : {}),
    },
    spec: input.spec,
    validation: input.validation,
    budgets: input.budgets ?? {},
    selfTest: input.selfTest,
    ...(input.reference ? { reference: input.reference } : {}),
    ...(input.rollback ? { rollback: true } : {}),
  };
}

export function signRelease(release: Release, signer: ReleaseSigner): SignedRelease {
  return { ...signEnvelope(release, signer.release), releaseKey: signer.releaseKeyDoc };
}

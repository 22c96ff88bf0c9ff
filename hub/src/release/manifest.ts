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

export interface ReleaseInput {
  model: string;
  version: number;
  channel: string;
  artifact: Uint8Array;
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
  return {
    type: 'release',
    model: input.model,
    version: input.version,
    channel: input.channel,
    created: now.toISOString(),
    expires: new Date(now.getTime() + (input.expiresInDays ?? 365) * 86_400_000).toISOString(),
    artifact: {
      sha256: sha256Hex(input.artifact),
      size: input.artifact.length,
      format: input.format,
      runtime: input.runtime,
      chunkSize,
      chunks: chunkHashes(input.artifact, chunkSize),
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

/**
 * The model an agent has installed, read straight from its data directory: state.json names
 * the active slot, the slot holds the signed release and the artifact. No broker, hub or
 * running agent is needed. The artifact's size and sha256 are checked against the signed
 * release before it is loaded, as the agent itself does.
 */
import { readFile } from 'node:fs/promises';
import { checkFailed, ReleaseSchema, sha256Hex, userError, type ArtifactFormat, type Release } from '@edgeml/core';
import type { RuntimeRegistry } from '@edgeml/runtime';
import { StateStore } from '../state/store.js';
import { slotArtifact, slotEnvelope } from '../update/machine.js';
import type { BatchModel } from './runner.js';

export interface InstalledModel extends BatchModel {
  release: Release;
  slot: 'a' | 'b';
}

/**
 * `onArtifact` sees the checked artifact before this thread loads it (edgeml batch starts its
 * worker threads on it there, so that their loads and this one run side by side).
 */
export async function loadInstalledModel(dataDir: string, runtimes: RuntimeRegistry, onArtifact?: (artifact: { bytes: Uint8Array; format: ArtifactFormat }) => void): Promise<InstalledModel> {
  let state;
  try {
    state = await new StateStore(dataDir).load();
  } catch (e) {
    throw userError('bad-agent-dir', `${dataDir}: cannot read the agent's state.json: ${(e as Error).message}`);
  }
  // A missing state.json loads as the initial state: nothing installed.
  const slot = state.active;
  if (!slot) throw userError('no-model', `${dataDir}: the agent has no installed model yet (is this an agent data directory?)`);
  const envelopePath = slotEnvelope(dataDir, slot);
  let release: Release;
  try {
    const envelope = JSON.parse(await readFile(envelopePath, 'utf8')) as { signed?: unknown };
    const parsed = ReleaseSchema.safeParse(envelope.signed);
    if (!parsed.success) throw new Error('not a signed release');
    release = parsed.data;
  } catch (e) {
    throw userError('bad-agent-dir', `${envelopePath}: cannot read the installed release: ${(e as Error).message}`);
  }
  const artifactPath = slotArtifact(dataDir, slot);
  let bytes: Buffer;
  try {
    bytes = await readFile(artifactPath);
  } catch (e) {
    throw userError('bad-agent-dir', `cannot read ${artifactPath}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const { sha256, size, format } = release.artifact;
  if (bytes.length !== size) throw checkFailed('size-mismatch', `${artifactPath} is ${bytes.length} bytes, the signed release of version ${release.version} says ${size}`);
  const got = sha256Hex(bytes);
  if (got !== sha256) throw checkFailed('hash-mismatch', `${artifactPath} has sha256 ${got}, the signed release of version ${release.version} says ${sha256}`);
  const loader = runtimes[format];
  if (!loader) throw userError('no-runtime', `no runtime in this build runs ${format} artifacts`);
  // A copy for worker threads, taken before a loader sees the bytes (a loader may reuse them).
  const artifact = { bytes: Uint8Array.from(bytes), format };
  onArtifact?.(artifact);
  return { name: release.model, version: release.version, sha256, spec: release.spec, runtime: await loader(bytes), artifact, release, slot };
}

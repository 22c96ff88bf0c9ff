/**
 * The model `edgeml predict` and `edgeml batch` run: the one an agent has installed (read from
 * its data directory, checked against the signed release) or a model directory.
 */
import { stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { userError, type ArtifactFormat } from '@edgeml/core';
import { loadInstalledModel, type BatchModel } from '@edgeml/agent';
import { readModelDir } from '@edgeml/ml';
import { deviceRuntimes } from '../runtimes.js';

/** `sources` names every flag that may give the model, for the usage message. */
/**
 * `onArtifact` sees the artifact (checked, for an agent's) before this thread loads it: `edgeml
 * batch` starts its worker threads on it there.
 */
export async function loadDeviceModel(
  o: { agentDir?: string; model?: string },
  sources = ['--agent-dir', '--model'],
  onArtifact?: (artifact: { bytes: Uint8Array; format: ArtifactFormat }) => void,
): Promise<BatchModel> {
  const given = [o.agentDir && '--agent-dir', o.model && '--model'].filter(Boolean);
  if (given.length !== 1) {
    const list = `${sources.slice(0, -1).join(', ')} or ${sources.at(-1)}`;
    throw userError('bad-usage', `give exactly one of ${list}${given.length ? ` (got ${given.join(' and ')})` : ''}`);
  }
  if (o.agentDir) return loadInstalledModel(resolve(o.agentDir), deviceRuntimes(), onArtifact);
  return loadModelPath(resolve(o.model!), onArtifact);
}

/** A model directory, or a file in one (its artifact or description). */
async function loadModelPath(path: string, onArtifact?: (artifact: { bytes: Uint8Array; format: ArtifactFormat }) => void): Promise<BatchModel> {
  let dir = path;
  try {
    if (!(await stat(path)).isDirectory()) dir = dirname(path);
  } catch (e) {
    throw userError('file-missing', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const { meta, artifact } = await readModelDir(dir);
  const loader = deviceRuntimes()[meta.format];
  if (!loader) throw userError('no-runtime', `no runtime in this build runs ${meta.format} artifacts`);
  // A copy for worker threads, taken before a loader sees the bytes (a loader may reuse them).
  const copy = { bytes: Uint8Array.from(artifact), format: meta.format };
  onArtifact?.(copy);
  // A model directory has no release version: its content hash identifies it in outputs.
  return { name: basename(dir), version: `sha256:${meta.sha256.slice(0, 12)}`, sha256: meta.sha256, spec: meta.spec, runtime: await loader(artifact), artifact: copy };
}

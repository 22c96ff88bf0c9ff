/**
 * `edgeml sign` and `edgeml verify`: the hub's signing and the agent's verification as plain
 * commands on files, for CI systems that build their own artifacts.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import {
  ArtifactFormatSchema,
  RefusedError,
  checkArtifactBytes,
  checkFailed,
  loadReleaseSigner,
  userError,
  verifyRelease,
  writeFileAtomic,
} from '@edgeml/core';
import { buildRelease, signRelease } from '@edgeml/hub';
import { MODEL_FILES, readModelDir } from '@edgeml/ml';
import { printJson } from './options.js';

export function parseDuration(text: string): number {
  const m = /^(\d+)\s*([smhd])$/.exec(text.trim());
  if (!m) throw userError('bad-usage', `--expires "${text}" is not a duration like 30d, 12h, 90m or 45s`);
  return Number(m[1]) * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'];
}

async function readBytes(file: string, what: string): Promise<Uint8Array> {
  try {
    return await readFile(file);
  } catch (e) {
    throw userError('file-missing', `cannot read ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export async function sign(o: { artifact: string; model: string; version: number; channel: string; expires: string; format?: string; spec?: string; keys: string; out: string }): Promise<void> {
  const format = o.format === undefined ? undefined : ArtifactFormatSchema.safeParse(o.format);
  if (format && !format.success) throw userError('bad-usage', `--format must be one of ${ArtifactFormatSchema.options.join(', ')}`);
  if (o.version < 1) throw userError('bad-usage', '--version must be 1 or more');
  const artifact = await readBytes(resolve(o.artifact), 'artifact');
  const specDir = o.spec ? dirname(resolve(o.spec)) : dirname(resolve(o.artifact));
  const { meta } = await readModelDir(specDir).catch((e: Error) => {
    throw userError('no-spec', `${o.spec ?? join(specDir, MODEL_FILES.meta)}: the model description (input spec) is needed to sign a release: ${e.message}`);
  });
  // A device picks its runtime by the signed format: one that is not the artifact's cannot run.
  if (format?.data !== undefined && format.data !== meta.format) {
    throw userError('bad-usage', `--format ${format.data} does not match the model description, which says ${meta.format}`);
  }
  const lifetime = parseDuration(o.expires);
  const signer = await loadReleaseSigner(resolve(o.keys));
  const release = buildRelease({
    model: o.model,
    version: o.version,
    channel: o.channel,
    artifact,
    format: meta.format,
    runtime: meta.runtime,
    spec: meta.spec,
    validation: meta.figures,
    selfTest: { rows: [], expected: [], tolerance: 0 },
    expiresInDays: lifetime / 86_400_000,
  });
  await writeFileAtomic(resolve(o.out), JSON.stringify(signRelease(release, signer), null, 2) + '\n');
  process.stdout.write(`signed ${o.model} v${o.version} (${artifact.length} bytes, sha256 ${release.artifact.sha256.slice(0, 12)}) -> ${resolve(o.out)}\n`);
}

export async function verify(o: { envelope: string; rootKey: string; artifact?: string; seenVersion?: number; model?: string; channel?: string; json?: boolean }): Promise<void> {
  const rootPublicKeyPem = Buffer.from(await readBytes(resolve(o.rootKey), 'root key')).toString('utf8');
  const text = Buffer.from(await readBytes(resolve(o.envelope), 'envelope')).toString('utf8');
  const report = (ok: boolean, reason: string | null, detail: string, extra: Record<string, unknown> = {}) => {
    if (o.json) printJson({ ok, reason, detail, ...extra });
    else process.stdout.write(ok ? `ok: ${detail}\n` : `refused (${reason}): ${detail}\n`);
  };
  try {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new RefusedError('malformed', `not JSON: ${(e as Error).message}`);
    }
    const { release } = verifyRelease(json, {
      rootPublicKeyPem,
      now: new Date(),
      ...(o.seenVersion !== undefined ? { seenVersion: o.seenVersion } : {}),
      ...(o.model !== undefined ? { model: o.model } : {}),
      ...(o.channel !== undefined ? { channel: o.channel } : {}),
    });
    if (o.artifact) checkArtifactBytes(await readBytes(resolve(o.artifact), 'artifact'), release.artifact);
    report(true, null, `${release.model} v${release.version} on ${release.channel}, ${release.artifact.format}, sha256 ${release.artifact.sha256}${o.artifact ? ' (artifact checked)' : ''}`, { model: release.model, version: release.version });
  } catch (e) {
    if (!(e instanceof RefusedError)) throw e;
    report(false, e.reason, e.message);
    throw checkFailed(`refused-${e.reason}`, `refused: ${e.message}`);
  }
}

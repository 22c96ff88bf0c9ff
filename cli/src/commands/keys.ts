import { access } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { generateKeyDir, keyFiles, rotateReleaseKey, userError, type KeyOptions, type ReleaseSigner } from '@edgeml/core';
import { parseDuration } from './sign.js';

export interface KeysFlags {
  dir: string;
  force?: boolean;
  lifetime?: string;
  rootDir?: string;
}

function keyOptions(o: KeysFlags): KeyOptions {
  return {
    ...(o.lifetime ? { lifetimeDays: parseDuration(o.lifetime) / 86_400_000 } : {}),
    ...(o.rootDir ? { rootDir: resolve(o.rootDir) } : {}),
  };
}

const describe = (s: ReleaseSigner) => `release key ${s.release.keyid.slice(0, 16)} (document version ${s.releaseKeyDoc.signed.version ?? 0}), valid until ${s.releaseKeyDoc.signed.expires}`;

export async function keysGenerate(o: KeysFlags): Promise<void> {
  const dir = resolve(o.dir);
  const rootDir = o.rootDir ? resolve(o.rootDir) : dir;
  const exists = await access(join(rootDir, keyFiles.rootPrivate)).then(() => true, () => false);
  // Overwriting a root key orphans every device that pinned it: make the user say so.
  if (exists && !o.force) throw userError('keys-exist', `${join(rootDir, keyFiles.rootPrivate)} exists; pass --force to replace the root key (devices pinned to it will refuse new releases)`);
  const signer = await generateKeyDir(dir, new Date(), keyOptions(o));
  process.stdout.write(
    `wrote ${dir}: root key ${signer.releaseKeyDoc.signatures[0]!.keyid.slice(0, 16)}, ${describe(signer)}\n` +
      (rootDir === dir
        ? `pin ${join(dir, keyFiles.rootPublic)} on devices; keep ${join(dir, keyFiles.rootPrivate)} offline\n`
        : `root private key in ${join(rootDir, keyFiles.rootPrivate)}: keep it offline; ${dir} holds what the hub needs (no root private key)\n`),
  );
}

export async function keysRotate(o: KeysFlags): Promise<void> {
  const dir = resolve(o.dir);
  const signer = await rotateReleaseKey(dir, new Date(), undefined, keyOptions(o));
  process.stdout.write(`new ${describe(signer)}; a running hub signs with it from its next release, and devices that see it refuse the old key\n`);
}

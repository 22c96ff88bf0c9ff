import { access } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { generateKeyDir, keyFiles, rotateReleaseKey, userError } from '@edgeml/core';

export async function keysGenerate(o: { dir: string; force?: boolean }): Promise<void> {
  const dir = resolve(o.dir);
  const exists = await access(join(dir, keyFiles.rootPrivate)).then(() => true, () => false);
  // Overwriting a root key orphans every device that pinned it: make the user say so.
  if (exists && !o.force) throw userError('keys-exist', `${join(dir, keyFiles.rootPrivate)} exists; pass --force to replace the root key (devices pinned to it will refuse new releases)`);
  const signer = await generateKeyDir(dir);
  process.stdout.write(
    `wrote ${dir}: root key ${signer.releaseKeyDoc.signatures[0]!.keyid.slice(0, 16)}, release key ${signer.release.keyid.slice(0, 16)}\n` +
      `pin ${join(dir, keyFiles.rootPublic)} on devices; keep ${join(dir, keyFiles.rootPrivate)} offline\n`,
  );
}

export async function keysRotate(o: { dir: string }): Promise<void> {
  const dir = resolve(o.dir);
  const signer = await rotateReleaseKey(dir);
  process.stdout.write(`new release key ${signer.release.keyid.slice(0, 16)}, valid until ${signer.releaseKeyDoc.signed.expires}\n`);
}

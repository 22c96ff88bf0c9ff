/**
 * Installing our packed tarballs the way a device or a CI runner does: `npm run pack`'s script,
 * then npm's own install into an empty folder outside the repository (no workspace, no hoisted
 * node_modules to fall back on). npm prefers its cache (filled by the repository's own install)
 * and asks the registry only for what the cache lacks.
 */
import { spawn } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from '../helpers/cli.js';

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a program to its end (or `timeoutMs`, then SIGKILL), collecting its output. */
export function runProgram(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; shell?: boolean }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'], ...(opts.shell ? { shell: '/bin/bash' } : {}) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 240_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** `node scripts/pack.mjs --only <what>` from the current build; the tarball's path. */
export async function packTarball(what: 'agent' | 'agent-offline' | 'cli', out: string): Promise<string> {
  const r = await runProgram(process.execPath, [join(repoRoot, 'scripts/pack.mjs'), '--no-build', '--only', what, '--out', out], { cwd: repoRoot });
  if (r.code !== 0) throw new Error(`npm run pack failed (${r.code}): ${r.stderr.slice(-2000)}`);
  const file = (await readdir(out)).find((f) => f.endsWith('.tgz'));
  if (!file) throw new Error(`npm run pack wrote no tarball to ${out}: ${r.stdout}`);
  return join(out, file);
}

/** npm's environment for installs in tests: the cache first, no audit or funding chatter. */
export const npmEnv: NodeJS.ProcessEnv = {
  npm_config_prefer_offline: 'true',
  npm_config_audit: 'false',
  npm_config_fund: 'false',
  npm_config_update_notifier: 'false',
};

/** Every file under `dir` whose name ends with `suffix`. */
export async function filesEnding(dir: string, suffix: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith(suffix)) found.push(join(entry.parentPath, entry.name));
  }
  return found;
}

/** Bytes of every file under `dir` (what `du --apparent-size` counts). */
export async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name))).size;
  }
  return total;
}

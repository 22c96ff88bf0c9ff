/** `edgeml hub start --retrain-config ...` as its own process, and calls to its API as an admin. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { waitFor } from 'edgeml';
import { repoRoot } from '../helpers/cli.js';

export interface RetrainHub {
  dataDir: string;
  child: ChildProcess;
  httpUrl: string;
  logFile: string;
  adminToken: string;
  log(): Promise<string>;
  stop(): Promise<void>;
}

export async function spawnRetrainHub(dataDir: string, configs: string[]): Promise<RetrainHub> {
  await mkdir(dataDir, { recursive: true });
  const logFile = join(dataDir, `hub-${Date.now()}.log`);
  const out = createWriteStream(logFile, { flags: 'a' });
  const args = ['hub', 'start', '--data-dir', dataDir, '--mqtt-port', '0', '--http-port', '0', '--retrain-config', ...configs];
  const child = spawn(process.execPath, [join(repoRoot, 'cli/bin/edgeml.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.pipe(out);
  child.stderr!.pipe(out);
  const httpUrl = await waitFor('the hub to start', async () => {
    const text = await readFile(logFile, 'utf8');
    if (child.exitCode !== null) throw new Error(`the hub exited with ${child.exitCode}: ${text}`);
    return /hub running: broker \S+, API (\S+),/.exec(text)?.[1];
  }, 60_000, 50);
  const adminToken = (JSON.parse(await readFile(join(dataDir, 'secrets.json'), 'utf8')) as { admin: string }).admin;
  return {
    dataDir,
    child,
    httpUrl,
    logFile,
    adminToken,
    log: () => readFile(logFile, 'utf8'),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await exited;
      }
      out.end();
    },
  };
}

export async function api<T>(hub: RetrainHub, method: 'GET' | 'POST', path: string): Promise<{ status: number; body: T }> {
  const res = await fetch(new URL(path, hub.httpUrl), { method, headers: { authorization: `Bearer ${hub.adminToken}` } });
  const text = await res.text();
  return { status: res.status, body: (res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text) as T };
}

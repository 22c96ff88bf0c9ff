/**
 * The hub as its own OS process (`edgeml hub start`), so a test can kill it with SIGKILL and
 * start it again on the same data dir and ports, as an operator's service manager would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Candidate } from '@edgeml/hub';
import { releaseInputFrom } from '@edgeml/hub';
import { LAUNCHER_ENV, waitFor } from 'edgeml';
import { repoRoot } from '../helpers/cli.js';

export interface HubProcess {
  dataDir: string;
  child: ChildProcess;
  brokerUrl: string;
  httpUrl: string;
  mqttPort: number;
  httpPort: number;
  logFile: string;
  adminToken: string;
  kill(): Promise<void>;
  stop(): Promise<void>;
}

const exited = (c: ChildProcess) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())));

/**
 * Start `edgeml hub start` on `dataDir`; ports 0 pick free ones, which a restart then reuses.
 * `env` is added to the hub's environment (say, EDGEML_HUB_FAULT_POINT).
 */
export async function spawnHub(dataDir: string, ports: { mqtt: number; http: number } = { mqtt: 0, http: 0 }, env: Record<string, string> = {}): Promise<HubProcess> {
  await mkdir(dataDir, { recursive: true });
  const logFile = join(dataDir, `hub-${Date.now()}.log`);
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(process.execPath, [join(repoRoot, 'cli/bin/edgeml.js'), 'hub', 'start', '--data-dir', dataDir, '--mqtt-port', String(ports.mqtt), '--http-port', String(ports.http)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // Started without the launcher's shebang: its environment is given here as the shebang gives it.
    env: { ...process.env, ...LAUNCHER_ENV, ...env },
  });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  // The line `edgeml hub start` prints once it serves (the hub also writes it to hub.json).
  const info = await waitFor('the hub to start', async () => {
    const out = await readFile(logFile, 'utf8');
    if (child.exitCode !== null) throw new Error(`the hub exited with ${child.exitCode}: ${out}`);
    const m = /hub running: broker (\S+), API (\S+),/.exec(out);
    return m ? { brokerUrl: m[1]!, httpUrl: m[2]! } : undefined;
  }, 60_000, 50);
  const adminToken = (JSON.parse(await readFile(join(dataDir, 'secrets.json'), 'utf8')) as { admin: string }).admin;
  const portOf = (u: string) => Number(new URL(u).port);
  const end = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited(child);
    log.end();
  };
  return {
    dataDir,
    child,
    brokerUrl: info.brokerUrl,
    httpUrl: info.httpUrl,
    mqttPort: portOf(info.brokerUrl),
    httpPort: portOf(info.httpUrl),
    logFile,
    adminToken,
    kill: () => end('SIGKILL'),
    stop: () => end('SIGTERM'),
  };
}

/** A call to the hub's HTTP API with its admin token. */
export async function hubApi<T>(hub: HubProcess, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(new URL(path, hub.httpUrl), {
    method,
    headers: { authorization: `Bearer ${hub.adminToken}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as T };
}

/** Publish a trained candidate over the API, as `edgeml release` does from CI. */
export async function publishOver(hub: HubProcess, c: Candidate, extra: Record<string, unknown> = {}): Promise<{ status: number; body: { version: { version: number }; rollout: { id: number } | null; error?: string } }> {
  const input = releaseInputFrom(c, { model: 'iris', budgets: { probationMs: 0 } });
  return hubApi(hub, 'POST', '/v1/releases', { ...input, artifact: Buffer.from(input.artifact).toString('base64'), ...extra });
}

export interface FleetDevice {
  id: string;
  online: boolean;
  version: number | null;
  state: string;
  desiredVersion: number | null;
  convergence: string | null;
  lastContact: string | null;
}

export const fleetOf = async (hub: HubProcess): Promise<FleetDevice[]> => (await hubApi<FleetDevice[]>(hub, 'GET', '/v1/fleet')).body;

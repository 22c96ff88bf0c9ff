/**
 * Real parts for the agent fault tests: agents as child processes of the real CLI on a real hub,
 * killed with SIGKILL, and checks on what they leave on disk.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentProcess } from 'edgeml';
import { spawnTestAgent, waitFor, type TestHub } from '../helpers/fleet.js';

export interface Fleet {
  t: TestHub;
  procs: AgentProcess[];
}

export async function start(f: Fleet, id: string, extra: Record<string, unknown> = {}): Promise<AgentProcess> {
  const p = await spawnTestAgent(f.t, id, extra);
  f.procs.push(p);
  return p;
}

export const exited = (p: AgentProcess): Promise<void> =>
  new Promise((r) => (p.child.exitCode !== null || p.child.signalCode !== null ? r() : p.child.once('exit', () => r())));

export async function kill(p: AgentProcess): Promise<void> {
  p.child.kill('SIGKILL');
  await exited(p);
}

/** The device as the hub sees it (its retained status). */
export const device = (f: Fleet, id: string) => f.t.hub.registry.listDevices().find((d) => d.id === id);

/** The agent's own view of itself, from its local API (the hub's copy may be from a previous run). */
export async function health(p: AgentProcess): Promise<{ state: string; version: number | null; lastError: string | null }> {
  const res = await fetch(`${await p.apiUrl()}/v1/health`);
  return (await res.json()) as { state: string; version: number | null; lastError: string | null };
}

/** Wait for the agent, and the hub, to see the device settled as `state` on `version`. */
export async function settled(f: Fleet, p: AgentProcess, state: string, version: number, timeoutMs = 60_000) {
  return waitFor(`${p.id} ${state} on v${version}`, async () => {
    const h = await health(p);
    const d = device(f, p.id);
    return h.state === state && h.version === version && d && d.state === state && d.version === version ? d : undefined;
  }, timeoutMs, 50).catch(async (e) => {
    const live = await health(p).catch((err: Error) => err.message);
    throw new Error(`${(e as Error).message}; agent ${JSON.stringify(live)}; hub ${JSON.stringify(device(f, p.id))}; log:\n${(await readFile(p.logFile, 'utf8').catch(() => '')).slice(-4000)}`);
  });
}

export async function predictVersion(p: AgentProcess): Promise<number> {
  const res = await fetch(`${await p.apiUrl()}/v1/predict`, { method: 'POST', body: JSON.stringify({ row: [5.1, 3.5, 1.4, 0.2] }) });
  return ((await res.json()) as { version: number }).version;
}

/** Files an interrupted write or download would leave behind. */
export async function leftovers(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && (/\.tmp-/.test(e.name) || e.name.endsWith('.part'))) out.push(join(e.parentPath, e.name));
  }
  return out;
}

export async function savedState(dir: string): Promise<{ update: unknown; active: 'a' | 'b' | null; slots: Record<'a' | 'b', { version: number } | null>; highestSeenVersion: number }> {
  return JSON.parse(await readFile(join(dir, 'state.json'), 'utf8'));
}

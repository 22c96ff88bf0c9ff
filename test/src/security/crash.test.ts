/**
 * Killed-in-state table: the agent process is killed with SIGKILL while its update is in a
 * given state, then started again. Exactly one complete version must serve afterwards, a
 * download must resume rather than restart, and no temporary file may be left behind.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Candidate } from '@edgeml/hub';
import type { AgentProcess } from 'edgeml';
import { irisModel, publishModel, spawnTestAgent, startTestHub, waitFor, type TestHub } from '../helpers/fleet.js';

let t: TestHub;
let c: Candidate;
const procs: AgentProcess[] = [];

beforeAll(async () => {
  t = await startTestHub();
  c = await irisModel();
});
afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await t?.stop();
});

const device = (id: string) => t.hub.registry.listDevices().find((d) => d.id === id);

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(join(e.parentPath, e.name));
  return out;
}

async function start(id: string, extra: Record<string, unknown> = { stepDelayMs: 0 }): Promise<AgentProcess> {
  const p = await spawnTestAgent(t, id, extra);
  procs.push(p);
  return p;
}

async function kill(p: AgentProcess): Promise<void> {
  p.child.kill('SIGKILL');
  await new Promise((r) => (p.child.exitCode !== null || p.child.signalCode !== null ? r(null) : p.child.once('exit', r)));
}

const states = ['downloading', 'verifying', 'installing', 'probation'] as const;

describe('killed in state: SIGKILL, restart, exactly one complete version serves', () => {
  let latest: number;
  beforeAll(async () => {
    latest = (await publishModel(t.hub, c, { chunkSize: 1024 })).version;
  });

  it.each(states)('recovers from a SIGKILL while %s', async (killState) => {
    const id = `crash-${killState}`;
    // Install the current version first, so there is a previous version to keep serving.
    const v1 = latest;
    const first = await start(id);
    await waitFor(`${id} on v${v1}`, () => (device(id)?.state === 'active' && device(id)?.version === v1 ? true : undefined), 30_000);
    await first.stop();
    // The next version, fetched slowly (small chunks, a delay per step and chunk) so each state can be caught.
    const v2 = (latest = (await publishModel(t.hub, c, { chunkSize: 1024, budgets: { probationMs: 3000, minRequests: 1000 } })).version);
    // Death on probation counts as a verdict at once here (no forgiven retry), to test the rollback.
    const slow = await start(id, { stepDelayMs: 400, update: { probationCrashRetries: 0 } });
    await waitFor(`${id} in ${killState}`, () => (device(id)?.state === killState ? true : undefined), 30_000, 20);
    let partBefore = 0;
    if (killState === 'probation') {
      // Kill once the new version is really serving on probation, not while it is being loaded.
      await waitFor('v2 serving on probation', async () => {
        const res = await fetch(`${await slow.apiUrl()}/v1/predict`, { method: 'POST', body: JSON.stringify({ row: [5.1, 3.5, 1.4, 0.2] }) });
        return ((await res.json()) as { version: number }).version === v2 ? true : undefined;
      }, 20_000, 20);
    }
    if (killState === 'downloading') {
      // Wait for a few verified chunks on disk, then kill.
      partBefore = await waitFor('part file', async () => {
        const files = (await readdir(join(slow.dir, 'downloads'))).filter((f) => f.endsWith('.part'));
        const size = files[0] ? (await stat(join(slow.dir, 'downloads', files[0]))).size : 0;
        return size >= 2048 ? size : undefined;
      }, 20_000, 20);
    }
    await kill(slow);

    const again = await start(id, { stepDelayMs: 0, update: { probationCrashRetries: 0 } });
    const log0 = (await readFile(again.logFile, 'utf8')).length;
    // A crash during probation rolls back to v1; every earlier state resumes and commits v2.
    const expected = killState === 'probation' ? v1 : v2;
    const final = await waitFor(`${id} settled`, () => {
      const d = device(id);
      return d && (d.state === 'active' || d.state === 'rolled-back') && d.version === expected ? d : undefined;
    }, 30_000).catch(async (e) => {
      // The agent's own log says why; keep it in the failure.
      throw new Error(`${(e as Error).message}; status ${JSON.stringify(device(id))}; log:\n${(await readFile(again.logFile, 'utf8')).slice(log0)}`);
    });
    if (killState === 'probation') {
      expect(final.state).toBe('rolled-back');
      expect(final.lastError).toContain('while the new version was on probation');
    } else {
      expect(final.state).toBe('active');
    }
    const res = await fetch(`${await again.apiUrl()}/v1/predict`, { method: 'POST', body: JSON.stringify({ row: [5.1, 3.5, 1.4, 0.2] }) });
    expect(((await res.json()) as { version: number }).version).toBe(expected);

    const log = (await readFile(again.logFile, 'utf8')).slice(log0);
    expect(log).toContain(`"state":"${killState}"`);
    if (killState === 'downloading') {
      const m = /"msg":"resuming download".*"fromChunk":(\d+)/.exec(log);
      expect(m, 'the download resumed').not.toBeNull();
      expect(Number(m![1])).toBeGreaterThanOrEqual(Math.floor(partBefore / 1024));
      expect(Number(m![1])).toBeGreaterThan(0);
    }
    // Exactly one complete version per slot, nothing half-written anywhere.
    const state = JSON.parse(await readFile(join(again.dir, 'state.json'), 'utf8'));
    expect(state.update).toBeNull();
    expect(state.slots[state.active].version).toBe(expected);
    const files = await filesUnder(again.dir);
    expect(files.filter((f) => /\.tmp-|\.part$/.test(f))).toEqual([]);
    await again.stop();
  });
});

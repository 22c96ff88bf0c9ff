/**
 * Self-healing storage: a damaged active slot, lost slots, a truncated state file and a full disk
 * must each end with the device serving the desired release again, by itself.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceRuntimes } from 'edgeml';
import { runPipeline, type Candidate } from '@edgeml/hub';
import { dataFile } from '../helpers/cli.js';
import { irisModel, publishModel, startTestAgent, startTestHub, untilStatus, waitFor } from '../helpers/fleet.js';
import { leftovers, predictVersion, savedState, settled, start, type Fleet } from './harness.js';

const run = promisify(execFile);
const f: Fleet = { t: undefined as never, procs: [] };
let models: Candidate[];

beforeAll(async () => {
  f.t = await startTestHub();
  models = [await irisModel(), await runPipeline({ data: dataFile('iris.csv'), target: 'species', arch: 'mlp', seed: 43, runtimes: deviceRuntimes() })];
}, 120_000);
afterAll(async () => {
  await Promise.all(f.procs.map((p) => p.stop()));
  await f.t?.stop();
});

/** A device with two installed versions (v_prev in one slot, v_last active in the other), stopped. */
async function twoVersions(id: string) {
  const a = await publishModel(f.t.hub, models[0]!);
  const p = await start(f, id);
  await settled(f, p, 'active', a.version);
  const b = await publishModel(f.t.hub, models[1]!);
  await settled(f, p, 'active', b.version);
  await p.stop();
  const state = await savedState(p.dir);
  return { prev: a.version, last: b.version, dir: p.dir, active: state.active! };
}

describe('self-healing storage', () => {
  it('serves the other slot when the active slot is damaged, then fetches the release again', async () => {
    const d = await twoVersions('heal-slot');
    await writeFile(join(d.dir, 'slots', d.active, 'model.bin'), 'damaged');
    const p = await start(f, 'heal-slot');
    // Serving at once from the intact slot, not "no model is installed yet".
    expect(await waitFor('a prediction', () => predictVersion(p), 30_000)).toBe(d.prev);
    await settled(f, p, 'active', d.last);
    expect(await predictVersion(p)).toBe(d.last);
    expect(await readFile(p.logFile, 'utf8')).toContain('active slot is damaged; serving the other slot');
    await p.stop();
  }, 180_000);

  it('fetches the desired release again when both slots are gone', async () => {
    const d = await twoVersions('heal-none');
    await rm(join(d.dir, 'slots'), { recursive: true, force: true });
    const p = await start(f, 'heal-none');
    await settled(f, p, 'active', d.last);
    expect(await predictVersion(p)).toBe(d.last);
    await p.stop();
  }, 180_000);

  it('rebuilds a truncated state file from the slots, naming the file in one log line', async () => {
    const d = await twoVersions('heal-state');
    await truncate(join(d.dir, 'state.json'), 30);
    await rm(join(d.dir, 'state.json.last-good'), { force: true });
    const p = await start(f, 'heal-state');
    await settled(f, p, 'active', d.last);
    expect(await predictVersion(p)).toBe(d.last);
    const log = await readFile(p.logFile, 'utf8');
    const lines = log.split('\n').filter((l) => l.includes('state file damaged'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(join(d.dir, 'state.json'));
    expect((await savedState(p.dir)).highestSeenVersion).toBe(d.last);
    await p.stop();
  }, 180_000);
});

describe('a full disk', () => {
  const mounts: string[] = [];
  afterAll(async () => {
    for (const mnt of mounts) {
      await run('umount', [mnt]).catch(() => undefined);
      await rm(mnt, { recursive: true, force: true });
    }
  });

  /** A 2 MiB tmpfs (only root can mount: say so rather than pass silently). */
  async function smallDisk(): Promise<string> {
    const mnt = await mkdtemp(join(tmpdir(), 'edgeml-tmpfs-'));
    try {
      await run('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt]);
    } catch (e) {
      await rm(mnt, { recursive: true, force: true });
      throw new Error(`this test needs to mount a tmpfs (run as root): ${(e as Error).message}`);
    }
    mounts.push(mnt);
    return mnt;
  }

  /** Fill the disk to the last byte; returns the function that frees it. */
  async function fill(mnt: string): Promise<() => Promise<void>> {
    const filler = join(mnt, 'filler');
    await run('dd', ['if=/dev/zero', `of=${filler}`, 'bs=64k']).catch(() => undefined);
    await run('dd', ['if=/dev/zero', `of=${filler}-2`, 'bs=1']).catch(() => undefined);
    return async () => {
      await rm(filler, { force: true });
      await rm(`${filler}-2`, { force: true });
    };
  }

  it('pauses the update as retrying, drops nothing, leaves no temp file, and converges once space is back', async () => {
    const mnt = await smallDisk();
    const saved = f.t.dir;
    // The agent's data dir lives on the small tmpfs.
    const { agent, dataDir } = await startTestAgent({ ...f.t, dir: mnt }, 'disk-full', { update: { retryBaseMs: 100, retryMaxMs: 500, maxRetries: 20, stallMs: 5000, probationCrashRetries: 1 } });
    expect(saved).toBe(f.t.dir);
    try {
      const free = await fill(mnt);
      const rec = await publishModel(f.t.hub, models[0]!);
      const s = await untilStatus(agent, 'retrying on a full disk', (st) => st.state === 'retrying' || st.state === 'downloading', 30_000);
      const stuck = await untilStatus(agent, 'a fault reported', (st) => st.lastError !== null && /ENOSPC/.test(st.lastError), 30_000);
      expect(['retrying', 'downloading']).toContain(s.state);
      expect(stuck.state).not.toBe('rolled-back');
      expect(await leftovers(dataDir)).toEqual([]);
      await free();
      await untilStatus(agent, 'active once space is back', (st) => st.state === 'active' && st.version === rec.version, 60_000);
      expect(await leftovers(dataDir)).toEqual([]);
    } finally {
      await agent.close();
    }
  }, 180_000);

  it('retries a state.json save that fails mid-update and converges once space is back', async () => {
    const mnt = await smallDisk();
    // The release is there before the agent: it is the one the agent takes at start.
    const rec = await publishModel(f.t.hub, models[0]!);
    // Each step waits 3 s before it runs: time to fill the disk while the update is verifying.
    const { agent, dataDir } = await startTestAgent({ ...f.t, dir: mnt }, 'state-full', { stepDelayMs: 3000, update: { retryBaseMs: 100, retryMaxMs: 500, maxRetries: 20, stallMs: 30_000, probationCrashRetries: 1 } });
    try {
      await untilStatus(agent, 'verifying', (st) => st.state === 'verifying' && st.version === null, 60_000);
      const free = await fill(mnt);
      // Verifying only reads; saving the next state is what fails.
      const stuck = await untilStatus(agent, 'the state save fault reported', (st) => st.lastError !== null && st.lastError.includes(join(dataDir, 'state.json')) && /ENOSPC/.test(st.lastError), 30_000);
      expect(['installing', 'retrying']).toContain(stuck.state);
      // Held, not dropped: still faulting a while later, never rolled back.
      await new Promise((r) => setTimeout(r, 1500));
      expect(agent.status()).toMatchObject({ state: stuck.state, version: null });
      expect((await savedState(dataDir)).update).toMatchObject({ state: 'verifying', version: rec.version });
      await free();
      await untilStatus(agent, 'active once space is back', (st) => st.state === 'active' && st.version === rec.version && st.lastError === null, 90_000);
      // The status reads the agent's memory, where the finished update is cleared just before
      // the save that records it (a restart in between finishes it again), so wait for the save.
      const state = await waitFor('the finished update cleared from state.json', async () => {
        const st = await savedState(dataDir);
        return st.update === null ? st : undefined;
      }, 30_000);
      expect(state.slots[state.active!]).toMatchObject({ version: rec.version });
      expect(await leftovers(dataDir)).toEqual([]);
    } finally {
      await agent.close();
    }
  }, 180_000);
});

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { initialState, StateStore, type AgentState } from './store.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeml-store-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const lines: string[] = [];
const log = { debug() {}, info() {}, warn() {}, error: (msg: string, f?: Record<string, unknown>) => void lines.push(`${msg} ${JSON.stringify(f)}`) } as never;

const saved = (): AgentState => ({ ...initialState(), highestSeenVersion: 3, active: 'a', slots: { a: { version: 3, sha256: 'a'.repeat(64) }, b: null } });

describe('the state store', () => {
  it('restores the last good copy of a truncated state file, naming the file once', async () => {
    const store = new StateStore(dir, log);
    await store.save(saved());
    const text = await readFile(store.file, 'utf8');
    await writeFile(store.file, text.slice(0, 20));
    lines.length = 0;
    const state = await store.load(() => Promise.reject(new Error('not needed')));
    expect(state.active).toBe('a');
    expect(state.slots.a?.version).toBe(3);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(store.file);
    expect(JSON.parse(await readFile(store.file, 'utf8')).active).toBe('a');
  });

  it('rebuilds the state when the file and its copy are both damaged', async () => {
    const store = new StateStore(dir, log);
    await writeFile(store.file, '{"schema":1,"highestSee');
    await writeFile(store.lastGood, 'garbage');
    const state = await store.load(async () => saved());
    expect(state.highestSeenVersion).toBe(3);
    expect(JSON.parse(await readFile(store.file, 'utf8')).highestSeenVersion).toBe(3);
  });

  it('refuses a state of the wrong shape instead of trusting it', async () => {
    const store = new StateStore(dir, log);
    await writeFile(store.file, JSON.stringify({ schema: 1, active: 'c' }));
    const state = await store.load(async () => initialState());
    expect(state.active).toBeNull();
  });
});

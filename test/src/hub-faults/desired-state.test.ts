/**
 * The hub keeps the fleet's desired state: a rollback directive outlives a hub killed with
 * SIGKILL, and a device that was away when it was sent gets it when it comes back.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Candidate } from '@edgeml/hub';
import { enrollAgent, spawnAgent, waitFor, type AgentProcess } from 'edgeml';
import { edgeml, tempDir } from '../helpers/cli.js';
import { irisModel } from '../helpers/fleet.js';
import { fleetOf, publishOver, spawnHub, type FleetDevice, type HubProcess } from './hub-process.js';

let dir: string;
let cleanup: () => Promise<void>;
let c: Candidate;
let hub: HubProcess;
const agents = new Map<string, AgentProcess>();

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('desired'));
  c = await irisModel();
});
afterAll(async () => {
  await Promise.all([...agents.values()].map((a) => a.stop()));
  await hub?.stop();
  await cleanup?.();
});

const hubDir = () => join(dir, 'hub');

async function startAgent(id: string): Promise<AgentProcess> {
  const agentDir = join(dir, 'agents', id);
  const configPath = join(agentDir, 'agent.json');
  const known = await readFile(configPath).then(() => true, () => false);
  if (!known) {
    const t = await edgeml(['hub', 'token', '--data-dir', hubDir(), '--json']);
    expect(t.code, t.stderr).toBe(0);
    await enrollAgent({ hubUrl: hub.httpUrl, token: (JSON.parse(t.stdout) as { token: string }).token, id, dir: agentDir, model: 'iris' });
  }
  const a = await spawnAgent({ id, dir: agentDir, configPath, extra: { stepDelayMs: 0 } });
  agents.set(id, a);
  return a;
}

const on = (version: number, ids: string[]) => async (): Promise<FleetDevice[] | undefined> => {
  const fleet = await fleetOf(hub);
  const ok = ids.every((id) => fleet.some((d) => d.id === id && d.version === version && d.state === 'active'));
  return ok ? fleet : undefined;
};

async function installedVersion(id: string): Promise<number> {
  const state = JSON.parse(await readFile(join(dir, 'agents', id, 'state.json'), 'utf8')) as { active: 'a' | 'b'; slots: Record<string, { version: number }>; update: unknown };
  expect(state.update).toBeNull();
  return state.slots[state.active]!.version;
}

describe('desired state across a hub SIGKILL', () => {
  it('brings a device that was away back to the version a rollback chose, after the hub restarted', async () => {
    hub = await spawnHub(hubDir());
    expect((await publishOver(hub, c)).status).toBe(201);
    await startAgent('bar-a');
    await startAgent('bar-b');
    await waitFor('both agents on v1', on(1, ['bar-a', 'bar-b']), 60_000, 200);
    expect((await publishOver(hub, c, { metrics: { note: 2 } })).status).toBe(201);
    await waitFor('both agents on v2', on(2, ['bar-a', 'bar-b']), 60_000, 200);

    // bar-b goes away without a word.
    const b = agents.get('bar-b')!;
    b.child.kill('SIGKILL');
    await b.stop();
    await waitFor('bar-b offline', async () => ((await fleetOf(hub)).find((d) => d.id === 'bar-b')?.online === false ? true : undefined), 30_000, 200);

    const rb = await edgeml(['rollback', 'iris', '--to', '1', '--hub', hub.httpUrl, '--data-dir', hubDir()]);
    expect(rb.code, rb.stderr).toBe(0);
    await waitFor('bar-a back on v1', on(1, ['bar-a']), 60_000, 200);

    // While it is away, the fleet view keeps bar-b's last known version and says it is behind.
    const away = await edgeml(['fleet', 'status', '--data-dir', hubDir(), '--json']);
    expect(away.code, away.stderr).toBe(0);
    const rows = JSON.parse(away.stdout) as (FleetDevice & { lastContact: string })[];
    expect(rows.find((r) => r.id === 'bar-b')).toMatchObject({ online: false, version: 2, desiredVersion: 1, convergence: 'pending' });
    expect(rows.find((r) => r.id === 'bar-a')).toMatchObject({ online: true, version: 1, desiredVersion: 1, convergence: 'converged' });
    const text = await edgeml(['fleet', 'status', '--data-dir', hubDir()]);
    expect(text.stdout).toMatch(/bar-b\s+offline, v2, last contact \d{4}-/);

    const notYet = await edgeml(['fleet', 'status', '--data-dir', hubDir(), '--wait-converged', '--timeout', '1s']);
    expect(notYet.code).toBe(1);
    expect(notYet.stderr).toContain('bar-b (pending');

    // The hub dies and comes back on the same ports; then bar-b returns.
    const ports = { mqtt: hub.mqttPort, http: hub.httpPort };
    await hub.kill();
    hub = await spawnHub(hubDir(), ports);
    await startAgent('bar-b');
    await waitFor('both agents on v1 after the restart', on(1, ['bar-a', 'bar-b']), 60_000, 200).catch(async (e) => {
      throw new Error(`${(e as Error).message}: ${JSON.stringify(await fleetOf(hub))}\n${await readFile(agents.get('bar-b')!.logFile, 'utf8')}\nhub:\n${await readFile(hub.logFile, 'utf8')}`);
    });
    expect(await installedVersion('bar-a')).toBe(1);
    expect(await installedVersion('bar-b')).toBe(1);

    const done = await edgeml(['fleet', 'status', '--data-dir', hubDir(), '--wait-converged', '--timeout', '60s']);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toContain('converged: 2 devices');

    const shown = await edgeml(['models', 'show', 'iris', '--data-dir', hubDir()]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/desired on stable: v1 \(rollback directive.*2 converged, 0 pending, 0 failed/);
  }, 300_000);
});

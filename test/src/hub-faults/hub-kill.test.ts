/**
 * Hub killed with SIGKILL at each step of a rollout, then started again on the same data dir
 * and ports: every case ends converged (the rollout completes, every device on the version it
 * chose) or cleanly halted with its reason, and `fleet status --wait-converged` agrees.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Candidate, Rollout } from '@edgeml/hub';
import { enrollAgent, spawnAgent, waitFor, type AgentProcess } from 'edgeml';
import { edgeml, tempDir } from '../helpers/cli.js';
import { irisModel } from '../helpers/fleet.js';
import { fleetOf, hubApi, publishOver, spawnHub, type HubProcess } from './hub-process.js';

let dir: string;
let cleanup: () => Promise<void>;
let c: Candidate;
let hub: HubProcess;
const agents = new Map<string, AgentProcess>();
const ids = ['kill-a', 'kill-b'];
const hubDir = () => join(dir, 'hub');

async function startAgent(id: string): Promise<AgentProcess> {
  const agentDir = join(dir, 'agents', id);
  const configPath = join(agentDir, 'agent.json');
  if (!(await readFile(configPath).then(() => true, () => false))) {
    const t = await edgeml(['hub', 'token', '--data-dir', hubDir(), '--json']);
    await enrollAgent({ hubUrl: hub.httpUrl, token: (JSON.parse(t.stdout) as { token: string }).token, id, dir: agentDir, model: 'iris' });
  }
  const a = await spawnAgent({ id, dir: agentDir, configPath, extra: { stepDelayMs: 0 } });
  agents.set(id, a);
  return a;
}

const rollout = async (id: number) => (await hubApi<Rollout>(hub, 'GET', `/v1/rollouts/${id}`)).body;
const untilRollout = (id: number, what: string, pred: (r: Rollout) => boolean, timeoutMs = 60_000) =>
  waitFor(`rollout ${id} ${what}`, async () => {
    const r = await rollout(id);
    return pred(r) ? r : undefined;
  }, timeoutMs, 100);
const onVersion = (version: number, which = ids) =>
  waitFor(`${which.join(', ')} on v${version}`, async () => {
    const fleet = await fleetOf(hub);
    return which.every((id) => fleet.some((d) => d.id === id && d.version === version && d.state === 'active')) ? true : undefined;
  }, 60_000, 200);

/** SIGKILL the hub and start it again on the same data dir and ports. */
async function restartHub(): Promise<void> {
  const ports = { mqtt: hub.mqttPort, http: hub.httpPort };
  await hub.kill();
  hub = await spawnHub(hubDir(), ports);
}

async function release(plan: Record<string, unknown>): Promise<{ version: number; rolloutId: number }> {
  const r = await publishOver(hub, c, { rollout: { canary: { count: 1 }, waves: [100], benchmark: false, soakMs: 0, ...plan } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return { version: r.body.version.version, rolloutId: r.body.rollout!.id };
}

async function converged(): Promise<void> {
  const r = await edgeml(['fleet', 'status', '--data-dir', hubDir(), '--wait-converged', '--timeout', '60s']);
  expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
}

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('hub-kill'));
  c = await irisModel();
  hub = await spawnHub(hubDir());
  expect((await publishOver(hub, c)).status).toBe(201);
  for (const id of ids) await startAgent(id);
  await onVersion(1);
});
afterAll(async () => {
  for (const a of agents.values()) a.child.kill('SIGCONT');
  await Promise.all([...agents.values()].map((a) => a.stop()));
  await hub?.stop();
  await cleanup?.();
});

describe('hub killed during a rollout', () => {
  it('re-sends the canary benchmark after a restart and completes the rollout', async () => {
    // The canary is frozen when the request goes out, then dies with it unread: nobody holds
    // the request when the hub dies too.
    const canary = agents.get('kill-a')!;
    canary.child.kill('SIGSTOP');
    let rolloutId: number;
    let version: number;
    try {
      ({ version, rolloutId } = await release({ benchmark: true }));
      await untilRollout(rolloutId, 'benchmarking', (r) => r.state === 'benchmarking' && r.devices.benchRequest !== undefined);
    } finally {
      canary.child.kill('SIGKILL');
      await canary.stop();
    }
    await restartHub();
    await startAgent('kill-a');
    // Within the benchmark's 60 s timeout: a request nobody re-sends would halt at that point.
    const done = await untilRollout(rolloutId!, 'ended', (r) => r.state === 'completed' || r.state === 'halted', 50_000);
    expect(done.reason).toBeNull();
    expect(done.state).toBe('completed');
    await onVersion(version!);
    await converged();
  });

  it('carries on from a wave the devices had not finished when the hub died', async () => {
    const frozen = agents.get('kill-b')!;
    frozen.child.kill('SIGSTOP');
    let rolloutId: number;
    let version: number;
    try {
      ({ version, rolloutId } = await release({ canary: { count: 1 } }));
      // kill-b has the assignment but cannot act on it: the wave is open.
      await untilRollout(rolloutId, 'in its last wave', (r) => r.state === 'wave' && r.devices.upgraded.length === 2);
      await restartHub();
    } finally {
      frozen.child.kill('SIGCONT');
    }
    const done = await untilRollout(rolloutId!, 'ended', (r) => r.state === 'completed' || r.state === 'halted');
    expect(done.state).toBe('completed');
    await onVersion(version!);
    await converged();
  });

  it('finishes the soak after a restart', async () => {
    const { version, rolloutId } = await release({ soakMs: 4000 });
    await untilRollout(rolloutId, 'soaking its last wave', (r) => r.state === 'soaking' && r.wave >= 1);
    await restartHub();
    const done = await untilRollout(rolloutId, 'ended', (r) => r.state === 'completed' || r.state === 'halted');
    expect(done.state).toBe('completed');
    await onVersion(version);
    await converged();
  });

  it('keeps an aborted rollout\'s rollback directive for a device that was away, across a restart', async () => {
    const before = (await fleetOf(hub)).find((d) => d.id === 'kill-b')!.version!;
    // Both devices are canaries, so both have the new version while the first soak runs.
    const { version, rolloutId } = await release({ canary: { count: 2 }, soakMs: 600_000 });
    await untilRollout(rolloutId, 'soaking', (r) => r.state === 'soaking' && r.devices.upgraded.length === 2);
    await onVersion(version);
    const away = agents.get('kill-b')!;
    away.child.kill('SIGKILL');
    await away.stop();
    expect((await hubApi(hub, 'POST', `/v1/rollouts/${rolloutId}/abort`)).status).toBe(200);
    const done = await untilRollout(rolloutId, 'aborted', (r) => r.state === 'aborted');
    expect(done.reason).toBe('aborted by an operator');
    await onVersion(before, ['kill-a']);
    await restartHub();
    await startAgent('kill-b');
    await onVersion(before);
    await converged();
  });
});

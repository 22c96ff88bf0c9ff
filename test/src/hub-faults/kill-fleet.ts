/**
 * A hub process and two real agents on a temp dir, for the hub-kill tables: start, kill and
 * restart the hub on the same data dir and ports, and wait for what the fleet reports.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { Candidate, Rollout } from '@edgeml/hub';
import { enrollAgent, spawnAgent, waitFor, type AgentProcess } from 'edgeml';
import { edgeml, tempDir } from '../helpers/cli.js';
import { irisModel } from '../helpers/fleet.js';
import { fleetOf, hubApi, spawnHub, type HubProcess } from './hub-process.js';

export interface KillFleet {
  readonly hub: HubProcess;
  readonly c: Candidate;
  readonly ids: readonly string[];
  /** Restart the hub (SIGKILL first if it still runs) on the same data dir and ports, with `env` added. */
  restartHub(env?: Record<string, string>): Promise<void>;
  /** Wait until the hub killed itself at a fault point. */
  died(): Promise<void>;
  rollout(id: number): Promise<Rollout>;
  untilRollout(id: number, what: string, pred: (r: Rollout) => boolean, timeoutMs?: number): Promise<Rollout>;
  onVersion(version: number, which?: readonly string[]): Promise<void>;
  /** `edgeml fleet status --wait-converged` exits 0. */
  converged(): Promise<void>;
  versions(): Promise<{ version: number; status: string }[]>;
  close(): Promise<void>;
}

export async function killFleet(name: string, ids: readonly string[]): Promise<KillFleet> {
  const { dir, cleanup } = await tempDir(name);
  const hubDir = join(dir, 'hub');
  const agents = new Map<string, AgentProcess>();
  const c = await irisModel();
  let hub = await spawnHub(hubDir);

  const startAgent = async (id: string) => {
    const agentDir = join(dir, 'agents', id);
    const configPath = join(agentDir, 'agent.json');
    if (!(await readFile(configPath).then(() => true, () => false))) {
      const t = await edgeml(['hub', 'token', '--data-dir', hubDir, '--json']);
      await enrollAgent({ hubUrl: hub.httpUrl, token: (JSON.parse(t.stdout) as { token: string }).token, id, dir: agentDir, model: 'iris' });
    }
    agents.set(id, await spawnAgent({ id, dir: agentDir, configPath, extra: { stepDelayMs: 0 } }));
  };

  const f: KillFleet = {
    get hub() {
      return hub;
    },
    c,
    ids,
    async restartHub(env = {}) {
      const ports = { mqtt: hub.mqttPort, http: hub.httpPort };
      await hub.kill();
      hub = await spawnHub(hubDir, ports, env);
    },
    async died() {
      const child = hub.child;
      await waitFor('the hub to kill itself at the fault point', () => (child.signalCode === 'SIGKILL' ? true : undefined), 60_000, 50);
    },
    rollout: async (id) => (await hubApi<Rollout>(hub, 'GET', `/v1/rollouts/${id}`)).body,
    untilRollout: (id, what, pred, timeoutMs = 60_000) =>
      waitFor(`rollout ${id} ${what}`, async () => {
        const r = await f.rollout(id);
        return pred(r) ? r : undefined;
      }, timeoutMs, 100),
    async onVersion(version, which = ids) {
      await waitFor(`${which.join(', ')} on v${version}`, async () => {
        const fleet = await fleetOf(hub);
        return which.every((id) => fleet.some((d) => d.id === id && d.version === version && d.state === 'active')) ? true : undefined;
      }, 60_000, 200);
    },
    async converged() {
      const r = await edgeml(['fleet', 'status', '--data-dir', hubDir, '--wait-converged', '--timeout', '60s']);
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    },
    versions: async () => (await hubApi<{ version: number; status: string }[]>(hub, 'GET', '/v1/models/iris/versions')).body.map(({ version, status }) => ({ version, status })),
    async close() {
      await Promise.all([...agents.values()].map((a) => a.stop()));
      await hub.stop();
      await cleanup();
    },
  };
  for (const id of ids) await startAgent(id);
  return f;
}

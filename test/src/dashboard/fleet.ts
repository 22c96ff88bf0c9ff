/**
 * A hub with real agent processes for the dashboard and webhook tests: the hub in this process
 * (embedded broker and API on port 0), agents as child processes, iris v1 on every one.
 */
import { readFile } from 'node:fs/promises';
import type { HubOptions } from '@edgeml/hub';
import { dataFile } from '../helpers/cli.js';
import type { AgentProcess } from 'edgeml';
import { irisModel, publishModel, spawnTestAgent, startTestHub, waitFor, type TestHub } from '../helpers/fleet.js';

export interface DashFleet {
  t: TestHub;
  agents: AgentProcess[];
  ids: string[];
  stop(): Promise<void>;
}

/** Wait until every device reports `version` active (the hub's registry is what the page shows). */
export const onVersion = (t: TestHub, ids: string[], version: number, timeoutMs = 90_000) =>
  waitFor(
    `${ids.join(', ')} active on v${version}`,
    () => {
      const ds = t.hub.registry.listDevices().filter((d) => ids.includes(d.id));
      return ds.length === ids.length && ds.every((d) => d.version === version && d.state === 'active') ? ds : undefined;
    },
    timeoutMs,
    100,
  );

export async function startDashFleet(n: number, prefix: string, opts: Partial<HubOptions> = {}): Promise<DashFleet> {
  const t = await startTestHub(opts);
  const agents: AgentProcess[] = [];
  const stop = async () => {
    // Killed outright, as a device loses power; then the hub and its temp dir go.
    for (const a of agents) a.child.kill('SIGKILL');
    await Promise.all(agents.map((a) => a.stop()));
    await t.stop();
  };
  try {
    const c = await irisModel();
    const v1 = await publishModel(t.hub, c);
    const ids = Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(2, '0')}`);
    for (const id of ids) agents.push(await spawnTestAgent(t, id, { telemetry: { periodMs: 1000, maxQueued: 1000 } }));
    await onVersion(t, ids, v1.version);
    return { t, agents, ids, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** Real traffic at an agent's API: predictions on iris rows, and the true label of each back as feedback. */
export async function traffic(agent: AgentProcess, rows = 30): Promise<void> {
  const lines = (await readFile(dataFile('iris.csv'), 'utf8')).trim().split(/\r?\n/).slice(1);
  const picked = Array.from({ length: rows }, (_, i) => lines[(i * 37) % lines.length]!.split(','));
  const url = await agent.apiUrl();
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`${agent.id} ${path}: HTTP ${res.status} ${await res.text()}`);
    return res.json() as Promise<unknown>;
  };
  const out = (await post('/v1/predict', { rows: picked.map((r) => r.slice(0, 4).map(Number)) })) as { predictions: { id: string }[] };
  for (const [i, p] of out.predictions.entries()) await post('/v1/feedback', { predictionId: p.id, label: picked[i]![4] });
}

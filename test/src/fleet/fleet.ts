/**
 * A fleet for system tests: a hub and N agents running the real agent code in this process,
 * each enrolled and on its own data dir, with short telemetry periods.
 */
import type { Agent } from '@edgeml/agent';
import type { Candidate } from '@edgeml/hub';
import { publishModel, startTestAgent, waitFor, type TestHub } from '../helpers/fleet.js';

export interface FleetAgent {
  id: string;
  agent: Agent;
  dataDir: string;
}

export async function startFleet(t: TestHub, n: number, extra: Record<string, unknown> = {}): Promise<FleetAgent[]> {
  const agents: FleetAgent[] = [];
  for (let i = 0; i < n; i++) {
    const id = `fleet-${String(i).padStart(2, '0')}`;
    const tags = i < 2 ? ['canary'] : [];
    const { agent, dataDir } = await startTestAgent(t, id, { tags, telemetry: { periodMs: 300, maxQueued: 100_000 }, ...extra });
    agents.push({ id, agent, dataDir });
  }
  return agents;
}

export const onVersion = (t: TestHub, ids: readonly string[], version: number, state = 'active') =>
  waitFor(`${ids.length} devices ${state} on v${version}`, () => {
    const devices = t.hub.registry.listDevices();
    return ids.every((id) => devices.some((d) => d.id === id && d.version === version && d.state === state)) ? true : undefined;
  }, 60_000);

/** Predict one row on an agent; returns the prediction id and label. */
export async function predictOn(a: FleetAgent, row: number[]): Promise<{ id: string; label: string; version: number }> {
  const res = await fetch(`${a.agent.apiUrl}/v1/predict`, { method: 'POST', body: JSON.stringify({ row }) });
  if (res.status !== 200) throw new Error(`predict on ${a.id}: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { version: number; predictions: { id: string; label: string }[] };
  return { id: body.predictions[0]!.id, label: body.predictions[0]!.label, version: body.version };
}

export async function feedbackOn(a: FleetAgent, predictionId: string, label: string): Promise<void> {
  const res = await fetch(`${a.agent.apiUrl}/v1/feedback`, { method: 'POST', body: JSON.stringify({ predictionId, label }) });
  if (res.status !== 202) throw new Error(`feedback on ${a.id}: ${res.status} ${await res.text()}`);
}

export async function publishV(t: TestHub, c: Candidate, opts: Parameters<typeof publishModel>[2] = {}) {
  return publishModel(t.hub, c, opts);
}

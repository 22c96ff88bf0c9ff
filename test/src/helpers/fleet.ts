/**
 * Real parts for fleet tests: a hub with its embedded broker on port 0 in a temp dir, a model
 * trained on real data (once per test file), and agents running the real agent code, in this
 * process or as child processes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentConfigSchema, loadReleaseSigner, silentLogger, type DeviceStatus, type Release } from '@edgeml/core';
import { enrollDevice, startAgent, type Agent } from '@edgeml/agent';
import { releaseInputFrom, runPipeline, startHub, type Candidate, type Hub, type HubOptions } from '@edgeml/hub';
import { deviceRuntimes, enrollAgent, spawnAgent, waitFor, type AgentProcess } from 'edgeml';
import { dataFile } from './cli.js';

export { waitFor };

let irisCandidate: Promise<Candidate> | undefined;
/** A real iris classifier, trained once per test file (a second or two). */
export const irisModel = (): Promise<Candidate> =>
  (irisCandidate ??= runPipeline({ data: dataFile('iris.csv'), target: 'species', arch: 'mlp', seed: 42, runtimes: deviceRuntimes() }));

export interface TestHub {
  hub: Hub;
  dir: string;
  rootKeyPath: string;
  stop(): Promise<void>;
}

export async function startTestHub(opts: Partial<HubOptions> = {}, dir?: string): Promise<TestHub> {
  const base = dir ?? (await mkdtemp(join(tmpdir(), 'edgeml-hub-')));
  const hub = await startHub({ dataDir: join(base, 'hub'), mqttPort: 0, httpPort: 0, log: silentLogger, ...opts });
  return {
    hub,
    dir: base,
    rootKeyPath: join(hub.keysDir, 'root.pub'),
    async stop() {
      await hub.close();
      if (!dir) await rm(base, { recursive: true, force: true });
    },
  };
}

/** Publish a candidate as the next version of `model`, with optional overrides of the release. */
export async function publishModel(hub: Hub, c: Candidate, opts: { model?: string; channel?: string; budgets?: Release['budgets']; selfTest?: Release['selfTest']; chunkSize?: number; stage?: boolean } = {}) {
  const input = releaseInputFrom(c, { model: opts.model ?? 'iris', budgets: opts.budgets ?? { probationMs: 0 }, ...(opts.channel ? { channel: opts.channel } : {}) });
  return hub.publish({ ...input, ...(opts.selfTest ? { selfTest: opts.selfTest } : {}), ...(opts.chunkSize ? { chunkSize: opts.chunkSize } : {}) }, { stage: opts.stage ?? false });
}

export const releaseSigner = (hub: Hub) => loadReleaseSigner(hub.keysDir);

/** An agent running in this process: the real agent code, on the test hub's broker. */
export async function startTestAgent(t: TestHub, id: string, extra: Record<string, unknown> = {}): Promise<{ agent: Agent; dataDir: string }> {
  const dataDir = join(t.dir, 'agents', id);
  const enrolled = await enrollDevice({ hubUrl: t.hub.httpUrl!, token: t.hub.createEnrollToken(), deviceId: id, model: 'iris', dataDir, configPath: join(dataDir, 'agent.json') });
  const broker = { ...enrolled.broker, ...(extra.broker as object | undefined) };
  const config = AgentConfigSchema.parse({ ...enrolled, ...extra, broker });
  const agent = await startAgent({ config, runtimes: deviceRuntimes(), log: silentLogger });
  return { agent, dataDir };
}

export const statusOf = (agent: Agent): DeviceStatus => agent.status();

export function untilStatus(agent: Agent, what: string, pred: (s: DeviceStatus) => boolean, timeoutMs = 20_000): Promise<DeviceStatus> {
  return waitFor(what, () => {
    const s = agent.status();
    return pred(s) ? s : undefined;
  }, timeoutMs, 25);
}

/** An agent as its own OS process, enrolled at the test hub on first start. */
export async function spawnTestAgent(t: TestHub, id: string, extra?: Record<string, unknown>, model = 'iris'): Promise<AgentProcess> {
  const dir = join(t.dir, 'agents', id);
  const configPath = join(dir, 'agent.json');
  const known = await import('node:fs/promises').then((fs) => fs.access(configPath).then(() => true, () => false));
  if (!known) await enrollAgent({ hubUrl: t.hub.httpUrl!, token: t.hub.createEnrollToken(), id, dir, model });
  return spawnAgent({ id, dir, configPath, ...(extra ? { extra } : {}) });
}

/** An MQTT client with the hub's own rights: what an attacker who owns the broker could send. */
export const privilegedClientOptions = (t: TestHub) => ({ ...t.hub.hubCredentials, clientId: `${t.hub.hubCredentials.username}:privileged-${Date.now()}` });

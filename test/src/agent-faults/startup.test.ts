/**
 * No release is lost at start-up: a release retained on the broker before the agent starts is
 * delivered the instant the agent subscribes, while the agent may still be opening its outbox.
 * Agents restarting after a long time offline (a full outbox, its meta file lost) must take it.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentConfigSchema, silentLogger, topics } from '@edgeml/core';
import { enrollDevice, startAgent, type Agent } from '@edgeml/agent';
import { deviceRuntimes } from 'edgeml';
import { irisModel, publishModel, startTestHub, untilStatus, type TestHub } from '../helpers/fleet.js';

let t: TestHub;
const agents: Agent[] = [];

beforeAll(async () => {
  t = await startTestHub();
});
afterAll(async () => {
  await Promise.all(agents.map((a) => a.close()));
  await t?.stop();
});

async function enrollWithBacklog(id: string, records: number): Promise<ReturnType<typeof AgentConfigSchema.parse>> {
  const dataDir = join(t.dir, 'agents', id);
  const enrolled = await enrollDevice({ hubUrl: t.hub.httpUrl!, token: t.hub.createEnrollToken(), deviceId: id, model: 'iris', dataDir, configPath: join(dataDir, 'agent.json') });
  // Telemetry queued while offline, and no meta.json: the outbox has work to do before it is open.
  const outbox = join(dataDir, 'outbox');
  await mkdir(outbox, { recursive: true });
  for (let i = 0; i < records; i += 250) {
    await Promise.all(Array.from({ length: Math.min(250, records - i) }, (_, k) =>
      writeFile(join(outbox, `${String(i + k + 1).padStart(12, '0')}.json`), JSON.stringify({ topic: topics.telemetry(id), payload: { id: `old-${i + k}` } })),
    ));
  }
  return AgentConfigSchema.parse({ ...enrolled, telemetry: { periodMs: 60_000, maxQueued: 50_000 } });
}

describe('a release retained before the agent starts', () => {
  it('is taken by every agent started after it, even with a slow start', async () => {
    const rec = await publishModel(t.hub, await irisModel());
    const configs = await Promise.all(Array.from({ length: 3 }, (_, i) => enrollWithBacklog(`start-${i}`, 15_000)));
    const started = await Promise.all(configs.map((config) => startAgent({ config, runtimes: deviceRuntimes(), log: silentLogger })));
    agents.push(...started);
    const states = await Promise.all(started.map((a, i) =>
      untilStatus(a, `start-${i} active`, (s) => s.state === 'active' && s.version === rec.version, 60_000).then(() => 'took it', () => `never took v${rec.version}: ${JSON.stringify(a.status())}`),
    ));
    expect(states).toEqual(started.map(() => 'took it'));
  }, 120_000);
});

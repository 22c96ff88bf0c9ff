/**
 * `edgeml release` as CI runs it, against a running hub: a release that passes its gates is
 * published; the same data and config a second time publish nothing new; a failed gate exits
 * 1 with the gate named in the JSON result and the markdown summary; a config with a rollout
 * plan starts a staged rollout.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataFile, edgeml } from '../helpers/cli.js';
import { startTestAgent, startTestHub, waitFor, type TestHub } from '../helpers/fleet.js';
import type { Agent } from '@edgeml/agent';
import { newApiToken } from '@edgeml/hub';

let t: TestHub;
let agent: Agent;

const writeConfig = async (name: string, extra: Record<string, unknown> = {}) => {
  const file = join(t.dir, `${name}.json`);
  await writeFile(file, JSON.stringify({ model: 'iris', data: dataFile('iris.csv'), target: 'species', format: 'tflite-int8', gates: { minAccuracy: 0.85, maxP95Ms: 50 }, out: join(t.dir, 'out', name), ...extra }));
  return file;
};
// CI holds a ci-scoped token, as docs/examples says: what it publishes and reports is recorded under that token's id.
let ci: { id: string; token: string };
const release = (config: string, env: NodeJS.ProcessEnv = {}) => edgeml(['release', '--config', config, '--hub', t.hub.httpUrl!, '--token', ci.token, '--json'], { env });

beforeAll(async () => {
  t = await startTestHub();
  const made = newApiToken('ci');
  t.hub.registry.tokens.addApiToken({ id: made.id, kind: 'ci', secretHash: made.secretHash, expiresAt: new Date(Date.now() + 3_600_000), now: new Date() });
  ci = made;
  ({ agent } = await startTestAgent(t, 'ci-device'));
});
afterAll(async () => {
  await agent?.close();
  await t?.stop();
});

describe('edgeml release', () => {
  it('publishes a release that passes its gates, and the device installs it', async () => {
    const summary = join(t.dir, 'step-summary.md');
    const r = await release(await writeConfig('good'), { GITHUB_STEP_SUMMARY: summary });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ model: 'iris', outcome: 'published', version: 1, format: 'tflite-int8' });
    expect(out.gates.map((g: { gate: string; pass: boolean }) => [g.gate, g.pass])).toEqual([
      ['minAccuracy', true],
      ['maxP95Ms', true],
    ]);
    expect(await readFile(summary, 'utf8')).toContain('## edgeml release: iris v1 (published)');
    expect(JSON.parse(await readFile(join(t.dir, 'out', 'good', 'iris', 'release-result.json'), 'utf8')).version).toBe(1);
    // Who released it, as the dashboard's Models page shows it.
    const versions = (await (await fetch(`${t.hub.httpUrl}/v1/models/iris/versions`, { headers: { authorization: `Bearer ${t.hub.adminToken}` } })).json()) as { origin: { trigger: { reason: string; summary?: string } } | null }[];
    expect(versions[0]!.origin?.trigger).toEqual({ reason: 'release', summary: `published over the API by ${ci.id}` });
    await waitFor('the device on v1', () => (agent.status().version === 1 && agent.status().state === 'active' ? true : undefined), 30_000);
  });

  it('does not publish a duplicate for the same data and config', async () => {
    const r = await release(join(t.dir, 'good.json'));
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ outcome: 'duplicate', version: 1 });
    expect(t.hub.registry.listVersions('iris').map((v) => v.version)).toEqual([1]);
  });

  it('fails the build when a gate fails, naming the gate and both numbers', async () => {
    const r = await release(await writeConfig('strict', { gates: { minAccuracy: 0.9999 } }));
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out.outcome).toBe('gate-failed');
    expect(out.version).toBeNull();
    expect(r.stderr).toMatch(/minAccuracy: measured 0\.\d+, minimum 0\.9999 \(failed\)/);
    expect(await readFile(join(t.dir, 'out', 'strict', 'iris', 'release-summary.md'), 'utf8')).toContain('**FAIL**');
    expect(t.hub.registry.listVersions('iris').map((v) => v.version)).toEqual([1]);
    // The team hears of it from the hub (webhooks, the dashboard's feed), not only from the CI log.
    const told = t.hub.registry.events.recent(20).find((e) => e.type === 'gate.failed');
    expect(told).toMatchObject({ model: 'iris', data: { stage: 'release', by: ci.id } });
    expect((told!.data.gates as { gate: string }[]).map((g) => g.gate)).toEqual(['minAccuracy']);
  });

  it('starts a staged rollout when the config has a plan', async () => {
    const r = await release(await writeConfig('staged', { seed: 7, rollout: { canary: { count: 1 }, waves: [100], soakMs: 500, benchmark: true } }));
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.outcome).toBe('rollout-started');
    expect(out.version).toBe(2);
    await waitFor('the rollout to complete', () => (t.hub.registry.rollouts.get(out.rollout.id)?.state === 'completed' ? true : undefined), 60_000);
    await waitFor('the device on v2', () => (agent.status().version === 2 ? true : undefined), 30_000);
  });

  it('retrain asks the hub, which refuses a model it has no retraining config for (test/src/retrain covers the loop)', async () => {
    const r = await edgeml(['retrain', 'iris', '--config', join(t.dir, 'good.json'), '--hub', t.hub.httpUrl!, '--token', t.hub.adminToken, '--json']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no retraining config for model "iris" \(start it with --retrain-config\)/);
    expect(t.hub.registry.listVersions('iris').map((v) => v.version)).toEqual([1, 2]);
  });

  it('refuses a config with a wrong field, with exit 2', async () => {
    const file = join(t.dir, 'bad.json');
    await writeFile(file, JSON.stringify({ model: 'iris', data: dataFile('iris.csv') }));
    const r = await release(file);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/release config .*target/);
  });
});

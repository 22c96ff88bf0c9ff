/**
 * Hub killed with SIGKILL while it rolls devices back (named fault points, release/faults.ts):
 * after an operator's rollback is stored and before it is published, right after it is
 * published, and while a halted rollout's directives go out device by device. Restarted on the
 * same data dir and ports, every case ends with the fleet on the version rolled back to, the
 * rollout cleanly ended with its reason, and `fleet status --wait-converged` agreeing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hubApi, publishOver } from './hub-process.js';
import { killFleet, type KillFleet } from './kill-fleet.js';

let f: KillFleet;

beforeAll(async () => {
  f = await killFleet('hub-kill-rollback', ['back-a', 'back-b']);
  for (const v of [1, 2, 3]) expect((await publishOver(f.hub, f.c)).status, `v${v}`).toBe(201);
  await f.onVersion(3);
});
afterAll(async () => {
  await f?.close();
});

/** The operator's `edgeml rollback`, which the dying hub never answers. */
async function rollbackIntoTheKill(point: string, to: number): Promise<void> {
  await f.restartHub({ EDGEML_HUB_FAULT_POINT: point });
  await expect(hubApi(f.hub, 'POST', '/v1/rollback', { model: 'iris', to })).rejects.toThrow();
  await f.died();
  await f.restartHub();
}

describe('hub killed during a rollback', () => {
  it('publishes a rollback directive stored before the kill', async () => {
    await rollbackIntoTheKill('rollback:after-commit', 2);
    await f.onVersion(2);
    await f.converged();
    expect(await f.versions()).toEqual([
      { version: 1, status: 'published' },
      { version: 2, status: 'published' },
      { version: 3, status: 'rolled-back' },
    ]);
    // The operator's retry is answered with the version the fleet is on.
    const retry = await hubApi<{ version: number; status: string }>(f.hub, 'POST', '/v1/rollback', { model: 'iris', to: 2 });
    expect(retry).toMatchObject({ status: 200, body: { version: 2, status: 'published' } });
    await f.converged();
  });

  it('keeps a rollback directive published just before the kill', async () => {
    await rollbackIntoTheKill('rollback:after-publish', 1);
    await f.onVersion(1);
    await f.converged();
    expect((await f.versions()).map((v) => v.status)).toEqual(['published', 'rolled-back', 'rolled-back']);
  });

  it('finishes halting a rollout whose directives were going out when the hub died', async () => {
    const r = await publishOver(f.hub, f.c, { rollout: { canary: { count: 2 }, waves: [100], benchmark: false, soakMs: 600_000 } });
    expect(r.status).toBe(201);
    const { id } = r.body.rollout!;
    const version = r.body.version.version;
    await f.untilRollout(id, 'soaking', (x) => x.state === 'soaking' && x.devices.upgraded.length === 2);
    await f.onVersion(version);
    await f.restartHub({ EDGEML_HUB_FAULT_POINT: 'halt:after-first-directive' });
    expect((await hubApi(f.hub, 'POST', `/v1/rollouts/${id}/abort`)).status).toBe(200);
    await f.died();
    await f.restartHub();
    const done = await f.untilRollout(id, 'aborted', (x) => x.state === 'aborted');
    expect(done.reason).toBe('aborted by an operator');
    await f.onVersion(1);
    await f.converged();
    expect((await f.versions()).find((v) => v.version === version)?.status).toBe('aborted');
  });
});

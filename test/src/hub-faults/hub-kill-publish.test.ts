/**
 * Hub killed with SIGKILL inside a publish (named fault points, release/faults.ts), then started
 * again on the same data dir and ports: the fleet ends on the version the publish decided (or
 * stays where it was when nothing was decided), and the CI job's retry of the same publish gets
 * a clear answer: the version (and rollout) stored before the kill, never a second version and
 * never a `staged` version left without its rollout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishOver } from './hub-process.js';
import { killFleet, type KillFleet } from './kill-fleet.js';

let f: KillFleet;

beforeAll(async () => {
  f = await killFleet('hub-kill-publish', ['pub-a', 'pub-b']);
  expect((await publishOver(f.hub, f.c, { fingerprint: 'fp-1' })).status).toBe(201);
  await f.onVersion(1);
});
afterAll(async () => {
  await f?.close();
});

/** The CI job's request, which the dying hub never answers. */
async function publishIntoTheKill(point: string, extra: Record<string, unknown>): Promise<void> {
  await f.restartHub({ EDGEML_HUB_FAULT_POINT: point });
  await expect(publishOver(f.hub, f.c, extra)).rejects.toThrow();
  await f.died();
  await f.restartHub();
}

describe('hub killed during a publish', () => {
  it('publishes a version stored before the kill, and a retry gets that version', async () => {
    await publishIntoTheKill('publish:after-commit', { fingerprint: 'fp-2' });
    await f.onVersion(2);
    await f.converged();
    const retry = await publishOver(f.hub, f.c, { fingerprint: 'fp-2' });
    expect(retry.status).toBe(200);
    expect(retry.body).toMatchObject({ duplicate: true, version: { version: 2 } });
    expect(await f.versions()).toEqual([
      { version: 1, status: 'published' },
      { version: 2, status: 'published' },
    ]);
  });

  it('runs a staged rollout stored before the kill to the end, and a retry gets the version and its rollout', async () => {
    await publishIntoTheKill('publish:after-commit', { fingerprint: 'fp-3', rollout: { canary: { count: 1 }, waves: [100], benchmark: false, soakMs: 0 } });
    const retry = await publishOver(f.hub, f.c, { fingerprint: 'fp-3', rollout: { canary: { count: 1 } } });
    expect(retry.status).toBe(200);
    expect(retry.body).toMatchObject({ duplicate: true, version: { version: 3 } });
    const id = retry.body.rollout!.id;
    const done = await f.untilRollout(id, 'ended', (r) => r.state === 'completed' || r.state === 'halted');
    expect(done).toMatchObject({ state: 'completed', reason: null });
    await f.onVersion(3);
    await f.converged();
    expect((await f.versions()).find((v) => v.version === 3)?.status).toBe('published');
  });

  it('stores no version when killed after the artifact was written, and a retry publishes it once', async () => {
    await publishIntoTheKill('publish:after-artifact', { fingerprint: 'fp-4' });
    expect((await f.versions()).map((v) => v.version)).toEqual([1, 2, 3]);
    await f.converged();
    const retry = await publishOver(f.hub, f.c, { fingerprint: 'fp-4' });
    expect(retry.status).toBe(201);
    expect(retry.body).toMatchObject({ duplicate: false, version: { version: 4 } });
    await f.onVersion(4);
    await f.converged();
    expect((await f.versions()).filter((v) => v.status === 'staged')).toEqual([]);
  });
});

/**
 * Killed at a named point: the agent process kills itself (SIGKILL) at each point of its update
 * path, is started again, and must end committed (or cleanly rolled back for a bad release),
 * with one complete version per slot and nothing half-written on disk. A transient fault (an
 * artifact server answering 503, then stalling) must be retried, not judged.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connectAsync } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '@edgeml/core';
import { deviceRuntimes } from 'edgeml';
import { buildRelease, releaseInputFrom, runPipeline, signRelease, type Candidate } from '@edgeml/hub';
import { dataFile } from '../helpers/cli.js';
import { irisModel, privilegedClientOptions, publishModel, releaseSigner, startTestHub, waitFor } from '../helpers/fleet.js';
import { device, exited, kill, leftovers, predictVersion, savedState, settled, start, type Fleet } from './harness.js';

const f: Fleet = { t: undefined as never, procs: [] };
let c: Candidate;
/** Three models with different bytes: a new version never finds its artifact in a slot already. */
let models: Candidate[];
let artifactServer: Server | undefined;
let stallServer: Server | undefined;

beforeAll(async () => {
  f.t = await startTestHub();
  c = await irisModel();
  models = [c];
  for (const seed of [43, 44]) models.push(await runPipeline({ data: dataFile('iris.csv'), target: 'species', arch: 'mlp', seed, runtimes: deviceRuntimes() }));
}, 120_000);
afterAll(async () => {
  await Promise.all(f.procs.map((p) => p.stop()));
  await f.t?.stop();
  await new Promise((r) => (artifactServer ? artifactServer.close(r) : r(null)));
  stallServer?.closeAllConnections();
  await new Promise((r) => (stallServer ? stallServer.close(r) : r(null)));
});

/** Quick retries, so a transient fault costs the test a fraction of a second. */
const update = { retryBaseMs: 200, retryMaxMs: 1000, maxRetries: 20, stallMs: 3000, probationCrashRetries: 1 };

const points = [
  ['downloading:mid', 'active'],
  ['verifying:before', 'active'],
  ['installing:before-rename', 'active'],
  ['installing:after-rename', 'active'],
  ['probation:after-activate', 'active'],
  ['commit:before-save', 'active'],
  ['commit:after-save', 'active'],
  ['rolling-back:mid', 'rolled-back'],
] as const;

describe('killed at a named point of the update path', () => {
  const id = 'kp-dev';
  let v1: number;

  beforeAll(async () => {
    v1 = (await publishModel(f.t.hub, models[f.t.hub.registry.nextVersion('iris') % models.length]!, { chunkSize: 1024 })).version;
    const p = await start(f, id, { update });
    await settled(f, p, 'active', v1);
    await p.stop();
  }, 120_000);

  it.each(points)('ends %s as %s after a restart', async (point, end) => {
    // A release whose self-test cannot pass, for the point only a rollback reaches.
    const bad = end === 'rolled-back' ? { selfTest: { rows: [[5.1, 3.5, 1.4, 0.2]], expected: [[99, 99, 99]], tolerance: 0 } } : {};
    const before = device(f, id)!.version!;
    // A failed earlier row may have left its agent running: one process per device.
    await Promise.all(f.procs.map((p) => p.stop()));
    const next = models[f.t.hub.registry.nextVersion('iris') % models.length]!;
    const rec = await publishModel(f.t.hub, next, { chunkSize: 1024, ...bad });
    const doomed = await start(f, id, { update, faultPoint: point });
    await waitFor(`${id} killed at ${point}`, () => (doomed.child.signalCode === 'SIGKILL' ? true : undefined), 60_000, 20).catch(async (e) => {
      await kill(doomed);
      throw new Error(`${(e as Error).message}; log:\n${(await readFile(doomed.logFile, 'utf8')).slice(-3000)}`);
    });
    await exited(doomed);

    const again = await start(f, id, { update, faultPoint: undefined });
    const expected = end === 'active' ? rec.version : before;
    const d = await settled(f, again, end, expected);
    if (end === 'rolled-back') expect(d.lastError).toMatch(new RegExp(`^version ${rec.version}: .*self-test`));
    expect(await predictVersion(again)).toBe(expected);
    const state = await savedState(again.dir);
    expect(state.update).toBeNull();
    expect(state.active && state.slots[state.active]?.version).toBe(expected);
    // The floor rises only with a commit.
    expect(state.highestSeenVersion).toBe(end === 'active' ? rec.version : before);
    expect(await leftovers(again.dir)).toEqual([]);
    await again.stop();
  }, 120_000);
});

describe('a transient fault', () => {
  it('is retried with backoff, shown as retrying, and the update then commits', async () => {
    const id = 'kp-transient';
    let gets = 0;
    artifactServer = createServer((req, res) => {
      gets++;
      // Two refusals, then a stall (headers, no body), then the real bytes.
      if (gets <= 2) return res.writeHead(503).end();
      if (gets === 3) return res.writeHead(200, { 'content-length': String(c.artifact.length) });
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(Buffer.from(c.artifact));
    });
    await new Promise<void>((r) => artifactServer!.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(artifactServer.address() as AddressInfo).port}/model.bin`;
    const first = await publishModel(f.t.hub, c);
    const p = await start(f, id, { update: { ...update, stallMs: 1000 } });
    await settled(f, p, 'active', first.version);
    const version = first.version + 1;
    const signer = await releaseSigner(f.t.hub);
    const r = buildRelease({ ...releaseInputFrom(c, { model: 'iris', budgets: { probationMs: 0 } }), version, url });
    const client = await connectAsync(f.t.hub.brokerUrl, privilegedClientOptions(f.t));
    await client.publishAsync(topics.release('iris', 'stable'), JSON.stringify(signRelease(r, signer)), { qos: 1, retain: true });
    await client.endAsync();
    const retrying = await waitFor('retrying', () => (device(f, id)?.state === 'retrying' ? device(f, id) : undefined), 30_000, 10);
    expect(retrying!.lastError).toMatch(/503|no complete chunk/);
    await settled(f, p, 'active', version);
    expect(gets).toBeGreaterThanOrEqual(4);
    expect((await savedState(p.dir)).highestSeenVersion).toBe(version);
    await p.stop();
  }, 120_000);
});

describe('a newer release', () => {
  it('pre-empts an update stuck downloading from a server that never sends', async () => {
    const id = 'kp-preempt';
    // Headers, then nothing, for as long as the client stays.
    stallServer = createServer((_req, res) => void res.writeHead(200, { 'content-length': String(c.artifact.length) }));
    await new Promise<void>((r) => stallServer!.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(stallServer.address() as AddressInfo).port}/model.bin`;
    const first = await publishModel(f.t.hub, models[0]!);
    // A stall timeout far beyond the test: only pre-emption can end the stuck download.
    const p = await start(f, id, { update: { ...update, stallMs: 600_000 } });
    await settled(f, p, 'active', first.version);
    const stuck = first.version + 1;
    const signer = await releaseSigner(f.t.hub);
    const r = buildRelease({ ...releaseInputFrom(models[1]!, { model: 'iris', budgets: { probationMs: 0 } }), version: stuck, url });
    const client = await connectAsync(f.t.hub.brokerUrl, privilegedClientOptions(f.t));
    await client.publishAsync(topics.release('iris', 'stable'), JSON.stringify(signRelease(r, signer)), { qos: 1, retain: true });
    await client.endAsync();
    await waitFor('stuck downloading', () => (device(f, id)?.state === 'downloading' ? true : undefined), 30_000, 20);
    // The registry's next version is above the stuck one only if it counted it; make sure it is.
    while (f.t.hub.registry.nextVersion('iris') <= stuck) await publishModel(f.t.hub, models[2]!, { stage: true });
    const newer = await publishModel(f.t.hub, models[2]!);
    await settled(f, p, 'active', newer.version);
    expect((await savedState(p.dir)).highestSeenVersion).toBe(newer.version);
    await p.stop();
  }, 120_000);
});

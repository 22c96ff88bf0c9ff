/**
 * The hub either serves or exits with one clear line, whatever is corrupt or taken: a bad
 * artifact or registry row is reported and skipped, a bad name is refused before it is stored,
 * a port in use ends the process cleanly, and publishes never collide or leave half a release.
 */
import { createServer, type Server } from 'node:net';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, topics } from '@edgeml/core';
import { releaseInputFrom, type Candidate } from '@edgeml/hub';
import { connectAsync } from 'mqtt';
import { edgeml, tempDir } from '../helpers/cli.js';
import { irisModel, publishModel, startTestHub, type TestHub } from '../helpers/fleet.js';

let dir: string;
let cleanup: () => Promise<void>;
let c: Candidate;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('startup'));
  c = await irisModel();
});
afterAll(async () => cleanup?.());

/** A hub on `name`'s data dir, its log lines kept for the test to read. */
async function hubOn(name: string): Promise<{ t: TestHub; lines: Record<string, unknown>[] }> {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ name: 'hub', level: 'info', write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) });
  return { t: await startTestHub({ log }, join(dir, name)), lines };
}

const api = async (t: TestHub, method: string, path: string, body?: unknown) => {
  const res = await fetch(new URL(path, t.hub.httpUrl), {
    method,
    headers: { authorization: `Bearer ${t.hub.adminToken}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

const releaseBody = (model: string, extra: Record<string, unknown> = {}) => {
  const input = releaseInputFrom(c, { model, budgets: { probationMs: 0 } });
  return { ...input, artifact: Buffer.from(input.artifact).toString('base64'), ...extra };
};

/**
 * The retained message on `topic`, or undefined when the broker holds none. `marker` is a topic
 * known to hold one: subscribed in the same request after `topic`, the broker sends retained
 * messages in pattern order, so once the marker's arrives, `topic`'s would have.
 */
async function retained(t: TestHub, topic: string, marker = topics.desired('iris', 'stable')): Promise<Buffer | undefined> {
  const client = await connectAsync(t.hub.brokerUrl, { ...t.hub.hubCredentials, clientId: `${t.hub.hubCredentials.username}:probe-${Date.now()}`, reconnectPeriod: 0 });
  try {
    let got: Buffer | undefined;
    const markerSeen = new Promise<void>((resolve) => {
      client.on('message', (tp, p) => {
        if (tp === topic) got = p;
        if (tp === marker) resolve();
      });
    });
    await client.subscribeAsync(topic === marker ? [topic] : [topic, marker], { qos: 1 });
    await markerSeen;
    return got && got.length ? got : undefined;
  } finally {
    await client.endAsync();
  }
}

describe('start-up and publish faults', () => {
  it('starts and serves the other releases when the newest artifact file is corrupt', async () => {
    const { t } = await hubOn('corrupt-artifact');
    await publishModel(t.hub, c, { model: 'iris' });
    // Other bytes than iris's: the store is content-addressed, one file per sha256.
    const input = releaseInputFrom(c, { model: 'other', budgets: { probationMs: 0 } });
    const bad = await t.hub.publish({ ...input, artifact: Buffer.concat([Buffer.from(input.artifact), Buffer.alloc(1)]) });
    const file = t.hub.store.pathOf(bad.sha256);
    await t.stop();
    await chmod(file, 0o644);
    await writeFile(file, 'not the artifact');
    const again = await hubOn('corrupt-artifact');
    try {
      expect(again.lines.some((l) => l.level === 'error' && l.msg === 'cannot republish a desired release; skipped' && l.model === 'other')).toBe(true);
      expect(await retained(again.t, topics.release('iris', 'stable'))).toBeDefined();
      expect((await api(again.t, 'GET', '/v1/fleet')).status).toBe(200);
    } finally {
      await again.t.stop();
    }
  });

  it('ends an artifact download whose file cannot be read, and keeps serving', async () => {
    const { t, lines } = await hubOn('unreadable-artifact');
    try {
      const rec = await publishModel(t.hub, c, { model: 'iris' });
      // A directory where the file was: stat succeeds, the read fails (EISDIR) after the headers went out.
      const file = t.hub.store.pathOf(rec.sha256);
      await rm(file, { force: true });
      await mkdir(file);
      const got = await fetch(new URL(`/v1/artifacts/${rec.sha256}`, t.hub.httpUrl)).then(
        async (r) => ({ status: r.status, bytes: (await r.arrayBuffer()).byteLength }),
        (e: unknown) => ({ error: (e as Error).message }),
      ).catch((e: unknown) => ({ error: (e as Error).message }));
      // Either the connection is cut or the body falls short of its length: never a whole, wrong file.
      expect('error' in got || got.bytes === 0).toBe(true);
      expect(lines.some((l) => l.msg === 'artifact read failed')).toBe(true);
      expect((await api(t, 'GET', '/v1/fleet')).status).toBe(200);
    } finally {
      await t.stop();
    }
  });

  it('answers /v1/fleet and starts again when registry rows hold flipped bytes', async () => {
    const { t } = await hubOn('corrupt-rows');
    await publishModel(t.hub, c);
    t.hub.registry.upsertDevice({ deviceId: 'dev-1', online: true, state: 'active', model: 'iris', version: 1, sha256: null, previousVersion: null, health: 'ok', lastError: null, failedVersion: null, tags: [], p95Ms: null, requests: 0, updatedAt: new Date().toISOString() });
    t.hub.registry.upsertDevice({ deviceId: 'dev-2', online: true, state: 'active', model: 'iris', version: 1, sha256: null, previousVersion: null, health: 'ok', lastError: null, failedVersion: null, tags: [], p95Ms: null, requests: 0, updatedAt: new Date().toISOString() });
    await t.stop();
    const db = new Database(join(dir, 'corrupt-rows', 'hub', 'registry.sqlite'));
    db.prepare("UPDATE devices SET status_json = '{\"deviceId\":\"dev-1\",\"onl' WHERE id = 'dev-1'").run();
    db.prepare("UPDATE desired_releases SET envelope_json = substr(envelope_json, 1, 100)").run();
    db.close();
    const again = await hubOn('corrupt-rows');
    try {
      const fleet = await api(again.t, 'GET', '/v1/fleet');
      expect(fleet.status).toBe(200);
      expect((fleet.body as unknown as { id: string }[]).map((d) => d.id)).toEqual(['dev-2']);
      expect(again.lines.filter((l) => l.msg === 'skipping a registry row that cannot be read').map((l) => l.what)).toEqual(expect.arrayContaining(['device dev-1', 'desired release iris/stable/*']));
    } finally {
      await again.t.stop();
    }
  });

  it('refuses a model name that is not a topic level, stores nothing, and starts again', async () => {
    const { t } = await hubOn('bad-name');
    const r = await api(t, 'POST', '/v1/releases', releaseBody('iris v2'));
    expect(r.status).toBe(400);
    expect(String(r.body.error)).toMatch(/model/);
    await expect(publishModel(t.hub, c, { model: 'iris/#' })).rejects.toThrow(/invalid model/);
    expect(t.hub.registry.listVersions()).toEqual([]);
    await t.stop();
    const again = await hubOn('bad-name');
    await again.t.stop();
  });

  it('gives concurrent publishes consecutive versions', async () => {
    const { t } = await hubOn('concurrent');
    try {
      const recs = await Promise.all([1, 2, 3, 4].map(() => publishModel(t.hub, c)));
      expect(recs.map((r) => r.version).sort()).toEqual([1, 2, 3, 4]);
      expect(t.hub.registry.listVersions('iris').map((v) => v.version)).toEqual([1, 2, 3, 4]);
    } finally {
      await t.stop();
    }
  });

  it('leaves no staged version when the release\'s rollout cannot start, so a retry is not a duplicate', async () => {
    const { t } = await hubOn('rollout-fails');
    try {
      const body = releaseBody('iris', { fingerprint: 'abc', rollout: { canary: { count: 1 } } });
      const first = await api(t, 'POST', '/v1/releases', body);
      expect(first.status).toBe(409);
      expect(String(first.body.error)).toContain('no online device');
      expect(t.hub.registry.listVersions('iris')).toEqual([]);
      const retry = await api(t, 'POST', '/v1/releases', body);
      expect(retry.status).toBe(409);
      expect(retry.body.duplicate).toBeUndefined();
    } finally {
      await t.stop();
    }
  });

  it('clears the retained chunks of a version no longer desired', async () => {
    const { t } = await hubOn('chunks');
    try {
      const v1 = await publishModel(t.hub, c, { chunkSize: 4096 });
      // A different artifact: the same bytes would share one sha256 and its chunks.
      const other = releaseInputFrom(c, { model: 'iris', budgets: { probationMs: 0 } });
      const v2 = await t.hub.publish({ ...other, artifact: Buffer.concat([Buffer.from(other.artifact), Buffer.alloc(1)]), chunkSize: 4096 });
      expect(await retained(t, topics.artifactChunk(v1.sha256, 4096, 0))).toBeUndefined();
      expect(await retained(t, topics.artifactChunk(v2.sha256, 4096, 0))).toBeDefined();
      await t.hub.rollback('iris', 1);
      expect(await retained(t, topics.artifactChunk(v2.sha256, 4096, 0))).toBeUndefined();
      expect(await retained(t, topics.artifactChunk(v1.sha256, 4096, 0))).toBeDefined();
      const desired = JSON.parse((await retained(t, topics.desired('iris', 'stable')))!.toString('utf8')) as { version: number; kind: string };
      expect(desired).toMatchObject({ version: 1, kind: 'rollback' });
    } finally {
      await t.stop();
    }
  });
});

describe('a port in use', () => {
  let busy: Server;
  let port: number;
  beforeAll(async () => {
    busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
    port = (busy.address() as { port: number }).port;
  });
  afterAll(async () => new Promise<void>((r) => busy.close(() => r())));

  it.each(['--mqtt-port', '--http-port'])('exits non-zero with one line when %s is taken', async (flag) => {
    const data = join(dir, `port-${flag}`);
    const other = flag === '--mqtt-port' ? '--http-port' : '--mqtt-port';
    const r = await edgeml(['hub', 'start', '--data-dir', data, flag, String(port), other, '0'], { timeoutMs: 60_000 });
    expect(r.code).toBe(2);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('edgeml:'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/already in use/);
    expect(r.stderr).not.toMatch(/database connection is not open|at .*\.js:\d+/);
    await rm(data, { recursive: true, force: true });
  });
});

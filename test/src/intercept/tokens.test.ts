/**
 * Scoped HTTP API tokens on a real hub process: each kind reaches exactly its routes, a revoked
 * or expired token reaches none, and the registry holds no usable secret.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from '@edgeml/hub';
import { waitFor } from '../helpers/fleet.js';
import { edgeml, tempDir } from '../helpers/cli.js';
import { spawnHub, type HubProcess } from './hub-process.js';

let dir: string;
let cleanup: () => Promise<void>;
let hub: HubProcess;

async function newToken(kind: string, extra: string[] = []): Promise<{ id: string; token: string }> {
  const r = await edgeml(['hub', 'token', '--data-dir', hub.dataDir, '--kind', kind, '--json', ...extra]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { id: string; token: string };
}

async function call(method: 'GET' | 'POST', path: string, token: string | undefined, body: unknown = {}): Promise<number> {
  const res = await fetch(`${hub.apiUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    ...(method === 'POST' ? { body: JSON.stringify(body) } : {}),
  });
  await res.arrayBuffer();
  return res.status;
}

const refused = (status: number) => status === 401 || status === 403;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('intercept-tokens'));
  hub = await spawnHub(join(dir, 'hub'));
}, 180_000);

afterAll(async () => {
  await hub?.kill();
  await cleanup?.();
});

describe('HTTP API tokens by kind', () => {
  it('lets a ci token publish and start rollouts, but not steer, roll back or manage devices', async () => {
    const { token } = await newToken('ci');
    // A body the schema refuses (400) shows the request got past authorization.
    expect(await call('POST', '/v1/releases', token, { nope: true })).toBe(400);
    expect(await call('POST', '/v1/rollouts', token, { nope: true })).toBe(400);
    expect(await call('GET', '/v1/fleet', token)).toBe(200);
    expect(await call('POST', '/v1/rollouts/1/pause', token)).toBe(403);
    expect(await call('POST', '/v1/rollback', token, { model: 'iris' })).toBe(403);
    expect(await call('GET', '/v1/devices', token)).toBe(403);
  });

  it('lets an operator token read and steer rollouts, but not publish, start rollouts, roll back or read feedback', async () => {
    const { token } = await newToken('operator');
    expect(await call('GET', '/v1/fleet', token)).toBe(200);
    expect(await call('GET', '/v1/rollouts', token)).toBe(200);
    expect(refused(await call('POST', '/v1/rollouts/999/pause', token))).toBe(false);
    expect(await call('POST', '/v1/releases', token, { nope: true })).toBe(403);
    expect(await call('POST', '/v1/rollouts', token, { nope: true })).toBe(403);
    expect(await call('POST', '/v1/rollback', token, { model: 'iris' })).toBe(403);
    expect(await call('GET', '/v1/models/iris/feedback', token)).toBe(403);
  });

  it('lets an admin token do everything', async () => {
    const { token } = await newToken('admin');
    expect(refused(await call('POST', '/v1/rollback', token, { model: 'iris' }))).toBe(false);
    expect(refused(await call('POST', '/v1/rollouts/999/abort', token))).toBe(false);
    expect(await call('POST', '/v1/releases', token, { nope: true })).toBe(400);
    expect(await call('GET', '/v1/models/iris/feedback', token)).toBe(200);
  });

  it('refuses no token, a forged one, a revoked one and an expired one', async () => {
    expect(await call('GET', '/v1/fleet', undefined)).toBe(401);
    const { id, token } = await newToken('admin');
    expect(await call('GET', '/v1/fleet', `${id}.${'A'.repeat(43)}`)).toBe(401);
    expect(await call('GET', '/v1/fleet', token)).toBe(200);
    const r = await edgeml(['hub', 'token', '--data-dir', hub.dataDir, '--revoke', id]);
    expect(r.code, r.stderr).toBe(0);
    expect(await call('GET', '/v1/fleet', token)).toBe(401);
    const short = await newToken('operator', ['--ttl', '1s']);
    await waitFor('the short-lived token to expire', async () => ((await call('GET', '/v1/fleet', short.token)) === 401 ? true : undefined), 30_000, 200);
  });

  it('stores only a salted hash of each token, and lists ids without secrets', async () => {
    const { id, token } = await newToken('ci', ['--label', 'build server']);
    const registry = new Registry(join(hub.dataDir, 'registry.sqlite'));
    try {
      const rec = registry.tokens.apiToken(id)!;
      expect(rec.kind).toBe('ci');
      expect(rec.secretHash).toMatch(/^sha256\$/);
      expect(rec.secretHash).not.toContain(token.split('.')[1]!);
    } finally {
      registry.close();
    }
    const list = await edgeml(['hub', 'token', '--data-dir', hub.dataDir, '--list']);
    expect(list.stdout).toContain(`${id}\tci\t`);
    expect(list.stdout).toContain('build server');
    expect(list.stdout).not.toContain(token.split('.')[1]!);
  });

  it('revokes an unused enrolment token', async () => {
    const r = await edgeml(['hub', 'token', '--data-dir', hub.dataDir, '--json']);
    const { token } = JSON.parse(r.stdout) as { token: string };
    const revoked = await edgeml(['hub', 'token', '--data-dir', hub.dataDir, '--revoke', token]);
    expect(revoked.code, revoked.stderr).toBe(0);
    const res = await fetch(`${hub.apiUrl}/v1/enroll`, { method: 'POST', body: JSON.stringify({ token: token.split('.')[0], deviceId: 'late-dev' }) });
    expect(res.status).toBe(403);
    expect((await edgeml(['hub', 'token', '--data-dir', hub.dataDir, '--revoke', token])).code).toBe(2);
  });

  it('refuses an unknown kind as bad usage', async () => {
    const r = await edgeml(['hub', 'token', '--data-dir', hub.dataDir, '--kind', 'root']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--kind must be one of device, ci, operator, admin');
  });
});

/**
 * Revoking a device on a real hub process with a real agent process connected: its
 * credentials go, its connection is dropped, and its id cannot enrol again until unblocked.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connectAsync } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnAgent, waitFor, type AgentProcess } from 'edgeml';
import { edgeml, tempDir } from '../helpers/cli.js';
import { spawnHub, type HubProcess } from './hub-process.js';

let dir: string;
let cleanup: () => Promise<void>;
let hub: HubProcess;
let agent: AgentProcess | undefined;
let admin: string;

async function token(): Promise<string> {
  const r = await edgeml(['hub', 'token', '--data-dir', hub.dataDir, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { token: string }).token;
}

async function enroll(id: string) {
  const agentDir = join(dir, 'devices', id);
  const r = await edgeml(['agent', 'enroll', '--hub', hub.apiUrl, '--token', await token(), '--device-id', id, '--model', 'iris', '--data-dir', agentDir, '--config', join(agentDir, 'agent.json'), '--api-port', '0']);
  return { ...r, agentDir, configPath: join(agentDir, 'agent.json') };
}

async function devices(): Promise<{ id: string; online: boolean; revokedAt: string | null }[]> {
  const res = await fetch(`${hub.apiUrl}/v1/devices`, { headers: { authorization: `Bearer ${admin}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as { id: string; online: boolean; revokedAt: string | null }[];
}

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('intercept-revoke'));
  hub = await spawnHub(join(dir, 'hub'));
  admin = (JSON.parse(await readFile(join(hub.dataDir, 'secrets.json'), 'utf8')) as { admin: string }).admin;
}, 240_000);

afterAll(async () => {
  await agent?.stop();
  await hub?.kill();
  await cleanup?.();
});

describe('device revocation', () => {
  it('removes the credentials, drops the connection and blocks the id until unblocked', async () => {
    const e = await enroll('lost-1');
    expect(e.code, e.stderr).toBe(0);
    const config = JSON.parse(await readFile(e.configPath, 'utf8')) as { broker: { url: string; username: string; password: string } };
    agent = await spawnAgent({ id: 'lost-1', dir: e.agentDir, configPath: e.configPath });
    await waitFor('the agent to come online', async () => ((await devices()).find((d) => d.id === 'lost-1')?.online ? true : undefined), 240_000, 250);

    const r = await edgeml(['device', 'revoke', 'lost-1', '--hub', hub.apiUrl, '--data-dir', hub.dataDir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('revoked lost-1: credentials removed, 1 connection(s) dropped');

    // Dropped: the agent reconnects on its own and is refused with its old password.
    await waitFor('the agent to be refused at reconnect', () => (/"msg":"mqtt authentication refused"[^\n]*"username":"lost-1"/.test(hub.output()) ? true : undefined), 120_000, 250);
    await expect(connectAsync(config.broker.url, { username: config.broker.username, password: config.broker.password, reconnectPeriod: 0, connectTimeout: 20_000 })).rejects.toThrow(
      /Bad username or password|Not authorized/i,
    );

    // Its last will did not bring it back into the fleet.
    const fleet = await fetch(`${hub.apiUrl}/v1/fleet`, { headers: { authorization: `Bearer ${admin}` } });
    expect(((await fleet.json()) as { id: string }[]).map((d) => d.id)).not.toContain('lost-1');

    const listed = await edgeml(['device', 'list', '--data-dir', hub.dataDir, '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const entry = (JSON.parse(listed.stdout) as { id: string; revokedAt: string | null; online: boolean }[]).find((d) => d.id === 'lost-1');
    expect(entry?.revokedAt).toEqual(expect.any(String));
    expect(entry?.online).toBe(false);

    await agent.stop();
    agent = undefined;
    const again = await enroll('lost-1');
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('device id "lost-1" was revoked');

    const unblock = await edgeml(['device', 'unblock', 'lost-1', '--data-dir', hub.dataDir]);
    expect(unblock.code, unblock.stderr).toBe(0);
    const fresh = await enroll('lost-1');
    expect(fresh.code, fresh.stderr).toBe(0);
  }, 480_000);

  it('refuses device management with a token that is not admin', async () => {
    const r = await edgeml(['hub', 'token', '--data-dir', hub.dataDir, '--kind', 'operator', '--json']);
    const op = (JSON.parse(r.stdout) as { token: string }).token;
    const res = await fetch(`${hub.apiUrl}/v1/devices/lost-1/revoke`, { method: 'POST', headers: { authorization: `Bearer ${op}` } });
    expect(res.status).toBe(403);
    const cli = await edgeml(['device', 'revoke', 'lost-1', '--hub', hub.apiUrl, '--token', op]);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toContain('(403)');
  });
});

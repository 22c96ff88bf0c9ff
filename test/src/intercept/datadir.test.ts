/**
 * The hub's data dir holds password and token hashes, raw feedback rows and the release key:
 * a real hub process makes it 0700 and its registry and secrets 0600, also when an older hub
 * left them readable by everyone.
 */
import { chmod, mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from '@edgeml/hub';
import { tempDir } from '../helpers/cli.js';
import { spawnHub, type HubProcess } from './hub-process.js';

let dir: string;
let cleanup: () => Promise<void>;
let hub: HubProcess | undefined;

const mode = async (p: string) => (await stat(p)).mode & 0o777;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('intercept-datadir'));
});
afterAll(async () => {
  await hub?.kill();
  await cleanup?.();
});

describe('hub data dir permissions', () => {
  it('tightens a world-readable data dir and registry left by an older hub', async () => {
    const data = join(dir, 'hub');
    await mkdir(data, { mode: 0o755 });
    await chmod(data, 0o755);
    new Registry(join(data, 'registry.sqlite')).close();
    await chmod(join(data, 'registry.sqlite'), 0o644);
    await writeFile(join(data, 'secrets.json'), JSON.stringify({ hub: 'h'.repeat(32), operator: 'o'.repeat(32), admin: 'a'.repeat(43) }), { mode: 0o644 });
    await chmod(join(data, 'secrets.json'), 0o644);

    hub = await spawnHub(data);
    expect(await mode(data)).toBe(0o700);
    expect(await mode(join(data, 'registry.sqlite'))).toBe(0o600);
    expect(await mode(join(data, 'secrets.json'))).toBe(0o600);
    for (const f of ['registry.sqlite-wal', 'registry.sqlite-shm']) {
      const m = await mode(join(data, f)).catch(() => undefined);
      if (m !== undefined) expect(m).toBe(0o600);
    }
  });

  it('creates a fresh data dir 0700', async () => {
    await hub?.kill();
    const data = join(dir, 'fresh', 'hub');
    hub = await spawnHub(data);
    expect(await mode(data)).toBe(0o700);
    expect(await mode(join(data, 'registry.sqlite'))).toBe(0o600);
  });
});

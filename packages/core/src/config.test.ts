import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadAgentConfig } from './config.js';
import { EdgemlError } from './errors.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeml-config-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const valid = { deviceId: 'dev-1', dataDir: 'state', model: 'iris', broker: { url: 'mqtt://127.0.0.1:1883' }, rootKey: 'keys/root.pub' };

async function writeConfig(content: string): Promise<string> {
  const path = join(dir, 'conf', 'agent.json');
  await mkdir(join(dir, 'conf'), { recursive: true });
  await writeFile(path, content);
  return path;
}

async function refusal(path: string): Promise<EdgemlError> {
  const err = await loadAgentConfig(path).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(EdgemlError);
  return err as EdgemlError;
}

describe('loadAgentConfig', () => {
  it('resolves relative paths against the config file folder, not the working directory', async () => {
    const path = await writeConfig(JSON.stringify(valid));
    const config = await loadAgentConfig(path);
    expect(config.dataDir).toBe(join(dir, 'conf', 'state'));
    expect(config.rootKey).toBe(join(dir, 'conf', 'keys', 'root.pub'));
  });

  it('keeps absolute paths and fills defaults', async () => {
    const path = await writeConfig(JSON.stringify({ ...valid, dataDir: '/var/lib/edgeml', rootKey: '/etc/edgeml/root.pub' }));
    const config = await loadAgentConfig(path);
    expect(config).toMatchObject({
      dataDir: '/var/lib/edgeml',
      rootKey: '/etc/edgeml/root.pub',
      channel: 'stable',
      api: { host: '127.0.0.1', port: 0 },
    });
  });

  it('refuses a missing file with exit code 2, naming the file', async () => {
    const path = join(dir, 'absent.json');
    const err = await refusal(path);
    expect(err).toMatchObject({ code: 'file-missing', exitCode: 2, transient: false });
    expect(err.message).toContain(path);
    expect(err.message).toContain('ENOENT');
  });

  it('refuses a file that is not JSON with exit code 2, naming the file', async () => {
    const path = await writeConfig('{ "deviceId": "dev-1", ');
    const err = await refusal(path);
    expect(err).toMatchObject({ code: 'bad-json', exitCode: 2 });
    expect(err.message).toContain(path);
  });

  it('refuses a schema error with exit code 2, naming the file and each bad field', async () => {
    const path = await writeConfig(JSON.stringify({ ...valid, deviceId: 'dev/1', broker: {} }));
    const err = await refusal(path);
    expect(err).toMatchObject({ code: 'bad-config', exitCode: 2 });
    expect(err.message).toContain(path);
    expect(err.message).toContain('deviceId');
    expect(err.message).toContain('broker.url');
  });
});

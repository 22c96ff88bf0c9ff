/**
 * `edgeml keys`, `edgeml sign` and `edgeml verify` as a CI that builds its own artifacts would
 * run them: the verify command gives the agent's own verdict and reason codes.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataFile, edgeml, tempDir } from '../helpers/cli.js';

let dir: string;
let cleanup: () => Promise<void>;
const keys = () => join(dir, 'keys');
const model = () => join(dir, 'model');
const envelope = (name: string) => join(dir, `${name}.json`);

const verify = async (args: string[]) => {
  const r = await edgeml(['verify', '--root-key', join(keys(), 'root.pub'), '--json', ...args]);
  return { code: r.code, out: JSON.parse(r.stdout) as { ok: boolean; reason: string | null } };
};

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('verify'));
  expect((await edgeml(['keys', 'generate', '--dir', keys()])).code).toBe(0);
  expect((await edgeml(['train', '--data', dataFile('iris.csv'), '--target', 'species', '--out', model()])).code).toBe(0);
  const r = await edgeml(['sign', '--artifact', join(model(), 'model.emtf'), '--format', 'tfjs-layers', '--model', 'iris', '--version', '3', '--keys', keys(), '--out', envelope('v3')]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
});
afterAll(() => cleanup());

describe('edgeml keys', () => {
  it('writes private keys with mode 0600 and refuses to overwrite a root key', async () => {
    expect((await stat(join(keys(), 'root.key'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(keys(), 'release.key'))).mode & 0o777).toBe(0o600);
    const again = await edgeml(['keys', 'generate', '--dir', keys()]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('--force');
  });
});

describe('edgeml verify', () => {
  it('accepts a good release and its artifact (exit 0)', async () => {
    const { code, out } = await verify(['--envelope', envelope('v3'), '--artifact', join(model(), 'model.emtf'), '--seen-version', '2', '--model', 'iris', '--channel', 'stable']);
    expect(code).toBe(0);
    expect(out).toMatchObject({ ok: true, reason: null });
  });

  it.each([
    ['rollback', ['--seen-version', '3']],
    ['wrong-model', ['--model', 'digits']],
    ['wrong-channel', ['--channel', 'beta']],
  ])('refuses with %s', async (reason, extra) => {
    const { code, out } = await verify(['--envelope', envelope('v3'), ...extra]);
    expect(code).toBe(1);
    expect(out).toMatchObject({ ok: false, reason });
  });

  it('refuses a tampered envelope, a wrong artifact, garbage, and an expired release', async () => {
    const env = JSON.parse(await readFile(envelope('v3'), 'utf8'));
    env.signed.version = 99;
    await writeFile(envelope('tampered'), JSON.stringify(env));
    expect((await verify(['--envelope', envelope('tampered')])).out.reason).toBe('bad-signature');

    await writeFile(join(dir, 'other.bin'), 'not the model');
    expect((await verify(['--envelope', envelope('v3'), '--artifact', join(dir, 'other.bin')])).out.reason).toBe('size-mismatch');
    const art = await readFile(join(model(), 'model.emtf'));
    art[art.length - 1]! ^= 0xff;
    await writeFile(join(dir, 'flipped.bin'), art);
    expect((await verify(['--envelope', envelope('v3'), '--artifact', join(dir, 'flipped.bin')])).out.reason).toBe('hash-mismatch');

    await writeFile(envelope('garbage'), '{');
    expect((await verify(['--envelope', envelope('garbage')])).out.reason).toBe('malformed');

    const short = await edgeml(['sign', '--artifact', join(model(), 'model.emtf'), '--format', 'tfjs-layers', '--model', 'iris', '--version', '4', '--expires', '0s', '--keys', keys(), '--out', envelope('expired')]);
    expect(short.code).toBe(0);
    expect((await verify(['--envelope', envelope('expired')])).out.reason).toBe('expired');
  });

  it('still verifies after the release key is rotated, with the same pinned root', async () => {
    expect((await edgeml(['keys', 'rotate', '--dir', keys()])).code).toBe(0);
    const r = await edgeml(['sign', '--artifact', join(model(), 'model.emtf'), '--format', 'tfjs-layers', '--model', 'iris', '--version', '5', '--keys', keys(), '--out', envelope('v5')]);
    expect(r.code).toBe(0);
    expect((await verify(['--envelope', envelope('v5')])).code).toBe(0);
    // A root key from another key set is not this device's root.
    expect((await edgeml(['keys', 'generate', '--dir', join(dir, 'other')])).code).toBe(0);
    const other = await edgeml(['verify', '--envelope', envelope('v5'), '--root-key', join(dir, 'other', 'root.pub'), '--json']);
    expect(JSON.parse(other.stdout).reason).toBe('unknown-key');
  });
});

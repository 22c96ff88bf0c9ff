/**
 * The CLI package as a model's repository uses it from CI: an empty folder standing for that
 * repository (edgeml.json at its root, data under data/, the packed CLI under tools/), and the
 * `run:` steps of docs/examples/github-actions.yml run in order with the variables the workflow
 * maps from repository settings, against a real hub with a CI-scoped token. The workflow's path
 * filter must match that repository's own files.
 */
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataFile, edgeml, repoRoot, tempDir } from '../helpers/cli.js';
import { startTestHub, type TestHub } from '../helpers/fleet.js';
import { npmEnv, packTarball, runProgram } from './packed.js';

const workflowPath = join(repoRoot, 'docs/examples/github-actions.yml');

interface Step {
  name: string;
  run: string;
}

/**
 * The `run:` steps of a workflow, in order: `run: command` and `run: |` blocks. Only what this
 * repository's own example uses; a step's `name:` is kept for failure messages.
 */
function runSteps(yaml: string): Step[] {
  const lines = yaml.split('\n');
  const steps: Step[] = [];
  let name = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const named = /^\s*- name: (.*)$/.exec(line);
    if (named) name = named[1]!;
    if (/^\s*- (?!name:)/.test(line)) name = '';
    const m = /^(\s*)(?:- )?run: (.*)$/.exec(line);
    if (!m) continue;
    const indent = m[1]!.length;
    if (m[2]!.trim() !== '|') {
      steps.push({ name: name || m[2]!, run: m[2]! });
      continue;
    }
    const block: string[] = [];
    while (i + 1 < lines.length && (lines[i + 1]!.trim() === '' || lines[i + 1]!.search(/\S/) > indent)) block.push(lines[++i]!.trim());
    steps.push({ name: name || block[0]!, run: block.join('\n') });
  }
  return steps;
}

/** GitHub's path filter: `**` any depth, `*` within one segment. */
const globMatches = (glob: string, path: string): boolean =>
  new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*/g, '\u0000').replace(/\*/g, '[^/]*').replace(/\u0000/g, '.*')}$`).test(path);

let dir: string;
let cleanup: () => Promise<void>;
let repo: string;
let hub: TestHub | undefined;
let ciToken: string;
let steps: Step[];
let workflow: string;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('install-cli'));
  repo = join(dir, 'model-repo');
  await mkdir(join(repo, 'data'), { recursive: true });
  await mkdir(join(repo, 'tools'), { recursive: true });
  workflow = await readFile(workflowPath, 'utf8');
  steps = runSteps(workflow);
  // The user's config is the documented example with the repository's own layout. The latency
  // gate is widened because this machine runs other tests at the same time, and the staged
  // rollout is left out: the hub refuses one while no device runs the model, as in a new fleet.
  const { rollout: _staged, ...example } = JSON.parse(await readFile(join(repoRoot, 'docs/examples/edgeml.json'), 'utf8')) as { data: string; gates: Record<string, number>; rollout?: unknown };
  await writeFile(join(repo, 'edgeml.json'), JSON.stringify({ ...example, data: 'data/digits.csv', gates: { ...example.gates, maxP95Ms: 50 } }, null, 2));
  await copyFile(dataFile('digits.csv'), join(repo, 'data/digits.csv'));
  const [tgz, started] = await Promise.all([packTarball('cli', join(dir, 'pack')), startTestHub()]);
  hub = started;
  await copyFile(tgz, join(repo, 'tools/edgeml-0.1.0.tgz'));
  const token = await edgeml(['hub', 'token', '--kind', 'ci', '--label', 'github-actions', '--data-dir', join(hub.dir, 'hub'), '--json']);
  expect(token.code, token.stderr).toBe(0);
  ciToken = (JSON.parse(token.stdout) as { token: string }).token;
}, 180_000);

afterAll(async () => {
  await hub?.stop();
  await cleanup();
});

/** One workflow step, as the runner would run it: bash -e in the repository's root. */
const runStep = (step: Step, env: NodeJS.ProcessEnv) =>
  runProgram('bash', ['-e', '-c', step.run], {
    cwd: repo,
    timeoutMs: 240_000,
    env: {
      ...npmEnv,
      // better-sqlite3 (the hub's registry, unused by a release) would compile from source here,
      // with no prebuilt binary reachable: a minute of CPU a hosted runner does not spend.
      npm_config_ignore_scripts: 'true',
      GITHUB_STEP_SUMMARY: join(dir, 'step-summary.md'),
      ...env,
    },
  });

describe('docs/examples/github-actions.yml in a model repository', () => {
  it('triggers on the repository\'s own data, config and workflow', () => {
    const paths = /paths: \[(.*)\]/.exec(workflow)?.[1]?.split(',').map((p) => p.trim().replace(/^'|'$/g, ''));
    expect(paths).toBeDefined();
    for (const file of ['edgeml.json', 'data/digits.csv', '.github/workflows/release.yml']) {
      expect(paths!.some((g) => globMatches(g, file)), file).toBe(true);
    }
    expect(workflow).toContain('EDGEML_HUB: ${{ vars.EDGEML_HUB }}');
    expect(workflow).toContain('EDGEML_HUB_TOKEN: ${{ secrets.EDGEML_HUB_TOKEN }}');
    expect(steps.map((s) => s.name)).toEqual(['Check the hub settings', 'Install the edgeml CLI', 'Release']);
  });

  it('stops at once with a clear error when the hub variable is unset', async () => {
    const check = await runStep(steps[0]!, { EDGEML_HUB: '', EDGEML_HUB_TOKEN: 'x' });
    expect(check.code).toBe(2);
    expect(check.stdout).toMatch(/EDGEML_HUB is not set/);
  });

  it('installs the packed CLI and releases through a real hub with a CI-scoped token', async () => {
    const env = { EDGEML_HUB: hub!.hub.httpUrl!, EDGEML_HUB_TOKEN: ciToken, EDGEML_CLI_PACKAGE: '' };
    for (const step of steps) {
      const r = await runStep(step, env);
      const written = await readFile(join(repo, 'release-result.json'), 'utf8').catch(() => '');
      expect(r.code, `${step.name}: ${r.stderr.slice(-3000)} ${written.slice(0, 3000)}`).toBe(0);
    }
    const result = JSON.parse(await readFile(join(repo, 'release-result.json'), 'utf8')) as { outcome: string; version: number; format: string };
    expect(result.outcome).toBe('published');
    expect(result).toMatchObject({ version: 1, format: 'tflite-int8' });
    const versions = (await (await fetch(new URL('/v1/models/digits/versions', hub!.hub.httpUrl!), { headers: { authorization: `Bearer ${ciToken}` } })).json()) as { version: number }[];
    expect(versions.map((v) => v.version)).toEqual([1]);
    expect(await readFile(join(dir, 'step-summary.md'), 'utf8')).toContain('edgeml release: digits v1');

    // The installed CLI itself: an empty hub URL is named as such.
    const empty = await runProgram(join(repo, 'node_modules/.bin/edgeml'), ['release', '--config', 'edgeml.json', '--hub', ''], { cwd: repo, env: { EDGEML_HUB_TOKEN: ciToken } });
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/the hub URL \(--hub\) is empty/);
    expect(empty.stderr).not.toMatch(/Invalid URL/);
  });
});

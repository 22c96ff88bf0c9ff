/**
 * The device commands as a user runs them: `edgeml predict`, `edgeml batch` (bad rows in both
 * modes, JSON lines, a run killed with SIGKILL and resumed) and `edgeml agent install-service`.
 */
import { spawn } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataFile, edgeml, repoRoot, tempDir } from '../helpers/cli.js';

let dir: string;
let cleanup: () => Promise<void>;
let model: string;
const features = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('device-cli'));
  model = join(dir, 'iris');
  const r = await edgeml(['train', '--data', dataFile('iris.csv'), '--target', 'species', '--out', model, '--seed', '7']);
  expect(r.code, r.stderr).toBe(0);
});
afterAll(() => cleanup());

const irisRows = async () =>
  (await readFile(dataFile('iris.csv'), 'utf8'))
    .trim()
    .split(/\r?\n/)
    .slice(1)
    .map((l) => l.split(','));

describe('edgeml predict', () => {
  it('predicts one row from a model directory, as text or JSON', async () => {
    const text = await edgeml(['predict', '--model', model, '--row', '5.1,3.5,1.4,0.2']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^setosa {2}\(confidence 0\.\d{3}\)\n {2}setosa +0\.\d{4}\n/);
    expect(text.stdout).toMatch(/model iris, version sha256:[0-9a-f]{12}\n$/);
    const json = await edgeml(['predict', '--model', model, '--features', JSON.stringify({ sepal_length: 6.7, sepal_width: 3, petal_length: 5.2, petal_width: 2.3 }), '--json']);
    expect(json.code, json.stderr).toBe(0);
    const out = JSON.parse(json.stdout);
    expect(out).toMatchObject({ model: 'iris', prediction: { label: 'virginica', index: 2 } });
    expect(out.prediction.probabilities).toHaveLength(3);
  });

  it.each([
    [['--row', '5.1,abc,1.4,0.2'], 'edgeml: the row: feature "sepal_width" is string, not a number'],
    [['--row', '[1, 2]'], 'edgeml: the row: has 2 values, the model takes 4'],
    [['--features', '{"sepal_length": 1}'], 'edgeml: the row: feature "sepal_width" is missing'],
    [['--features', '[1,2,3,4]'], 'edgeml: --features must be a JSON object of named features'],
    [['--row', '[1, 2'], 'edgeml: --row is not valid JSON'],
    [[], 'edgeml: give the row with exactly one of --row or --features'],
  ])('refuses %j with exit 2 and one line', async (args, message) => {
    const r = await edgeml(['predict', '--model', model, ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr.startsWith(message)).toBe(true);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('needs exactly one model source', async () => {
    const r = await edgeml(['predict', '--row', '1,2,3,4']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('edgeml: give exactly one of --agent-dir, --model or --url\n');
  });
});

describe('edgeml batch', () => {
  const badCsv = async () => {
    const rows = (await irisRows()).slice(0, 20).map((r) => r.join(','));
    rows[4] = '5.0,3.6,oops,0.2,setosa'; // line 6
    rows[9] = '4.9,3.1,1.5'; // line 11
    rows[14] = '5.8,4.0,1.2,,setosa'; // line 16
    const file = join(dir, 'bad.csv');
    await writeFile(file, [`${features.join(',')},species`, ...rows].join('\n') + '\n');
    return file;
  };

  it('skip: predicts the good rows, reports every bad line and writes them to OUT.errors.jsonl', async () => {
    const input = await badCsv();
    const out = join(dir, 'skip.csv');
    const r = await edgeml(['batch', '--in', input, '--out', out, '--model', model, '--on-error', 'skip']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^done: 17 rows predicted, 3 bad, of 20 read/);
    expect(r.stdout).toContain('line 6: column "petal_length" holds "oops", not a finite number');
    expect(r.stdout).toContain('line 11: has 3 fields, the header has 5');
    expect(r.stdout).toContain('line 16: column "petal_width" is empty');
    const errors = (await readFile(`${out}.errors.jsonl`, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(errors.map((e) => e.line)).toEqual([6, 11, 16]);
    const lines = (await readFile(out, 'utf8')).trim().split('\n');
    expect(lines[0]).toBe('line,sepal_length,sepal_width,petal_length,petal_width,species,prediction,confidence,p_setosa,p_versicolor,p_virginica,model,model_version');
    expect(lines).toHaveLength(18);
    expect(lines.slice(1).every((l) => /,iris,sha256:[0-9a-f]{12}$/.test(l))).toBe(true);
  });

  it('fail: stops at the first bad line with exit 1 naming it', async () => {
    const input = await badCsv();
    const r = await edgeml(['batch', '--in', input, '--out', join(dir, 'fail.csv'), '--model', model]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`edgeml: ${input}:6: column "petal_length" holds "oops", not a finite number\n`);
  });

  it('reads and writes JSON lines, with --json for the summary', async () => {
    const input = join(dir, 'in.jsonl');
    const rows = (await irisRows()).slice(0, 5);
    await writeFile(input, rows.map((r, i) => JSON.stringify({ id: i, ...Object.fromEntries(features.map((f, j) => [f, Number(r[j])])) })).join('\n') + '\nnot json\n');
    const out = join(dir, 'out.jsonl');
    const r = await edgeml(['batch', '--in', input, '--out', out, '--model', model, '--on-error', 'skip', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ records: 6, predicted: 5, bad: 1, errors: [{ line: 6 }], model: { name: 'iris' } });
    const outRows = (await readFile(out, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(outRows.map((o) => [o.line, o.input.id, o.prediction])).toEqual(rows.map((r, i) => [i + 1, i, r[4]]));
  });

  // Three passes over the file (reference, killed run, resume): a minute or more on a loaded 2-core machine.
  it('resumes a run killed with SIGKILL without redoing finished rows, ending equal to an uninterrupted run', async () => {
    const rows = await irisRows();
    // Large enough that the run is still going when its first checkpoint appears, even when fast:
    // with workers the first checkpoint follows the first 1 MiB block (~48k rows), and ~6 more remain.
    const n = 300_000;
    const lines = [`id,${features.join(',')}`];
    for (let i = 0; i < n; i++) lines.push(`${i},${rows[i % rows.length]!.slice(0, 4).join(',')}`);
    const input = join(dir, 'big.csv');
    await writeFile(input, lines.join('\n') + '\n');
    const reference = join(dir, 'big-ref.csv');
    expect((await edgeml(['batch', '--in', input, '--out', reference, '--model', model])).code).toBe(0);

    const out = join(dir, 'big-out.csv');
    const progress = `${out}.progress.json`;
    const child = spawn(process.execPath, [join(repoRoot, 'cli/bin/edgeml.js'), 'batch', '--in', input, '--out', out, '--model', model, '--checkpoint-rows', '5000'], { stdio: 'ignore' });
    const exited = new Promise((r) => child.once('exit', r));
    let done = 0;
    const deadline = Date.now() + 60_000;
    while (done === 0 && Date.now() < deadline && child.exitCode === null) {
      await new Promise((r) => setTimeout(r, 5));
      done = await readFile(progress, 'utf8').then((t) => JSON.parse(t).records as number, () => 0);
    }
    child.kill('SIGKILL');
    await exited;
    expect(child.signalCode, 'the run ended before it could be killed; make the input larger').toBe('SIGKILL');
    const checkpoint = JSON.parse(await readFile(progress, 'utf8'));
    expect(checkpoint.records).toBeGreaterThan(0);
    expect(checkpoint.records).toBeLessThan(n);

    const r = await edgeml(['batch', '--in', input, '--out', out, '--model', model, '--resume', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.resumedFrom).toBe(checkpoint.records);
    expect(summary.records).toBe(n);
    const got = await readFile(out, 'utf8');
    // Every input row exactly once, in order, and the very bytes of the uninterrupted run.
    const ids = got.trim().split('\n').slice(1).map((l) => Number(l.split(',')[1]));
    expect(ids).toHaveLength(n);
    expect(ids.every((id, i) => id === i)).toBe(true);
    expect(got === (await readFile(reference, 'utf8'))).toBe(true);
    expect(await stat(progress).catch(() => null)).toBeNull();
  }, 300_000);

  it('refuses an unknown input format and a missing model source with exit 2', async () => {
    const txt = join(dir, 'rows.txt');
    await writeFile(txt, '1,2,3,4\n');
    const a = await edgeml(['batch', '--in', txt, '--out', join(dir, 'x.csv'), '--model', model]);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/cannot tell the format of .*rows\.txt from its name/);
    const b = await edgeml(['batch', '--in', txt, '--out', join(dir, 'x.csv')]);
    expect(b.code).toBe(2);
    expect(b.stderr).toBe('edgeml: give exactly one of --agent-dir or --model\n');
  });
});

describe('edgeml agent install-service', () => {
  it('writes a hardened systemd unit that starts this CLI with this node and may write only the data dir', async () => {
    const dataDir = join(dir, 'agent data');
    const config = join(dir, 'agent.json');
    await writeFile(config, JSON.stringify({ deviceId: 'pi-1', dataDir, model: 'iris', broker: { url: 'mqtt://hub.local:1883' }, rootKey: 'root.pub' }));
    const unitFile = join(dir, 'edgeml-agent.service');
    const r = await edgeml(['agent', 'install-service', '--config', config, '--user', 'edgeml', '--out', unitFile]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`wrote ${unitFile}`);
    expect(r.stdout).toContain('systemctl enable --now edgeml-agent.service');
    const unit = await readFile(unitFile, 'utf8');
    const lines = unit.split('\n');
    const cli = join(repoRoot, 'cli/bin/edgeml.js');
    expect(lines).toContain(`ExecStart=${process.execPath} ${cli} agent start --config ${config}`);
    expect(process.execPath.startsWith('/')).toBe(true);
    for (const l of ['[Unit]', '[Service]', '[Install]', 'User=edgeml', 'Restart=always', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'PrivateTmp=yes', 'WantedBy=multi-user.target', 'After=network-online.target']) {
      expect(lines, l).toContain(l);
    }
    // The data dir has a space: systemd needs it quoted.
    expect(lines).toContain(`ReadWritePaths="${dataDir}"`);
    expect(lines.some((l) => l.startsWith('MemoryDenyWriteExecute'))).toBe(false);
  });

  it('refuses root as the service user and a missing config', async () => {
    const config = join(dir, 'agent.json');
    const root = await edgeml(['agent', 'install-service', '--config', config, '--user', 'root', '--out', join(dir, 'x.service')]);
    expect(root.code).toBe(2);
    expect(root.stderr).toMatch(/must not run as root/);
    const missing = await edgeml(['agent', 'install-service', '--config', join(dir, 'nope.json'), '--out', join(dir, 'x.service')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read agent config .*nope\.json: ENOENT/);
  });
});

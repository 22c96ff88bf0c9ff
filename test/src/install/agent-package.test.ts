/**
 * The device package as a device gets it: `npm run pack`'s edgeml-agent tarball installed by
 * npm into an empty folder outside the repository, with no native addon in the tree; then its
 * `edgeml-agent` command enrols at a real hub, installs the signed int8 TFLite release over
 * MQTT and answers predictions on its local API. The agent runs as its own process from the
 * installed tree and is killed with SIGKILL at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { access, mkdir, readFile, realpath, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_ENV, AGENT_NODE_FLAGS } from '@edgeml/agent';
import { releaseInputFrom, runPipeline, type Candidate } from '@edgeml/hub';
import { deviceRuntimes } from 'edgeml';
import { dataFile, tempDir } from '../helpers/cli.js';
import { startTestHub, waitFor, type TestHub } from '../helpers/fleet.js';
import { freePort } from '../helpers/mosquitto.js';
import { predictLoad } from '../helpers/predict-load.js';
import { filesEnding, npmEnv, packTarball, runProgram, treeBytes, type Run } from './packed.js';

/** The install budget for the device package. */
const INSTALL_LIMIT_BYTES = 40 * 1024 * 1024;

let dir: string;
let cleanup: () => Promise<void>;
let device: string;
let bin: string;
let install: Run;
let hub: TestHub | undefined;
let candidate: Candidate;
const children: ChildProcess[] = [];

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('install-agent'));
  device = join(dir, 'device');
  await mkdir(device, { recursive: true });
  await writeFile(join(device, 'package.json'), JSON.stringify({ name: 'device', private: true }));
  const tgz = await packTarball('agent', join(dir, 'pack'));
  // npm installs while the model trains: both are what a real fleet does on different machines.
  [install, candidate] = await Promise.all([
    runProgram('npm', ['install', tgz], { cwd: device, env: npmEnv }),
    runPipeline({ data: dataFile('iris.csv'), target: 'species', arch: 'mlp', seed: 42, format: 'tflite-int8', runtimes: deviceRuntimes() }),
  ]);
  bin = join(device, 'node_modules/.bin/edgeml-agent');
}, 300_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await hub?.stop();
  await cleanup();
});

const agentCli = (args: string[]) => runProgram(bin, args, { cwd: device, timeoutMs: 60_000 });

/** The enrolled device (set by the enrolment test, reused by the memory test). */
let enrolled: { config: string; apiPort: number } | undefined;

/** Start the installed agent as systemd would and wait until it serves version 1. */
async function startInstalled(config: string, apiPort: number): Promise<{ child: ChildProcess; api: string }> {
  const child = spawn(bin, ['start', '--config', config], { cwd: device, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  let log = '';
  child.stderr!.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-8000)));
  const api = `http://127.0.0.1:${apiPort}`;
  await waitFor(
    'the installed agent to serve version 1',
    async () => {
      if (child.exitCode !== null) throw new Error(`the agent exited with ${child.exitCode}: ${log}`);
      const res = await fetch(`${api}/v1/model`).catch(() => undefined);
      return res?.ok && ((await res.json()) as { version?: number }).version === 1 ? true : undefined;
    },
    120_000,
    200,
  ).catch((e: unknown) => {
    throw new Error(`${(e as Error).message}; agent log: ${log}`);
  });
  return { child, api };
}

describe('the packed agent, installed by npm', () => {
  it('installs into an empty folder with an edgeml-agent command and no native addon', async () => {
    expect(install.code, install.stderr).toBe(0);
    await access(bin);
    const modules = join(device, 'node_modules');
    expect(await filesEnding(modules, '.node')).toEqual([]);
    // Nothing of the trainer, the hub or the benchmarks comes along.
    for (const absent of ['@tensorflow/tfjs', '@tensorflow/tfjs-layers', 'onnxruntime-node', 'better-sqlite3', 'aedes', '@edgeml/hub', '@edgeml/ml']) {
      const found = await filesEnding(modules, `${absent}/package.json`);
      expect(found, absent).toEqual([]);
    }
    expect(await treeBytes(modules)).toBeLessThanOrEqual(INSTALL_LIMIT_BYTES);
    const help = await agentCli(['--help']);
    expect(help.code).toBe(0);
    for (const command of ['enroll', 'start', 'predict', 'batch', 'install-service']) expect(help.stdout).toContain(command);
  });

  it('enrols at a real hub, installs the signed TFLite release and serves predictions', async () => {
    expect(install.code, install.stderr).toBe(0);
    hub = await startTestHub();
    await hub.hub.publish({ ...releaseInputFrom(candidate, { model: 'iris', budgets: { probationMs: 0 } }) }, { stage: false });
    const apiPort = await freePort();
    const config = join(dir, 'agent.json');
    const enrolledRun = await agentCli([
      'enroll', '--hub', hub.hub.httpUrl!, '--token', hub.hub.createEnrollToken(), '--device-id', 'pi-1', '--model', 'iris',
      '--data-dir', join(dir, 'agent-data'), '--config', config, '--api-port', String(apiPort),
    ]);
    expect(enrolledRun.code, enrolledRun.stderr).toBe(0);
    expect(enrolledRun.stdout).toContain(`edgeml-agent start --config ${config}`);
    enrolled = { config, apiPort };

    const { child, api } = await startInstalled(config, apiPort);

    const res = await fetch(`${api}/v1/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ row: [5.1, 3.5, 1.4, 0.2] }) });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { model: string; version: number; predictions: { label: string }[] };
    expect(body).toMatchObject({ model: 'iris', version: 1 });
    expect(candidate.training.spec.labels).toContain(body.predictions[0]!.label);

    // The package's own predict command, through the running agent's API.
    const one = await agentCli(['predict', '--url', api, '--row', '6.7,3.0,5.2,2.3', '--json']);
    expect(one.code, one.stderr).toBe(0);
    expect(JSON.parse(one.stdout)).toMatchObject({ model: 'iris', version: 1 });

    child.kill('SIGKILL');

    // Offline batch over the installed model with two worker threads, no network: every row answered, in order.
    const rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]];
    const input = join(dir, 'rows.csv');
    await writeFile(input, [candidate.training.spec.features.join(','), ...Array.from({ length: 600 }, (_, i) => rows[i % 3]!.join(','))].join('\n') + '\n');
    const output = join(dir, 'out.jsonl');
    const batch = await agentCli(['batch', '--in', input, '--out', output, '--agent-dir', join(dir, 'agent-data'), '--workers', '2', '--json']);
    expect(batch.code, batch.stderr).toBe(0);
    const answers = (await readFile(output, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { prediction: string });
    expect(answers).toHaveLength(600);
    for (let i = 3; i < 600; i++) expect(answers[i]!.prediction).toBe(answers[i % 3]!.prediction);

    // The unit systemd runs starts the installed launcher with the agent's V8 flags, as its shebang does.
    const unitFile = join(dir, 'edgeml-agent.service');
    const unit = await agentCli(['install-service', '--config', config, '--user', 'edgeml', '--out', unitFile]);
    expect(unit.code, unit.stderr).toBe(0);
    const unitText = await readFile(unitFile, 'utf8');
    const execStart = unitText.split('\n').find((l) => l.startsWith('ExecStart='));
    const launcher = await realpath(bin);
    expect(execStart).toBe(`ExecStart=${process.execPath} ${AGENT_NODE_FLAGS.join(' ')} ${launcher} start --config ${config}`);
    const assignments = Object.entries(AGENT_ENV).map(([k, v]) => `${k}=${v}`);
    for (const a of assignments) expect(unitText).toContain(`\nEnvironment=${a}\n`);
    expect((await readFile(launcher, 'utf8')).split('\n')[0]).toBe(`#!/usr/bin/env -S ${assignments.join(' ')} node ${AGENT_NODE_FLAGS.join(' ')}`);
  });

  // Issue 13: the agent idles small with a model loaded and gives back what a burst took.
  // `npm run bench -- footprint` measures the figures against the targets (70 MB, 1.10x);
  // this guards them with room for a busy test machine. Before the fixes: ~100 MB and 1.39x.
  it('holds its memory over 100,000 predictions: idle RSS and RSS after the load stay bounded', async () => {
    expect(enrolled, 'the enrolment test ran first').toBeDefined();
    const { child, api } = await startInstalled(enrolled!.config, enrolled!.apiPort);
    const rss = async () => Number(/VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024;
    // Settle: start-up's garbage is collected once requests stop (agent/src/idle-gc.ts).
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const idle = await rss();
    await predictLoad(Number(new URL(api).port), [JSON.stringify({ row: [5.1, 3.5, 1.4, 0.2] })], PREDICTIONS, CLIENTS);
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const after = await rss();
    child.kill('SIGKILL');
    expect(idle, `idle RSS ${idle.toFixed(1)} MB`).toBeLessThanOrEqual(IDLE_LIMIT_MB);
    expect(after / idle, `RSS ${idle.toFixed(1)} MB idle, ${after.toFixed(1)} MB after ${PREDICTIONS} predictions`).toBeLessThanOrEqual(GROWTH_LIMIT);
  }, 300_000);
});

const PREDICTIONS = 100_000;
const CLIENTS = 8;
const SETTLE_MS = 2_500;
const IDLE_LIMIT_MB = 80;
const GROWTH_LIMIT = 1.15;

/**
 * The device package's footprint (issues 7 and 13), on a real agent process: `npm run pack`'s
 * edgeml-agent tarball installed by npm into an empty folder (its size on disk, no native
 * addon), then a hub (in this process) publishes the int8 digits CNN, a device enrols and
 * installs it, and is stopped. Each round starts the installed agent again on that data dir
 * (`edgeml-agent start --config ...`, as systemd would), and measures: time from spawn to the
 * first answered POST /v1/predict, RSS when idle with the model loaded, and RSS after 100k
 * predictions over its local API. The monorepo's `edgeml agent start` runs beside it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnTestAgent, startTestHub, waitFor } from '../../helpers/fleet.js';
import { postPredict, predictLoad } from '../../helpers/predict-load.js';
import { cliBin, deviceModel, freePort, procMemory, RUNTIME_LABEL, sleep } from '../device.js';
import type { BenchContext, Section, SectionResult, Table } from '../section.js';
import { measuredValue, pairedRatio, summarize, type Target } from '../stats.js';
import { filesEnding, npmEnv, packTarball, runProgram, treeBytes } from '../../install/packed.js';

const IDLE_TARGET: Target = { op: '<=', value: 70, source: 'issue 13' };
const COLD_TARGET: Target = { op: '<=', value: 1.0, source: 'issue 13' };
const FLAT_TARGET: Target = { op: '<=', value: 1.1, source: 'issue 13' };
const INSTALL_TARGET: Target = { op: '<=', value: 40, source: 'issue 13' };
const PREDICTIONS = 100_000;
const CLIENTS = 8;
/** Quiet time before an RSS reading: start-up (or the load) settles, timers run, GC may run. */
const SETTLE_MS = 2_000;
const MAX_ROUNDS = 5;
const MONOREPO_ROUNDS = 3;

interface Variant {
  label: string;
  /** The program and its arguments before `start --config FILE`. */
  command: string[];
}

/** The installed device package (its launcher's shebang sets its V8 flags) and the monorepo CLI. */
const variants = (installedBin: string): [Variant, Variant] => [
  { label: 'edgeml-agent start (installed package)', command: [installedBin] },
  { label: 'node cli/bin/edgeml.js agent start (monorepo)', command: [process.execPath, cliBin, 'agent'] },
];

interface Installed {
  bin: string;
  megabytes: number;
  nativeAddons: string[];
  cleanup: () => Promise<void>;
}

/** The device package as a device gets it: packed, then installed by npm into an empty folder. */
async function installAgentPackage(): Promise<Installed> {
  const dir = await mkdtemp(join(tmpdir(), 'edgeml-footprint-'));
  try {
    const tgz = await packTarball('agent', join(dir, 'pack'));
    const device = join(dir, 'device');
    await mkdir(device);
    await writeFile(join(device, 'package.json'), JSON.stringify({ name: 'device', private: true }));
    const r = await runProgram('npm', ['install', tgz], { cwd: device, env: npmEnv });
    if (r.code !== 0) throw new Error(`npm install of ${tgz} failed: ${r.stderr.slice(-2000)}`);
    const modules = join(device, 'node_modules');
    return {
      bin: join(modules, '.bin/edgeml-agent'),
      megabytes: (await treeBytes(modules)) / (1024 * 1024),
      nativeAddons: await filesEnding(modules, '.node'),
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

interface Round {
  coldStartS: number;
  idleMB: number;
  afterMB: number;
  peakMB: number;
  predictionsPerSec: number;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** One start of the agent on the installed data dir: cold start, idle RSS, RSS after the load. */
async function start(v: Variant, configPath: string, port: number, bodies: string[]): Promise<Round> {
  const t0 = performance.now();
  const [program, ...args] = v.command;
  const child = spawn(program!, [...args, 'start', '--config', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  try {
    // Poll on fresh connections: a refused connect is the agent not listening yet.
    let coldStartS: number;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the agent exited (${child.exitCode}) before answering: ${stderr.trim()}`);
      if ((await postPredict(false, port, bodies[0]!).catch(() => 0)) === 200) {
        coldStartS = (performance.now() - t0) / 1000;
        break;
      }
      if (performance.now() - t0 > 60_000) throw new Error(`the agent gave no prediction within 60 s: ${stderr.trim()}`);
      await sleep(2);
    }
    await sleep(SETTLE_MS);
    const idle = await procMemory(child.pid!);
    // 100k predictions, one row per request, from a few keep-alive clients at once.
    const started = performance.now();
    await predictLoad(port, bodies, PREDICTIONS, CLIENTS);
    const predictionsPerSec = PREDICTIONS / ((performance.now() - started) / 1000);
    await sleep(SETTLE_MS);
    const after = await procMemory(child.pid!);
    if (!idle || !after) throw new Error('cannot read the agent process memory from /proc');
    return { coldStartS, idleMB: idle.rssMB, afterMB: after.rssMB, peakMB: after.peakMB, predictionsPerSec };
  } finally {
    await stop(child);
  }
}

export const footprintSection: Section = {
  name: 'footprint',
  title: 'Agent RSS and cold start (digits CNN, int8 TFLite, real agent process)',
  async run(ctx: BenchContext): Promise<SectionResult> {
    const dm = await deviceModel(ctx);
    ctx.progress('packing the device package and installing it with npm into an empty folder');
    const installed = await installAgentPackage();
    const VARIANTS = variants(installed.bin);
    const t = await startTestHub();
    try {
      await t.hub.publish({
        model: 'digits',
        channel: 'stable',
        task: 'classification',
        artifact: dm.artifact,
        format: 'tflite-int8',
        runtime: 'tflite-xnnpack',
        spec: dm.trained.spec,
        validation: {},
        selfTest: dm.selfTest,
        budgets: { probationMs: 0 },
      });
      // Install: enrol a device and let its agent download, verify, self-test and commit.
      const port = await freePort();
      ctx.progress('installing the model on a device data dir (enrol, download, verify, commit)');
      const installer = await spawnTestAgent(t, 'bench-device', { api: { host: '127.0.0.1', port } }, 'digits');
      try {
        await waitFor(
          'the agent to serve version 1',
          async () => {
            const res = await fetch(`http://127.0.0.1:${port}/v1/model`).catch(() => undefined);
            return res?.ok && ((await res.json()) as { version?: number }).version === 1 ? true : undefined;
          },
          120_000,
        );
      } finally {
        await installer.stop();
      }
      const configPath = join(installer.dir, 'agent.json');
      const bodies = dm.rawRows.map((row) => JSON.stringify({ row }));
      const measure = async (v: Variant, n: number): Promise<Round[]> => {
        const rounds: Round[] = [];
        for (let round = 0; round < n; round++) {
          const r = await start(v, configPath, port, bodies);
          rounds.push(r);
          ctx.progress(`  ${v.label} ${round + 1}/${n}: cold start ${r.coldStartS.toFixed(3)} s, idle RSS ${r.idleMB.toFixed(1)} MB, after ${PREDICTIONS} predictions ${r.afterMB.toFixed(1)} MB`);
        }
        return rounds;
      };
      const plain = await measure(VARIANTS[0], Math.min(ctx.rounds, MAX_ROUNDS));
      const capped = await measure(VARIANTS[1], Math.min(ctx.rounds, MONOREPO_ROUNDS));

      const pick = (rounds: Round[], k: keyof Round) => rounds.map((r) => r[k]);
      const cell = (k: keyof Round) => ({ plain: summarize(pick(plain, k)), capped: summarize(pick(capped, k)) });
      const table: Table = {
        title: `the agent process (node ${process.version}, ${RUNTIME_LABEL}); median (p25-p75) of ${plain.length} starts (${capped.length} of the monorepo CLI)`,
        columns: [
          { key: 'what', header: 'what' },
          { key: 'plain', header: 'edgeml-agent (installed package)', digits: 3 },
          { key: 'capped', header: 'edgeml agent (monorepo CLI)', digits: 3 },
        ],
        rows: [
          { what: 'cold start: spawn to first answered POST /v1/predict (s)', ...cell('coldStartS') },
          { what: 'idle RSS, model loaded (MB)', ...cell('idleMB') },
          { what: `RSS after ${PREDICTIONS.toLocaleString('en-US')} predictions (MB)`, ...cell('afterMB') },
          { what: 'peak RSS, VmHWM (MB)', ...cell('peakMB') },
          { what: `predictions/s under the load (${CLIENTS} keep-alive clients, one row each)`, ...cell('predictionsPerSec') },
        ],
      };
      return {
        tables: [table],
        ratios: [
          measuredValue('agent idle RSS with the model loaded', { label: 'VmRSS', values: pick(plain, 'idleMB') }, 'MB', IDLE_TARGET),
          pairedRatio(`agent RSS after ${PREDICTIONS.toLocaleString('en-US')} predictions vs idle`, { label: 'VmRSS after', values: pick(plain, 'afterMB') }, { label: 'VmRSS idle', values: pick(plain, 'idleMB') }, FLAT_TARGET),
          measuredValue('agent cold start to first prediction', { label: 'spawn to first 200 from /v1/predict', values: pick(plain, 'coldStartS') }, 's', COLD_TARGET),
          measuredValue('agent package installed size (npm install of edgeml-agent into an empty folder)', { label: 'bytes under node_modules', values: [installed.megabytes] }, 'MB', INSTALL_TARGET),
          measuredValue('native addons (.node files) in the installed agent', { label: '.node files', values: [installed.nativeAddons.length] }, 'files', { op: '<=', value: 0, source: 'issue 13' }),
          measuredValue('monorepo CLI agent (edgeml agent start): idle RSS', { label: 'VmRSS', values: pick(capped, 'idleMB') }, 'MB'),
          pairedRatio(`monorepo CLI agent: RSS after ${PREDICTIONS.toLocaleString('en-US')} predictions vs idle`, { label: 'VmRSS after', values: pick(capped, 'afterMB') }, { label: 'VmRSS idle', values: pick(capped, 'idleMB') })
        ],
        notes: [
          'the data dir is a real install: enrolled at a hub running in the bench process (its broker stays up, so each start also connects, subscribes and publishes its status), the signed release downloaded over MQTT, verified, self-tested and committed; each round restarts the agent on it, as systemd would, with the telemetry and feedback observers the agent attaches',
          `cold start: from spawn() to the first 200 answer of POST /v1/predict, polled every 2 ms on fresh connections; RSS: VmRSS from /proc/<pid>/status ${SETTLE_MS / 1000} s after the first answer (idle) and ${SETTLE_MS / 1000} s after ${PREDICTIONS.toLocaleString('en-US')} one-row requests from ${CLIENTS} keep-alive clients (after)`,
          'the targets are judged on the installed device package (`npm run pack`, then `npm install` of edgeml-agent-<version>.tgz into an empty folder, started through its launcher, whose shebang passes --max-semi-space-size=1); the second column is the monorepo CLI (`node cli/bin/edgeml.js agent start`, no node flags) on the same data dir',
          `installed size: every file under the install's node_modules, ${installed.megabytes.toFixed(1)} MB; native addons found: ${installed.nativeAddons.length}`,
          'the load client runs in the bench process, on the same 2 cores as the agent',
        ],
        details: { installedPackage: plain, monorepoCli: capped, installedMB: installed.megabytes, nativeAddons: installed.nativeAddons },
      };
    } finally {
      await t.stop();
      await installed.cleanup();
    }
  },
};

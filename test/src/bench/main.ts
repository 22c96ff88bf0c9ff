/**
 * `npm run bench [-- SECTION...] [--out FILE] [--rounds N] [--round-ms MS]`: runs the benchmark
 * sections (all by default), prints a report on stdout, progress on stderr, and writes every
 * figure with the machine it ran on to bench-results.json (or --out).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createFixtures } from './fixtures.js';
import { renderSection } from './report.js';
import type { BenchContext, Section, SectionResult } from './section.js';
import { agentSection } from './sections/agent.js';
import { batchSection } from './sections/batch.js';
import { fleetSection } from './sections/fleet.js';
import { footprintSection } from './sections/footprint.js';
import { httpSection } from './sections/http.js';
import { peerSection } from './sections/peer.js';
import { runtimesSection } from './sections/runtimes.js';
import { tfliteSection } from './sections/tflite.js';
import { searchSection } from './sections/search.js';
import { trainingSection } from './sections/training.js';

// Order is report order. Later sections (fleet) go here.
const SECTIONS: Section[] = [runtimesSection, tfliteSection, peerSection, agentSection, httpSection, batchSection, footprintSection, fleetSection, trainingSection, searchSection];

const USAGE = `usage: npm run bench -- [SECTION...] [--out FILE] [--rounds N] [--round-ms MS] [--seed N] [--cnn-epochs N]
sections: ${SECTIONS.map((s) => `${s.name} (${s.title})`).join(', ')}`;

class UsageError extends Error {}

function positiveInt(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, not "${text}"`);
  return n;
}

function parse(argv: string[]) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        out: { type: 'string', default: 'bench-results.json' },
        rounds: { type: 'string' },
        'round-ms': { type: 'string' },
        seed: { type: 'string' },
        'cnn-epochs': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { values, positionals } = parsed;
  const unknown = positionals.filter((p) => !SECTIONS.some((s) => s.name === p));
  if (unknown.length) throw new UsageError(`unknown section ${unknown.map((u) => `"${u}"`).join(', ')}; the sections are ${SECTIONS.map((s) => s.name).join(', ')}`);
  return {
    help: values.help ?? false,
    sections: positionals.length ? SECTIONS.filter((s) => positionals.includes(s.name)) : SECTIONS,
    out: resolve(values.out),
    // Odd, so the median is a measured round rather than an average of two.
    rounds: positiveInt('rounds', values.rounds, 7),
    roundMs: positiveInt('round-ms', values['round-ms'], 250),
    seed: positiveInt('seed', values.seed, 42),
    cnnEpochs: positiveInt('cnn-epochs', values['cnn-epochs'], 6),
  };
}

function gitCommit(): string | null {
  try {
    const root = fileURLToPath(new URL('../../../', import.meta.url));
    const sha = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '';
    return dirty ? `${sha}+dirty` : sha;
  } catch {
    return null;
  }
}

/**
 * Versions of the ML packages, read from their package.json: importing tfjs to ask it would
 * load it into this process, which the device-side sections must not measure.
 */
function packageVersions(): Record<string, string> {
  const require = createRequire(import.meta.url);
  const names = ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-tflite'];
  return Object.fromEntries(
    names.map((name) => {
      try {
        return [name.replace('@tensorflow/', ''), (JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string }).version];
      } catch {
        return [name.replace('@tensorflow/', ''), 'unknown'];
      }
    }),
  );
}

function machine() {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cpus: cpus.length,
    availableParallelism: os.availableParallelism(),
    totalMemMB: Math.round(os.totalmem() / 2 ** 20),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    tfjs: packageVersions(),
    commit: gitCommit(),
  };
}

type SectionRecord = { name: string; title: string; seconds: number } & (SectionResult | { error: string });

async function main(): Promise<number> {
  let opts;
  try {
    opts = parse(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`bench: ${e.message}\n${USAGE}\n`);
    return 2;
  }
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const progress = (line: string) => process.stderr.write(`${line}\n`);
  const ctx: BenchContext = {
    rounds: opts.rounds,
    roundMs: opts.roundMs,
    fixtures: createFixtures({ seed: opts.seed, cnnEpochs: opts.cnnEpochs, progress }),
    progress,
  };
  const started = new Date();
  const info = machine();
  // The load average says how busy the shared machine was; figures are read against it.
  const loadBefore = os.loadavg();
  process.stdout.write(
    `edgeml bench, ${started.toISOString()}\n${info.cpus} x ${info.cpuModel}, ${info.platform}, node ${info.node}, tfjs ${info.tfjs['tfjs-core']}, ` +
      `load ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, commit ${info.commit ?? 'unknown'}\n\n`,
  );

  const records: SectionRecord[] = [];
  let failed = false;
  for (const section of opts.sections) {
    const t0 = process.hrtime.bigint();
    progress(`[${section.name}] ${section.title}`);
    try {
      const result = await section.run(ctx);
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      records.push({ name: section.name, title: section.title, seconds, ...result });
      process.stdout.write(`${renderSection(section.title, result, seconds)}\n\n`);
    } catch (e) {
      // One broken section should not cost the figures of the others; it still fails the run.
      failed = true;
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const error = e instanceof Error ? (e.stack ?? e.message) : String(e);
      records.push({ name: section.name, title: section.title, seconds, error });
      process.stdout.write(`== ${section.title}: FAILED\n${error}\n\n`);
    }
  }

  const durationSeconds = (Date.now() - started.getTime()) / 1000;
  const report = {
    date: started.toISOString(),
    durationSeconds,
    machine: { ...info, loadavgBefore: loadBefore, loadavgAfter: os.loadavg() },
    options: { rounds: opts.rounds, roundMs: opts.roundMs, seed: opts.seed, cnnEpochs: opts.cnnEpochs, sections: opts.sections.map((s) => s.name) },
    sections: records,
  };
  await writeFile(opts.out, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`total ${durationSeconds.toFixed(1)} s; results written to ${opts.out}\n`);
  return failed ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`bench: internal error (a bug):\n${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 1;
  },
);

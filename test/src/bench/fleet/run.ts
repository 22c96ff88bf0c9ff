/**
 * Runs the fleet section alone and prints it:
 *
 *   node test/dist/bench/fleet/run.js [SIZE...] [--statuses full|final] [--profile DIR]
 *       [--timeout S]
 *       [--sim-procs K] [--drop] [--json FILE]
 *
 * --drop: after the release, every device loses its connection at once and the run times the
 * last wills into the registry.
 *
 * e.g. `node test/dist/bench/fleet/run.js 1000 10000`. `npm run bench -- fleet` runs the same
 * section inside the harness (sizes from EDGEML_BENCH_FLEET_SIZES).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { renderSection } from '../report.js';
import { fleetSizesFromEnv, runFleetSection } from '../sections/fleet.js';

const USAGE = `usage: node test/dist/bench/fleet/run.js [SIZE...] [--statuses full|final] [--profile DIR] [--timeout S] [--sim-procs K] [--drop] [--json FILE]`;

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        statuses: { type: 'string', default: 'full' },
        profile: { type: 'string' },
        timeout: { type: 'string' },
        'sim-procs': { type: 'string' },
        drop: { type: 'boolean' },
        json: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    process.stderr.write(`fleet: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.statuses !== 'full' && values.statuses !== 'final') {
    process.stderr.write(`fleet: --statuses must be full or final, not "${values.statuses}"\n`);
    return 2;
  }
  let sizes: number[];
  const timeoutS = values.timeout === undefined ? 120 : Number(values.timeout);
  const simProcs = values['sim-procs'] === undefined ? 2 : Number(values['sim-procs']);
  try {
    sizes = positionals.length ? fleetSizesFromEnv(positionals.join(',')) : fleetSizesFromEnv();
    if (!(simProcs >= 1 && Number.isInteger(simProcs))) throw new Error(`--sim-procs must be a positive integer, not "${values['sim-procs']}"`);
    if (!(timeoutS > 0)) throw new Error(`--timeout must be a positive number of seconds, not "${values.timeout}"`);
  } catch (e) {
    process.stderr.write(`fleet: ${(e as Error).message}\n`);
    return 2;
  }
  const profileDir = values.profile ? resolve(values.profile) : undefined;
  if (profileDir) await mkdir(profileDir, { recursive: true });
  const t0 = Date.now();
  const result = await runFleetSection({
    sizes,
    statuses: values.statuses,
    activeTimeoutMs: timeoutS * 1000,
    simProcs,
    drop: values.drop ?? false,
    ...(profileDir ? { profileDir } : {}),
    progress: (line) => process.stderr.write(`${line}\n`),
  });
  const seconds = (Date.now() - t0) / 1000;
  process.stdout.write(`${renderSection('Fleet simulator (issue 6)', result, seconds)}\n`);
  if (values.json) await writeFile(values.json, `${JSON.stringify({ date: new Date().toISOString(), seconds, ...result }, null, 2)}\n`);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`fleet: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 1;
  },
);

/**
 * Fleet simulator (issue 6, "Measure"): N simulated devices speaking the real protocol against
 * one real hub on this machine, for N = 1,000 and 10,000. Figures: time to connect the fleet,
 * time from `hub.publish(...)` until the hub's registry holds every device active on the new
 * version (target: 10,000 within 10 s on the embedded broker), hub CPU and RSS, broker.
 *
 * Sizes and options come from the environment, since the harness has no per-section flags:
 * EDGEML_BENCH_FLEET_SIZES=1000,10000 (default), EDGEML_BENCH_FLEET_STATUSES=full|final,
 * EDGEML_BENCH_FLEET_PROFILE=DIR (CPU profiles of the hub).
 */
import type { Cell, Section, SectionResult, Table } from '../section.js';
import { fleetRelease, runFleet, TARGET_MS, type FleetRun } from '../fleet/simulate.js';
import type { DevicesReport, Quantiles } from '../fleet/simulate.js';
import type { ProfileSummary } from '../fleet/hub-process.js';

export interface FleetSectionOptions {
  sizes: number[];
  statuses: 'full' | 'final';
  profileDir?: string;
  /** Give up on a fleet that is not all active after this long (default 120 s). */
  activeTimeoutMs?: number;
  /** Simulator processes (default 2). */
  simProcs?: number;
  /** Then drop every connection at once and time the last wills into the registry. */
  drop?: boolean;
  progress(line: string): void;
}

const label = (r: FleetRun) => `${r.n}`;

const s = (ms: number | null): Cell => (ms === null ? 'not reached' : ms / 1000);
const q = (x: Quantiles | null, k: keyof Quantiles): Cell => (x ? x[k] : 'n/a');

function headline(runs: FleetRun[]): Table {
  return {
    title: 'Publish to every device active, embedded broker (seconds; one run per size)',
    columns: [
      { key: 'n', header: 'devices' },
      { key: 'connect', header: 'connect s', digits: 1 },
      { key: 'rate', header: 'connects/s', digits: 0 },
      { key: 'p50', header: '50% active s', digits: 2 },
      { key: 'p99', header: '99% active s', digits: 2 },
      { key: 'all', header: 'all active s', digits: 2 },
      { key: 'target', header: `target <= ${TARGET_MS / 1000} s` },
      { key: 'hubCpu', header: 'hub CPU s', digits: 2 },
      { key: 'hubCores', header: 'hub cores', digits: 2 },
      { key: 'hubRss', header: 'hub RSS MB (before / peak)' },
      { key: 'simCpu', header: 'sim CPU s', digits: 2 },
      { key: 'simCores', header: 'sim cores', digits: 2 },
    ],
    rows: runs.map((r) => ({
      n: label(r),
      connect: r.connect.ms / 1000,
      rate: r.connect.rate,
      p50: s(r.registryActive.p50),
      p99: s(r.registryActive.p99),
      all: s(r.registryActive.all),
      target: r.hubExit ? `hub died at ${(r.hubExit.afterPublishMs / 1000).toFixed(0)} s` : r.n < 10_000 ? (r.targetMet ? 'within' : 'over') : r.targetMet ? 'met' : 'MISSED',
      hubCpu: r.hub.cpuS,
      hubCores: r.hub.cores,
      hubRss: `${r.hub.rssBeforeMB.toFixed(0)} / ${r.hub.maxRssMB.toFixed(0)}`,
      simCpu: r.sim.cpuS,
      simCores: r.sim.cores,
    })),
  };
}

function steps(runs: FleetRun[]): Table {
  const stepNames: [keyof DevicesReport['after'], string][] = [
    ['release', 'release received'],
    ['verified', 'release verified'],
    ['fetched', 'chunks fetched, sha256 checked'],
    ['activeSent', 'active status sent'],
    ['activeAcked', 'active status acked by broker'],
  ];
  return {
    title: 'Per device, ms after hub.publish() (over devices)',
    columns: [
      { key: 'n', header: 'fleet' },
      { key: 'step', header: 'step' },
      { key: 'count', header: 'devices', digits: 0 },
      { key: 'p50', header: 'p50 ms', digits: 0 },
      { key: 'p90', header: 'p90 ms', digits: 0 },
      { key: 'p99', header: 'p99 ms', digits: 0 },
      { key: 'max', header: 'max ms', digits: 0 },
    ],
    rows: runs.flatMap((r) => [
      ...stepNames.map(([k, step]) => {
        const x = r.devices.after[k];
        return { n: label(r), step, count: x?.n ?? 0, p50: q(x, 'p50'), p90: q(x, 'p90'), p99: q(x, 'p99'), max: q(x, 'max') };
      }),
      {
        n: label(r),
        step: 'active in hub registry',
        count: r.activeCount,
        p50: r.registryActive.p50 ?? 'n/a',
        p90: r.registryActive.p90 ?? 'n/a',
        p99: r.registryActive.p99 ?? 'n/a',
        max: r.registryActive.all ?? 'n/a',
      },
    ]),
  };
}

function drops(runs: FleetRun[]): Table[] {
  const rows = runs.filter((r) => r.drop);
  if (!rows.length) return [];
  return [
    {
      title: 'Mass disconnect: every device drops its connection at once (no DISCONNECT), last wills into the registry',
      columns: [
        { key: 'n', header: 'fleet' },
        { key: 'offline', header: 'offline in registry', digits: 0 },
        { key: 'ms', header: 'all offline s', digits: 2 },
        { key: 'cpu', header: 'hub CPU s', digits: 2 },
        { key: 'hub', header: 'hub' },
      ],
      rows: rows.map((r) => ({
        n: label(r),
        offline: r.drop!.offline,
        ms: r.drop!.allOfflineMs === null ? 'not reached' : r.drop!.allOfflineMs / 1000,
        cpu: r.drop!.hubCpuS ?? 'n/a',
        hub: r.drop!.hubExit ? `DIED after ${(r.drop!.hubExit.afterDropMs / 1000).toFixed(1)} s: ${r.drop!.hubExit.reason}` : 'survived',
      })),
    },
  ];
}

function profileTables(r: FleetRun, phase: string, p: ProfileSummary): Table[] {
  const cols = (first: string) => [
    { key: 'where', header: first },
    { key: 'ms', header: 'self ms', digits: 0 },
    { key: 'share', header: 'share', digits: 3 },
  ];
  return [
    {
      title: `Hub CPU profile, ${label(r)} devices, ${phase}: self time by module (${(p.totalMs / 1000).toFixed(1)} s sampled; ${p.file})`,
      columns: cols('module'),
      rows: p.byModule.map((e) => ({ where: e.where, ms: e.selfMs, share: e.share })),
    },
    {
      title: `Hub CPU profile, ${label(r)} devices, ${phase}: top functions by self time`,
      columns: cols('function'),
      rows: p.byFunction.map((e) => ({ where: e.where, ms: e.selfMs, share: e.share })),
    },
  ];
}

function profiles(runs: FleetRun[]): Table[] {
  return runs.flatMap((r) => [
    ...(r.profileConnect ? profileTables(r, 'connect phase', r.profileConnect) : []),
    ...(r.profile ? profileTables(r, 'publish to all active', r.profile) : []),
  ]);
}

function notes(runs: FleetRun[], statuses: 'full' | 'final'): string[] {
  const first = runs[0];
  const out = [
    `Each size runs on a fresh hub: startHub (@edgeml/hub) in its own Node process with the embedded aedes broker and the HTTP API on free ports, nothing else in that process, so "hub CPU" and "hub RSS" are the hub's and its broker's alone. The simulated devices run in ${runs[0]?.sim.procs ?? 2} other Node processes (mqtt.js, one connection per device, devices dealt out evenly); all share the machine's cores ("sim" figures are the simulator processes summed).`,
    `Each device enrols over HTTP (POST /v1/enroll with a one-time token from hub.createEnrollToken()), connects with its own credentials and a retained last will, publishes its retained status, subscribes to its release topics; on the release it runs verifyRelease (@edgeml/core) against the root key pinned at enrolment, fetches the artifact chunks over MQTT (window of 8, each chunk against its signed hash, the whole file with checkArtifactBytes) and publishes a DeviceStatus active on the new version.`,
    `Lightweight: no disk, no model loading, no self-test, no probation window, no telemetry. Statuses per update: ${statuses === 'full' ? 'as the real agent (downloading, verifying, installing, probation twice, active: 6 retained QoS 1 messages per device)' : 'the final active status only'}.`,
    `"all active" is read from the hub's registry (registry.sqlite, a read-only connection in the parent process polled every 20 ms, so polling costs the hub nothing), from just before hub.publish() until every device's row is state=active on the new version; checked at the end against hub.registry.listDevices().`,
    `Hub CPU is process.cpuUsage() of the hub process from just before hub.publish() to the moment all devices were active; "cores" is CPU time over wall time. RSS "before" is at publish (fleet connected), "peak" is the process's getrusage max RSS.`,
  ];
  if (first) {
    out.push(
      `Release: data/iris.csv through the hub's runPipeline, int8 TFLite, ${first.artifact.sizeBytes} bytes in ${first.artifact.chunks} chunk(s) of 64 KiB max; broker ${first.broker}; open-file limit ${first.openFileLimit} per process.`,
    );
  }
  for (const r of runs) {
    if (r.hubExit) {
      out.push(
        `${label(r)} devices: the HUB PROCESS DIED (exit ${r.hubExit.code}) ${(r.hubExit.afterPublishMs / 1000).toFixed(1)} s after publish with ${r.activeCount} of ${r.n} devices active: "${r.hubExit.reason}". Hub figures for that row are its last sample before it died.`,
      );
    }
    out.push(
      `${label(r)} devices: enrolment ${(r.enroll.ms / 1000).toFixed(1)} s (${r.enroll.perSecond.toFixed(0)}/s over HTTP); connect ${(r.connect.ms / 1000).toFixed(1)} s (hub ${r.connect.hubCpuS.toFixed(1)} CPU s, ${r.connect.hubCores.toFixed(2)} cores); ` +
        `hub ${r.settled ? 'went quiet' : 'was still busy'} ${(r.settleMs / 1000).toFixed(1)} s after the last status reached the registry; hub.publish() returned in ${r.publishCallMs.toFixed(0)} ms; ` +
        `registry cross-check ${r.crossCheck.active}/${r.crossCheck.total} active; refused ${r.devices.refused}, failed ${r.devices.failed}, disconnected ${r.devices.disconnected}` +
        `${r.devices.firstErrors.length ? ` (${r.devices.firstErrors.join('; ')})` : ''}; hub busy ${r.hubBusyAfterMs === null ? 'n/a' : `${(r.hubBusyAfterMs / 1000).toFixed(1)} s`} after the last device was active; ` +
        `hub event-loop utilisation ${(r.hub.elu * 100).toFixed(0)}% over the window; simulator RSS ${r.sim.rssMB.toFixed(0)} MB; machine load average ${r.load.before.toFixed(2)} before the run, ${r.load.after.toFixed(2)} after the window.`,
    );
  }
  return out;
}

export async function runFleetSection(o: FleetSectionOptions): Promise<SectionResult> {
  o.progress('  building the release (iris, int8 TFLite, hub pipeline)');
  const release = await fleetRelease();
  const runs: FleetRun[] = [];
  for (const n of o.sizes) {
    o.progress(`  fleet of ${n}`);
    runs.push(
      await runFleet({
        n,
        release,
        statuses: o.statuses,
        progress: o.progress,
        ...(o.simProcs ? { simProcs: o.simProcs } : {}),
        ...(o.drop ? { drop: true } : {}),
        ...(o.activeTimeoutMs ? { activeTimeoutMs: o.activeTimeoutMs } : {}),
        ...(o.profileDir ? { profileDir: o.profileDir } : {}),
      }),
    );
  }
  return {
    tables: [headline(runs), steps(runs), ...drops(runs), ...profiles(runs)],
    ratios: [],
    notes: notes(runs, o.statuses),
    details: { runs },
  };
}

export function fleetSizesFromEnv(text = process.env.EDGEML_BENCH_FLEET_SIZES): number[] {
  if (!text) return [1000, 10_000];
  const sizes = text.split(',').map((x) => Number(x.trim()));
  if (sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`fleet sizes must be positive integers separated by commas (e.g. 1000,10000), not "${text}"`);
  return sizes;
}

export const fleetSection: Section = {
  name: 'fleet',
  title: 'Fleet simulator (issue 6)',
  run: (ctx) =>
    runFleetSection({
      sizes: fleetSizesFromEnv(),
      statuses: process.env.EDGEML_BENCH_FLEET_STATUSES === 'final' ? 'final' : 'full',
      ...(process.env.EDGEML_BENCH_FLEET_PROFILE ? { profileDir: process.env.EDGEML_BENCH_FLEET_PROFILE } : {}),
      progress: ctx.progress,
    }),
};

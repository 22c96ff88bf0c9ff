/**
 * The fleet simulator: one real hub (its own process) and N simulated devices (spread over
 * simulator processes) speaking the real protocol. Measures how long a fleet takes to connect,
 * then the time from `hub.publish(...)` until the hub's registry holds every device active on
 * the new version, with the hub's CPU time and RSS over that window.
 *
 *   parent (this module)            hub process                 simulator processes
 *   tokens ----------------------> createEnrollToken()
 *   tokens --------------------------------------------------> POST /v1/enroll (HTTP)
 *                                                               N mqtt.js clients connect
 *   publish ---------------------> hub.publish(artifact) ----> verify, fetch chunks, report
 *   poll registry.sqlite (read-only) until N devices are active on the version
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { releaseInputFrom, runPipeline, type PublishInput } from '@edgeml/hub';
import { deviceRuntimes } from 'edgeml';
import { cpuBetween, spawnChild, wallMs, type Child, type ProcStats } from './ipc.js';
import type { HubStarted, ProfileSummary, Published } from './hub-process.js';
import { quantile } from '../stats.js';
import { SIM_STEPS, type ConnectResult, type EnrollResult, type SimReport, type SimStep } from './sim-process.js';

const IRIS_CSV = fileURLToPath(new URL('../../../../data/iris.csv', import.meta.url));
export const FLEET_MODEL = 'iris';
export const FLEET_CHANNEL = 'stable';
/** The issue's target: every device active within this long of the publish. */
export const TARGET_MS = 10_000;

/**
 * The release the fleet receives: the hub's own pipeline on data/iris.csv, shipped as int8
 * TFLite (a couple of KB, one 64 KiB chunk), built once per run and published on a fresh hub
 * each time.
 */
export async function fleetRelease(): Promise<PublishInput> {
  const c = await runPipeline({ data: IRIS_CSV, target: 'species', arch: 'mlp', seed: 42, format: 'tflite-int8', runtimes: deviceRuntimes() });
  return releaseInputFrom(c, { model: FLEET_MODEL, channel: FLEET_CHANNEL, budgets: { probationMs: 0 } });
}

export interface FleetOptions {
  n: number;
  release: PublishInput;
  /** `full`: the statuses a real agent sends during an update; `final`: the active one only. */
  statuses: 'full' | 'final';
  enrollConcurrency?: number;
  connectConcurrency?: number;
  /** Give up waiting for the fleet to report active after this long. */
  activeTimeoutMs?: number;
  /** Longest wait for the hub to go quiet after the fleet connected, before publishing. */
  settleMaxMs?: number;
  /** Record CPU profiles of the hub (connect phase; publish to all active) into this directory. */
  profileDir?: string;
  /** Simulator processes the devices are spread over (default 2). */
  simProcs?: number;
  /**
   * After the release: every device loses its connection at once (no DISCONNECT), and the run
   * measures how long until the registry shows them all offline through their last wills.
   */
  drop?: boolean;
  progress(line: string): void;
}

export interface Quantiles {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface DevicesReport {
  devices: number;
  active: number;
  refused: number;
  failed: number;
  disconnected: number;
  firstErrors: string[];
  /** ms after the hub's publish call at which devices reached each step. */
  after: Record<SimStep, Quantiles | null>;
}

export interface Milestones {
  first: number | null;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  all: number | null;
}

export interface FleetRun {
  n: number;
  broker: string;
  statuses: 'full' | 'final';
  openFileLimit: string;
  artifact: { sizeBytes: number; chunks: number; format: string };
  enroll: { ms: number; perSecond: number };
  connect: ConnectResult & { hubCpuS: number; hubCores: number };
  /** Time for the hub to go quiet after the connect phase (its CPU under 10% of a core). */
  settleMs: number;
  settled: boolean;
  /** `hub.publish(...)` call: sign, store, publish chunks and release (retained). */
  publishCallMs: number;
  /** ms after publish at which the hub's registry held this share of the fleet active. */
  registryActive: Milestones;
  activeCount: number;
  targetMet: boolean;
  hub: {
    cpuS: number;
    userS: number;
    systemS: number;
    /** Average cores busy over the window (1.0 = one core flat out). */
    cores: number;
    rssBeforeMB: number;
    rssAfterMB: number;
    maxRssMB: number;
    /** Event-loop utilisation over the window (0-1). */
    elu: number;
  };
  /** All simulator processes together (cores: summed). */
  sim: { procs: number; cpuS: number; cores: number; rssMB: number; maxRssMB: number };
  /** 1-minute load average of the machine before the run and after the window. */
  load: { before: number; after: number };
  /** The hub kept this busy after the last device was active (CPU above 10% of a core). */
  hubBusyAfterMs: number | null;
  crossCheck: { total: number; active: number; online: number };
  devices: DevicesReport;
  /** Set when the hub process ended during the window: when, how, and its first error line. */
  hubExit?: { afterPublishMs: number; code: string; reason: string };
  /** The mass-disconnect phase (`drop`): ms until every device was offline in the registry. */
  drop?: { allOfflineMs: number | null; offline: number; hubCpuS: number | null; hubExit?: { afterDropMs: number; code: string; reason: string } };
  profileConnect?: ProfileSummary;
  profile?: ProfileSummary;
}

const MB = 2 ** 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Wait for `p` (errors ignored) at most `ms`, without a timer left to hold the process open. */
async function within(p: Promise<unknown> | undefined, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p?.catch(() => undefined), new Promise((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

function openFileLimit(): { soft: number; text: string } {
  try {
    const soft = execFileSync('sh', ['-c', 'ulimit -Sn'], { encoding: 'utf8' }).trim();
    const hard = execFileSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim();
    return { soft: soft === 'unlimited' ? Infinity : Number(soft), text: `${soft} (hard ${hard})` };
  } catch {
    return { soft: Infinity, text: 'unknown' };
  }
}

const elu = (a: ProcStats, b: ProcStats) => {
  const active = b.eluActiveMs - a.eluActiveMs;
  const idle = b.eluIdleMs - a.eluIdleMs;
  return active + idle > 0 ? active / (active + idle) : 0;
};

/** Sample the hub until its CPU share over `windowMs` drops below `below` cores, or `maxMs`. */
async function untilQuiet(hub: Child, maxMs: number, below = 0.1, windowMs = 1000): Promise<{ ms: number; quiet: boolean }> {
  const t0 = wallMs();
  let prev = await hub.call<ProcStats>('stats');
  while (wallMs() - t0 < maxMs) {
    await sleep(windowMs);
    const cur = await hub.call<ProcStats>('stats');
    if (cpuBetween(prev, cur).cores < below) return { ms: wallMs() - t0, quiet: true };
    prev = cur;
  }
  return { ms: wallMs() - t0, quiet: false };
}

const summarise = (values: number[]): Quantiles | null => {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return { n: sorted.length, p50: quantile(sorted, 0.5), p90: quantile(sorted, 0.9), p99: quantile(sorted, 0.99), max: sorted[sorted.length - 1]! };
};

function mergeReports(reports: SimReport[]): DevicesReport {
  return {
    devices: reports.reduce((a, r) => a + r.devices, 0),
    active: reports.reduce((a, r) => a + r.active, 0),
    refused: reports.reduce((a, r) => a + r.refused, 0),
    failed: reports.reduce((a, r) => a + r.failed, 0),
    disconnected: reports.reduce((a, r) => a + r.disconnected, 0),
    firstErrors: [...new Set(reports.flatMap((r) => r.firstErrors))].slice(0, 5),
    after: Object.fromEntries(SIM_STEPS.map((k) => [k, summarise(reports.flatMap((r) => r.after[k]))])) as DevicesReport['after'],
  };
}

/** CPU and memory of the simulator processes together, between two samples of each. */
function simFigures(before: ProcStats[], after: ProcStats[]): FleetRun['sim'] {
  const cpu = after.map((b, i) => cpuBetween(before[i]!, b));
  return {
    procs: after.length,
    cpuS: cpu.reduce((a, c) => a + c.cpuS, 0),
    cores: cpu.reduce((a, c) => a + c.cores, 0),
    rssMB: after.reduce((a, s) => a + s.rssBytes, 0) / MB,
    maxRssMB: after.reduce((a, s) => a + s.maxRssBytes, 0) / MB,
  };
}

export async function runFleet(o: FleetOptions): Promise<FleetRun> {
  const limit = openFileLimit();
  // Each process holds one socket per device (the hub's broker side, the simulator's side).
  if (o.n + 500 > limit.soft) throw new Error(`open-file limit ${limit.text} is too low for ${o.n} devices; raise it with ulimit -n before the run`);
  const loadBefore = loadavg()[0]!;
  const dir = await mkdtemp(join(tmpdir(), 'edgeml-fleet-'));
  const here = (f: string) => new URL(f, import.meta.url);
  const k = Math.max(1, Math.min(o.simProcs ?? 2, o.n));
  let hub: Child | undefined;
  const sims: Child[] = [];
  let db: Database.Database | undefined;
  const all = <T>(cmd: string, args?: (i: number) => unknown) => Promise.all(sims.map((c, i) => c.call<T>(cmd, args?.(i))));
  try {
    hub = spawnChild(here('./hub-process.js'), 'hub', ['--max-old-space-size=4096']);
    for (let i = 0; i < k; i++) sims.push(spawnChild(here('./sim-process.js'), `simulator ${i + 1}`, ['--max-old-space-size=8192']));
    const started = await hub.call<HubStarted>('start', { dataDir: dir });
    o.progress(`  [${o.n}] hub up (${started.brokerUrl}, ${started.httpUrl}) in ${(started.startMs / 1000).toFixed(1)} s; ${k} simulator process(es)`);

    // Enrolment: one-time tokens from the hub, exchanged over real HTTP by each device; the
    // devices of a batch are dealt out to the simulator processes, which enrol at once.
    const ids = Array.from({ length: o.n }, (_, i) => `sim-${String(i).padStart(5, '0')}`);
    const enrollT0 = wallMs();
    const BATCH = 1000;
    for (let off = 0; off < o.n; off += BATCH) {
      const batch = ids.slice(off, off + BATCH);
      const tokens = await hub.call<string[]>('tokens', { n: batch.length });
      const per = Math.ceil(batch.length / k);
      await all<EnrollResult>('enroll', (i) => ({
        hubUrl: started.httpUrl,
        ids: batch.slice(i * per, (i + 1) * per),
        tokens: tokens.slice(i * per, (i + 1) * per),
        concurrency: Math.max(1, Math.round((o.enrollConcurrency ?? 16) / k)),
      }));
    }
    const enrollMs = wallMs() - enrollT0;
    o.progress(`  [${o.n}] enrolled over HTTP in ${(enrollMs / 1000).toFixed(1)} s`);

    const profileFile = (phase: string) => join(o.profileDir!, `fleet-${o.n}-${phase}-${Date.now()}.cpuprofile`);
    if (o.profileDir) await hub.call('profileStart');
    const hubBeforeConnect = await hub.call<ProcStats>('stats');
    const connectT0 = wallMs();
    const connects = await all<ConnectResult>('connect', () => ({
      sim: { model: FLEET_MODEL, channel: FLEET_CHANNEL, statuses: o.statuses, window: 8 },
      concurrency: Math.max(1, Math.round((o.connectConcurrency ?? 100) / k)),
      connectTimeoutMs: 120_000,
    }));
    const connectMs = wallMs() - connectT0;
    const connected: ConnectResult = { ms: connectMs, connected: connects.reduce((a, c) => a + c.connected, 0), rate: o.n / (connectMs / 1000) };
    const hubAfterConnect = await hub.call<ProcStats>('stats');
    const profileConnect = o.profileDir ? await hub.call<ProfileSummary>('profileStop', { file: profileFile('connect') }) : undefined;
    o.progress(`  [${o.n}] connected in ${(connected.ms / 1000).toFixed(1)} s (${connected.rate.toFixed(0)}/s)`);

    // The registry is the source of truth: read it directly, from this process, so polling
    // costs the hub nothing (WAL: a reader never blocks the writer).
    db = new Database(started.registryFile, { readonly: true, fileMustExist: true });
    const onlineQ = db.prepare('SELECT COUNT(*) AS n FROM devices WHERE online = 1');
    const activeQ = db.prepare('SELECT COUNT(*) AS n FROM devices WHERE state = ? AND model = ? AND version = ?');
    const count = (q: Database.Statement, ...args: unknown[]) => (q.get(...args) as { n: number }).n;
    const onlineT0 = wallMs();
    while (count(onlineQ) < o.n) {
      if (wallMs() - onlineT0 > (o.settleMaxMs ?? 120_000)) throw new Error(`only ${count(onlineQ)} of ${o.n} connected devices reached the registry`);
      await sleep(50);
    }
    const settle = await untilQuiet(hub, Math.max(0, (o.settleMaxMs ?? 120_000) - (wallMs() - onlineT0)));
    o.progress(`  [${o.n}] all ${o.n} online in the registry; hub ${settle.quiet ? 'quiet' : 'still busy'} after ${((wallMs() - onlineT0) / 1000).toFixed(1)} s`);

    if (o.profileDir) await hub.call('profileStart');
    const simBefore = await all<ProcStats>('stats');
    const version = 1;
    const fractions: [keyof Milestones, number][] = [
      ['first', 1],
      ['p50', Math.ceil(o.n * 0.5)],
      ['p90', Math.ceil(o.n * 0.9)],
      ['p99', Math.ceil(o.n * 0.99)],
      ['all', o.n],
    ];
    const reached: Record<keyof Milestones, number | null> = { first: null, p50: null, p90: null, p99: null, all: null };
    const publishing = hub.call<Published>('publish', { input: o.release });
    const pollT0 = wallMs();
    const timeout = o.activeTimeoutMs ?? 120_000;
    // The last hub figures we could get, in case the hub stops answering or dies.
    let lastHub: ProcStats | undefined;
    let sampling = true;
    const sampler = (async () => {
      while (sampling && hub.exit === undefined) {
        lastHub = await hub.call<ProcStats>('stats').catch(() => lastHub);
        await sleep(1000);
      }
    })();
    let active = 0;
    let lastLog = pollT0;
    while (active < o.n && wallMs() - pollT0 < timeout && hub.exit === undefined) {
      await sleep(20);
      active = count(activeQ, 'active', FLEET_MODEL, version);
      const now = wallMs();
      for (const [k, need] of fractions) if (reached[k] === null && active >= need) reached[k] = now;
      if (now - lastLog > 5000) {
        lastLog = now;
        o.progress(`  [${o.n}] ${active} active after ${((now - pollT0) / 1000).toFixed(0)} s`);
      }
    }
    const pollEnd = wallMs();
    sampling = false;
    const published = await publishing.catch((): Published => ({ version, sha256: '', chunks: 0, sizeBytes: 0, t0: pollT0, tReturned: Number.NaN, before: lastHub ?? hubAfterConnect }));
    const hubDied = hub.exit !== undefined;
    const hubAfter = hubDied ? (lastHub ?? published.before) : await hub.call<ProcStats>('stats');
    await sampler;
    const simAfter = await all<ProcStats>('stats');
    const loadAfter = loadavg()[0]!;
    const profile = o.profileDir && !hubDied ? await hub.call<ProfileSummary>('profileStop', { file: profileFile('publish') }) : undefined;
    const rel = (t: number | null) => (t === null ? null : t - published.t0);
    const registryActive: Milestones = { first: rel(reached.first), p50: rel(reached.p50), p90: rel(reached.p90), p99: rel(reached.p99), all: rel(reached.all) };
    const hubExit = hubDied
      ? {
          afterPublishMs: pollEnd - published.t0,
          code: String(hub.exit),
          reason: hub.stderrTail().split('\n').find((l) => /Error/.test(l))?.trim() ?? 'no error on stderr',
        }
      : undefined;
    o.progress(
      `  [${o.n}] ${active}/${o.n} active${hubExit ? ` when the hub process died ${(hubExit.afterPublishMs / 1000).toFixed(1)} s after publish (${hubExit.reason})` : registryActive.all === null ? ' (timed out)' : ` in ${(registryActive.all / 1000).toFixed(2)} s`}`,
    );

    const busyAfter = active === o.n && !hubDied ? await untilQuiet(hub, 60_000) : undefined;
    const crossCheck = hubDied ? { total: Number.NaN, active: Number.NaN, online: Number.NaN } : await hub.call<FleetRun['crossCheck']>('devices', { model: FLEET_MODEL, version });
    const devices = mergeReports(await all<SimReport>('report', () => ({ t0: published.t0 })));
    let drop: FleetRun['drop'];
    if (o.drop && !hubDied) {
      const offlineQ = db.prepare('SELECT COUNT(*) AS n FROM devices WHERE online = 0');
      const before = await hub.call<ProcStats>('stats');
      const dropped = await all<{ at: number }>('drop');
      const t0 = Math.min(...dropped.map((d) => d.at));
      let offline = 0;
      let lastLog = t0;
      while (offline < o.n && wallMs() - t0 < 120_000 && hub.exit === undefined) {
        await sleep(20);
        offline = count(offlineQ);
        if (wallMs() - lastLog > 5000) {
          lastLog = wallMs();
          o.progress(`  [${o.n}] ${offline} offline ${((lastLog - t0) / 1000).toFixed(0)} s after the drop`);
        }
      }
      const end = wallMs();
      const died = hub.exit !== undefined;
      drop = {
        allOfflineMs: offline === o.n ? end - t0 : null,
        offline,
        hubCpuS: died ? null : cpuBetween(before, await hub.call<ProcStats>('stats')).cpuS,
        ...(died ? { hubExit: { afterDropMs: end - t0, code: String(hub.exit), reason: hub.stderrTail().split('\n').find((l) => /Error/.test(l))?.trim() ?? 'no error on stderr' } } : {}),
      };
      o.progress(`  [${o.n}] drop: ${offline}/${o.n} offline in the registry${died ? `; the hub process died ${((end - t0) / 1000).toFixed(1)} s after the drop` : ` in ${((end - t0) / 1000).toFixed(2)} s`}`);
    }
    const hubCpu = cpuBetween(published.before, hubAfter);
    const connectCpu = cpuBetween(hubBeforeConnect, hubAfterConnect);

    return {
      n: o.n,
      broker: 'aedes 1.2 (embedded, in the hub process)',
      statuses: o.statuses,
      openFileLimit: limit.text,
      artifact: { sizeBytes: published.sizeBytes, chunks: published.chunks, format: o.release.format },
      enroll: { ms: enrollMs, perSecond: o.n / (enrollMs / 1000) },
      connect: { ...connected, hubCpuS: connectCpu.cpuS, hubCores: connectCpu.cores },
      settleMs: settle.ms,
      settled: settle.quiet,
      publishCallMs: published.tReturned - published.t0,
      registryActive,
      activeCount: active,
      targetMet: registryActive.all !== null && registryActive.all <= TARGET_MS,
      hub: {
        cpuS: hubCpu.cpuS,
        userS: hubCpu.userS,
        systemS: hubCpu.systemS,
        cores: hubCpu.cores,
        rssBeforeMB: published.before.rssBytes / MB,
        rssAfterMB: hubAfter.rssBytes / MB,
        maxRssMB: hubAfter.maxRssBytes / MB,
        elu: elu(published.before, hubAfter),
      },
      sim: simFigures(simBefore, simAfter),
      load: { before: loadBefore, after: loadAfter },
      hubBusyAfterMs: busyAfter ? busyAfter.ms : null,
      crossCheck,
      devices,
      ...(hubExit ? { hubExit } : {}),
      ...(drop ? { drop } : {}),
      ...(profileConnect ? { profileConnect } : {}),
      ...(profile ? { profile } : {}),
    };
  } finally {
    db?.close();
    // Devices first: closing the broker under them would fire ten thousand last wills.
    await within(Promise.all(sims.map((c) => c.call('close'))), 60_000);
    if (hub?.exit === undefined) await within(hub?.call('close'), 30_000);
    await Promise.all([...sims.map((c) => c.stop()), hub?.stop()]);
    await rm(dir, { recursive: true, force: true });
  }
}

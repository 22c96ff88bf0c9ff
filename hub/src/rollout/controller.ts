/**
 * The rollout controller: canary devices benchmark the candidate in their own runtime, then
 * waves of devices get it while the hub watches what they report. A failed gate halts the
 * rollout and sends the upgraded devices a signed rollback directive. One tick at a time;
 * every step is saved in SQLite first, so a restarted hub carries on.
 *
 * A tick works from what changed: the device rows written since the last tick (FleetView) and
 * the rollouts whose revision moved are read; everything else the controller derived for a
 * rollout (its wave's pending devices, the devices that rejected it, the last health verdict)
 * is kept between ticks. A tick of a 20,000-device fleet where nothing happened reads no rows.
 */
import { randomUUID } from 'node:crypto';
import { checkFailed, userError, type Logger, type SignedRelease } from '@edgeml/core';
import type { DesiredReleases } from '../desired/desired.js';
import type { Registry, VersionRecord } from '../registry/registry.js';
import { RolloutPlanSchema, type Rollout, type RolloutPlan } from '../registry/rollout-store.js';
import { createHubFaults, type HubFaults } from '../release/faults.js';
import { FleetView, rejected, runs } from './fleet-view.js';
import { judgeHealth, pickCanary, waveDevices } from './gates.js';
import type { HubEvents } from '../events/bus.js';

export interface ControllerDeps {
  registry: Registry;
  log: Logger;
  /** Where every assignment and directive is stored before it is published. */
  desired: DesiredReleases;
  sendBenchmark(deviceId: string, requestId: string, envelope: SignedRelease): Promise<void>;
  rollbackDirective(model: string, version: number): SignedRelease;
  now?: () => Date;
  events?: HubEvents;
  /** Kill points for fault injection (default: EDGEML_HUB_FAULT_POINT). */
  faults?: HubFaults;
}

const BENCH_TIMEOUT_MS = 60_000;
/** How often a benchmark request goes again to canaries that have not answered. */
const BENCH_RESEND_MS = 10_000;

/** An active rollout as of its last revision, with what the controller derived from the fleet for it. */
interface Tracked {
  r: Rollout;
  rec: VersionRecord;
  /** The current wave's devices (state `wave`), those not sent the version yet, and those not reporting it active. */
  targets: Set<string>;
  fresh: string[];
  pending: Set<string>;
  upgraded: Set<string>;
  /** Upgraded devices that rolled the version back or refused it. */
  rejecting: Set<string>;
  /** The health verdict and the telemetry and feedback it was judged on: unchanged data, same verdict. */
  judged?: { mark: string; verdict: string | undefined };
}

export class RolloutController {
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private readonly now: () => Date;
  /** When this process last sent each benchmark request; one saved by a hub that has since died is not here. */
  private readonly benchSent = new Map<string, number>();
  private readonly view: FleetView;
  private readonly tracked = new Map<number, Tracked>();
  private readonly faults: HubFaults;

  constructor(private readonly d: ControllerDeps) {
    this.now = d.now ?? (() => new Date());
    this.view = new FleetView(d.registry);
    this.faults = d.faults ?? createHubFaults(process.env.EDGEML_HUB_FAULT_POINT, d.log);
  }

  start(intervalMs = 250): void {
    // tick() catches per rollout; this catch is for what it cannot (the registry closed under it).
    this.timer = setInterval(() => {
      this.tick().catch((e: unknown) => this.d.log.error('rollout tick failed', { error: (e as Error).message }));
    }, intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.ticking?.catch(() => undefined);
  }

  create(model: string, version: number, planInput: unknown): Rollout {
    const plan = RolloutPlanSchema.parse(planInput ?? {});
    if (plan.waves[plan.waves.length - 1] !== 100) plan.waves.push(100);
    const rec = this.d.registry.getVersion(model, version);
    if (!rec) throw userError('not-found', `no version ${version} of model "${model}" in the registry`);
    if (this.d.registry.rollouts.active().some((r) => r.model === model && r.channel === rec.channel)) {
      throw userError('rollout-active', `a rollout of ${model} on ${rec.channel} is already running; pause, abort or wait for it`);
    }
    const devices = this.d.registry.listDevices().filter((x) => x.model === model && x.online);
    if (devices.length === 0) throw checkFailed('no-devices', `no online device runs model "${model}"`);
    const canary = pickCanary(devices, plan.canary);
    const order = [...canary, ...devices.map((x) => x.id).filter((id) => !canary.includes(id))];
    const current = this.d.registry.listVersions(model).filter((v) => v.status === 'published' && v.version < version).pop();
    const r = this.d.registry.rollouts.create({ model, channel: rec.channel, version, fromVersion: current?.version ?? null, plan, devices: { order, canary, upgraded: [] } });
    this.d.events?.emit({ type: 'rollout.started', summary: `rollout ${r.id}: ${model} v${version} to ${order.length} devices (${canary.length} canary, waves ${plan.waves.join('%, ')}%)`, model, version, data: { rollout: r.id, channel: rec.channel, fromVersion: r.fromVersion, devices: order.length, canary, plan } });
    return r;
  }

  request(id: number, what: 'pause' | 'resume' | 'abort'): Rollout {
    const r = this.d.registry.rollouts.get(id);
    if (!r) throw userError('not-found', `no rollout ${id}`);
    return this.d.registry.rollouts.update(id, { requested: what });
  }

  tick(): Promise<void> {
    if (this.ticking) return this.ticking;
    this.ticking = (async () => {
      const changed = this.view.refresh();
      const live = this.d.registry.rollouts.activeRevisions();
      const ids = new Set(live.map((l) => l.id));
      for (const id of this.tracked.keys()) if (!ids.has(id)) this.tracked.delete(id);
      for (const { id, rev } of live) {
        try {
          let t = this.tracked.get(id);
          if (t?.r.rev === rev) for (const deviceId of changed) this.observe(t, deviceId);
          else t = this.track(id);
          await this.step(t);
        } catch (e) {
          this.tracked.delete(id);
          this.d.log.error('rollout step failed', { rollout: id, error: (e as Error).message });
        }
      }
    })().finally(() => {
      this.ticking = undefined;
    });
    return this.ticking;
  }

  /** Read a rollout that is new or changed, and derive from the fleet view what its steps need. */
  private track(id: number): Tracked {
    const r = this.d.registry.rollouts.get(id);
    if (!r) throw new Error(`rollout ${id} is gone`);
    const rec = this.d.registry.getVersion(r.model, r.version);
    if (!rec) throw new Error(`version ${r.version} of model "${r.model}" is not in the registry`);
    const upgraded = new Set(r.devices.upgraded);
    const targets = new Set(r.state === 'wave' ? waveDevices(r.devices.order, r.devices.canary, r.plan.waves, r.wave) : []);
    const t: Tracked = {
      r,
      rec,
      targets,
      fresh: [...targets].filter((x) => !upgraded.has(x)),
      pending: new Set([...targets].filter((x) => !runs(this.view.get(x), r.version))),
      upgraded,
      rejecting: new Set(r.devices.upgraded.filter((x) => rejected(this.view.get(x), r.version))),
    };
    this.tracked.set(id, t);
    return t;
  }

  private observe(t: Tracked, deviceId: string): void {
    const d = this.view.get(deviceId);
    if (t.targets.has(deviceId)) {
      if (runs(d, t.r.version)) t.pending.delete(deviceId);
      else t.pending.add(deviceId);
    }
    if (t.upgraded.has(deviceId)) {
      if (rejected(d, t.r.version)) t.rejecting.add(deviceId);
      else t.rejecting.delete(deviceId);
    }
  }

  private async step(t: Tracked): Promise<void> {
    const { r, rec } = t;
    const store = this.d.registry.rollouts;
    if (r.requested === 'abort') return this.halt(r, 'aborted by an operator', 'aborted');
    if (r.requested === 'pause' && r.state !== 'paused') {
      store.update(r.id, { state: 'paused', requested: null, devices: { ...r.devices, pausedFrom: r.state } });
      return;
    }
    if (r.requested === 'resume' && r.state === 'paused') {
      store.update(r.id, { state: r.devices.pausedFrom ?? 'wave', requested: null, waveStartedAt: this.now().toISOString() });
      return;
    }
    switch (r.state) {
      case 'pending':
        store.update(r.id, r.plan.benchmark ? { state: 'benchmarking' } : { state: 'wave', wave: 0 });
        return;
      case 'benchmarking':
        return this.benchmark(r, rec);
      case 'wave':
        return this.wave(t);
      case 'soaking':
        return this.soak(t);
      case 'rolling-back':
        return this.halt(r, r.reason ?? 'rolled back', 'halted');
      default:
        return;
    }
  }

  private async benchmark(r: Rollout, rec: VersionRecord): Promise<void> {
    const store = this.d.registry.rollouts;
    const results = this.d.registry.fleet.benchmarks(r.model, r.version).filter((b) => r.devices.canary.includes(b.deviceId));
    const sent = r.devices.benchRequest;
    const missing = r.devices.canary.filter((d) => !results.some((b) => b.deviceId === d));
    const now = this.now().getTime();
    const lastSent = sent ? this.benchSent.get(sent.id) : undefined;
    if (!sent || (missing.length > 0 && (lastSent === undefined || now - lastSent >= BENCH_RESEND_MS))) {
      // Commands are not retained: a canary that was away when the request went out (or a hub
      // that died before the answers came) would never be asked again. The request goes again
      // under the same id until every canary has answered; a request saved by a hub that has
      // since died starts its timeout afresh.
      const id = sent?.id ?? `rollout-${r.id}-bench-${randomUUID().slice(0, 8)}`;
      if (lastSent === undefined) store.update(r.id, { devices: { ...r.devices, benchRequest: { id, sentAt: new Date(now).toISOString() } } });
      this.benchSent.set(id, now);
      await this.d.desired.ensureChunks(rec);
      for (const d of missing) await this.d.sendBenchmark(d, id, rec.envelope);
      if (sent) this.d.log.info('benchmark request sent again', { rollout: r.id, canaries: missing.length, afterRestart: lastSent === undefined });
      return;
    }
    const timedOut = this.now().getTime() - Date.parse(sent.sentAt) > BENCH_TIMEOUT_MS;
    if (results.length < r.devices.canary.length && !timedOut) return;
    if (results.length === 0) return this.halt(r, 'no canary answered the benchmark request', 'halted');
    const failed = results.find((b) => b.result.ok === 0);
    if (failed) return this.halt(r, `canary ${failed.deviceId} could not run the candidate: ${String((failed.result as Record<string, unknown>).error ?? 'error')}`, 'halted');
    const limit = r.plan.gates.benchP95Ms ?? rec.envelope.signed.budgets.p95Ms;
    const worst = results.reduce((a, b) => ((b.result.p95Ms ?? 0) > (a.result.p95Ms ?? 0) ? b : a));
    if (limit !== undefined && (worst.result.p95Ms ?? Infinity) > limit) {
      this.d.events?.emit({ type: 'gate.failed', summary: `rollout ${r.id}: ${r.model} v${r.version} failed the device benchmark`, model: r.model, version: r.version, data: { rollout: r.id, stage: 'benchmark', deviceId: worst.deviceId, p95Ms: worst.result.p95Ms ?? null, limit } });
      return this.halt(r, `device benchmark: p95 ${worst.result.p95Ms?.toFixed(4)} ms on ${worst.deviceId} is above the budget of ${limit} ms`, 'halted');
    }
    this.d.log.info('canary benchmark passed', { rollout: r.id, worstP95Ms: worst.result.p95Ms, limit: limit ?? null });
    store.update(r.id, { state: 'wave', wave: 0 });
  }

  private async wave(t: Tracked): Promise<void> {
    const { r, rec, fresh } = t;
    const store = this.d.registry.rollouts;
    if (fresh.length) {
      // Record before sending: a crash in between re-sends, which agents take as a repeat.
      const upgraded = [...r.devices.upgraded, ...fresh];
      store.update(r.id, { devices: { ...r.devices, upgraded }, waveStartedAt: this.now().toISOString() });
      for (const id of fresh) await this.d.desired.setDevice(rec, id, 'rollout', rec.envelope);
      this.d.log.info('rollout wave sent', { rollout: r.id, wave: r.wave, devices: fresh.length });
      this.d.events?.emit({ type: 'rollout.advanced', summary: `rollout ${r.id}: ${r.model} v${r.version} sent to ${upgraded.length} of ${r.devices.order.length} devices (wave ${r.wave})`, model: r.model, version: r.version, data: { rollout: r.id, wave: r.wave, sent: fresh, upgraded: upgraded.length, devices: r.devices.order.length } });
      return;
    }
    const failure = this.deviceFailure(t);
    if (failure) return this.fail(r, failure);
    if (t.pending.size === 0) {
      store.update(r.id, { state: 'soaking', waveStartedAt: this.now().toISOString() });
      return;
    }
    if (r.waveStartedAt && this.now().getTime() - Date.parse(r.waveStartedAt) > r.plan.waveTimeoutMs) {
      return this.fail(r, `devices did not report v${r.version} active in time: ${[...t.pending].slice(0, 5).join(', ')}`);
    }
  }

  private async soak(t: Tracked): Promise<void> {
    const { r, rec } = t;
    const failure = this.deviceFailure(t) ?? this.gateFailure(t);
    if (failure) return this.fail(r, failure);
    if (this.now().getTime() - Date.parse(r.waveStartedAt ?? r.createdAt) < r.plan.soakMs) return;
    const last = r.wave >= r.plan.waves.length;
    if (!last) {
      this.d.registry.rollouts.update(r.id, { state: 'wave', wave: r.wave + 1 });
      return;
    }
    await this.d.desired.setChannel(rec, 'release', rec.envelope);
    this.d.registry.setVersionStatus(r.model, r.version, 'published');
    this.d.registry.rollouts.update(r.id, { state: 'completed', reason: null });
    this.d.log.info('rollout completed', { rollout: r.id, model: r.model, version: r.version });
    this.d.events?.emit({ type: 'rollout.completed', summary: `rollout ${r.id}: ${r.model} v${r.version} is on every device`, model: r.model, version: r.version, data: { rollout: r.id, devices: r.devices.upgraded.length } });
  }

  private deviceFailure(t: Tracked): string | undefined {
    const [id] = t.rejecting;
    const bad = id === undefined ? undefined : this.view.get(id);
    return bad ? `${bad.id} rolled back v${t.r.version}: ${bad.lastError ?? bad.state}` : undefined;
  }

  /** Judged again only when telemetry or feedback arrived since the last verdict. */
  private gateFailure(t: Tracked): string | undefined {
    const { r, rec } = t;
    const mark = this.d.registry.fleet.changeMark();
    if (t.judged?.mark === mark) return t.judged.verdict;
    const health = this.d.registry.fleet.health({ model: r.model, version: r.version, devices: r.devices.upgraded, since: r.createdAt }, rec.envelope.signed.reference);
    const testAccuracy = typeof rec.envelope.signed.validation.accuracy === 'number' ? rec.envelope.signed.validation.accuracy : undefined;
    t.judged = { mark, verdict: judgeHealth(health, r.plan.gates, testAccuracy) };
    return t.judged.verdict;
  }

  private fail(r: Rollout, reason: string): void {
    this.d.log.warn('rollout gate failed; rolling back', { rollout: r.id, reason });
    this.d.events?.emit({ type: 'gate.failed', summary: `rollout ${r.id}: ${r.model} v${r.version} failed a gate: ${reason}`, model: r.model, version: r.version, data: { rollout: r.id, stage: 'rollout', reason, state: r.state, wave: r.wave } });
    this.d.registry.rollouts.update(r.id, { state: 'rolling-back', reason });
  }

  private async halt(r: Rollout, reason: string, end: 'halted' | 'aborted'): Promise<void> {
    if (r.devices.upgraded.length && r.fromVersion !== null) {
      const prev = this.d.registry.getVersion(r.model, r.fromVersion)!;
      const directive = this.d.rollbackDirective(r.model, r.fromVersion);
      // Stored per device: a device away now gets the directive when it (or the hub) comes back.
      for (const id of r.devices.upgraded) {
        await this.d.desired.setDevice(prev, id, 'rollback', directive);
        this.faults.reach('halt:after-first-directive');
      }
    }
    this.d.registry.setVersionStatus(r.model, r.version, end === 'aborted' ? 'aborted' : 'halted');
    this.d.registry.rollouts.update(r.id, { state: end, reason, requested: null });
    this.d.log.warn('rollout stopped', { rollout: r.id, state: end, reason });
    this.d.events?.emit({ type: 'rollout.halted', summary: `rollout ${r.id}: ${r.model} v${r.version} ${end}: ${reason}`, model: r.model, version: r.version, data: { rollout: r.id, state: end, reason, rolledBack: r.fromVersion !== null ? r.devices.upgraded : [], toVersion: r.fromVersion } });
    await this.d.desired.clearUndesiredChunks();
  }
}

export type { RolloutPlan };

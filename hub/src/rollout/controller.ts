/**
 * The rollout controller: canary devices benchmark the candidate in their own runtime, then
 * waves of devices get it while the hub watches what they report. A failed gate halts the
 * rollout and sends the upgraded devices a signed rollback directive. One tick at a time;
 * every step is saved in SQLite first, so a restarted hub carries on.
 */
import { randomUUID } from 'node:crypto';
import { checkFailed, userError, type Logger, type SignedRelease } from '@edgeml/core';
import type { DesiredReleases } from '../desired/desired.js';
import type { DeviceRecord, Registry, VersionRecord } from '../registry/registry.js';
import { RolloutPlanSchema, type Rollout, type RolloutPlan } from '../registry/rollout-store.js';
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
}

const BENCH_TIMEOUT_MS = 60_000;
/** How often a benchmark request goes again to canaries that have not answered. */
const BENCH_RESEND_MS = 10_000;

export class RolloutController {
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private readonly now: () => Date;
  /** When this process last sent each benchmark request; one saved by a hub that has since died is not here. */
  private readonly benchSent = new Map<string, number>();

  constructor(private readonly d: ControllerDeps) {
    this.now = d.now ?? (() => new Date());
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

  /** The fleet as of this tick: read once per tick, however many rollouts and checks use it. */
  private fleet: DeviceRecord[] | undefined;
  private devices(): DeviceRecord[] {
    return (this.fleet ??= this.d.registry.listDevices());
  }

  tick(): Promise<void> {
    if (this.ticking) return this.ticking;
    this.fleet = undefined;
    this.ticking = (async () => {
      for (const r of this.d.registry.rollouts.active()) {
        try {
          await this.step(r);
        } catch (e) {
          this.d.log.error('rollout step failed', { rollout: r.id, error: (e as Error).message });
        }
      }
    })().finally(() => {
      this.ticking = undefined;
    });
    return this.ticking;
  }

  private async step(r: Rollout): Promise<void> {
    const store = this.d.registry.rollouts;
    const rec = this.d.registry.getVersion(r.model, r.version)!;
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
        return this.wave(r, rec);
      case 'soaking':
        return this.soak(r, rec);
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

  private async wave(r: Rollout, rec: VersionRecord): Promise<void> {
    const store = this.d.registry.rollouts;
    const targets = waveDevices(r.devices.order, r.devices.canary, r.plan.waves, r.wave);
    const sent = new Set(r.devices.upgraded);
    const fresh = targets.filter((id) => !sent.has(id));
    if (fresh.length) {
      // Record before sending: a crash in between re-sends, which agents take as a repeat.
      const upgraded = [...r.devices.upgraded, ...fresh];
      store.update(r.id, { devices: { ...r.devices, upgraded }, waveStartedAt: this.now().toISOString() });
      for (const id of fresh) await this.d.desired.setDevice(rec, id, 'rollout', rec.envelope);
      this.d.log.info('rollout wave sent', { rollout: r.id, wave: r.wave, devices: fresh.length });
      this.d.events?.emit({ type: 'rollout.advanced', summary: `rollout ${r.id}: ${r.model} v${r.version} sent to ${upgraded.length} of ${r.devices.order.length} devices (wave ${r.wave})`, model: r.model, version: r.version, data: { rollout: r.id, wave: r.wave, sent: fresh, upgraded: upgraded.length, devices: r.devices.order.length } });
      return;
    }
    const failure = this.deviceFailure(r);
    if (failure) return this.fail(r, failure);
    const done = new Set(this.devices().filter((x) => x.version === r.version && x.state === 'active').map((x) => x.id));
    const pending = targets.filter((id) => !done.has(id));
    if (pending.length === 0) {
      store.update(r.id, { state: 'soaking', waveStartedAt: this.now().toISOString() });
      return;
    }
    if (r.waveStartedAt && this.now().getTime() - Date.parse(r.waveStartedAt) > r.plan.waveTimeoutMs) {
      return this.fail(r, `devices did not report v${r.version} active in time: ${pending.slice(0, 5).join(', ')}`);
    }
  }

  private async soak(r: Rollout, rec: VersionRecord): Promise<void> {
    const failure = this.deviceFailure(r) ?? this.gateFailure(r, rec);
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

  private deviceFailure(r: Rollout): string | undefined {
    const upgraded = new Set(r.devices.upgraded);
    const bad = this.devices().find((x) => upgraded.has(x.id) && x.status.failedVersion === r.version && x.version !== r.version);
    return bad ? `${bad.id} rolled back v${r.version}: ${bad.lastError ?? bad.state}` : undefined;
  }

  private gateFailure(r: Rollout, rec: VersionRecord): string | undefined {
    const health = this.d.registry.fleet.health({ model: r.model, version: r.version, devices: r.devices.upgraded, since: r.createdAt }, rec.envelope.signed.reference);
    const testAccuracy = typeof rec.envelope.signed.validation.accuracy === 'number' ? rec.envelope.signed.validation.accuracy : undefined;
    return judgeHealth(health, r.plan.gates, testAccuracy);
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
      for (const id of r.devices.upgraded) await this.d.desired.setDevice(prev, id, 'rollback', directive);
    }
    this.d.registry.setVersionStatus(r.model, r.version, end === 'aborted' ? 'aborted' : 'halted');
    this.d.registry.rollouts.update(r.id, { state: end, reason, requested: null });
    this.d.log.warn('rollout stopped', { rollout: r.id, state: end, reason });
    this.d.events?.emit({ type: 'rollout.halted', summary: `rollout ${r.id}: ${r.model} v${r.version} ${end}: ${reason}`, model: r.model, version: r.version, data: { rollout: r.id, state: end, reason, rolledBack: r.fromVersion !== null ? r.devices.upgraded : [], toVersion: r.fromVersion } });
    await this.d.desired.clearUndesiredChunks();
  }
}

export type { RolloutPlan };

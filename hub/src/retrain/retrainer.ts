/**
 * The retraining loop of the hub: a timer evaluates each model's triggers (skipping all work
 * when no telemetry or feedback arrived and no schedule is due), and a firing, or a hand
 * request, starts a run: one at a time per model, its worker under a time limit. Every run is
 * recorded from start to verdict, told on the event bus, in the log and in /metrics.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Counter, Gauge, Registry as PromRegistry } from 'prom-client';
import { userError, type Logger } from '@edgeml/core';
import type { HubEvents } from '../events/bus.js';
import type { RetrainRun } from '../registry/lineage-store.js';
import type { Registry } from '../registry/registry.js';
import { FEEDBACK_REFUSALS } from './data.js';
import { executeRun, productionOf, type RunDeps, type RunOutcome } from './run.js';
import type { RetrainTarget } from './policy.js';
import { evaluateTriggers, type TriggerFiring } from './triggers.js';
import type { WorkerProcess } from './worker-process.js';

export interface RetrainerDeps extends Omit<RunDeps, 'runsDir' | 'onWorker'> {
  registry: Registry;
  events: HubEvents;
  log: Logger;
  targets: readonly RetrainTarget[];
  /** The hub's data dir: runs work under `<dataDir>/retrain`. */
  dataDir: string;
  now?: () => number;
}

export class Retrainer {
  private timer: NodeJS.Timeout | undefined;
  private readonly running = new Map<string, { run: RetrainRun; done: Promise<void>; worker?: WorkerProcess }>();
  private lastMark: string | undefined;
  private readonly watchingSince: number;
  private stopped = false;
  private readonly prom = new PromRegistry();
  private readonly runsTotal = new Counter({ name: 'edgeml_retrain_runs_total', help: 'Retraining runs by model and outcome', labelNames: ['model', 'outcome'], registers: [this.prom] });
  private readonly triggersTotal = new Counter({ name: 'edgeml_retrain_triggers_total', help: 'Retraining runs started, by model and trigger', labelNames: ['model', 'reason'], registers: [this.prom] });
  private readonly refusedGauge = new Gauge({
    name: 'edgeml_retrain_feedback_refused',
    help: 'Stored feedback rows kept out of the last retraining run of the model, by reason',
    labelNames: ['model', 'reason'],
    registers: [this.prom],
  });
  private readonly now: () => number;

  constructor(private readonly d: RetrainerDeps) {
    this.now = d.now ?? Date.now;
    this.watchingSince = this.now();
  }

  /** Marks runs a dead hub left `running`, then evaluates the triggers every `checkEveryMs`. */
  start(): void {
    const interrupted = this.d.registry.lineage.interruptRunning();
    if (interrupted) this.d.log.warn('retraining runs interrupted by the last stop', { runs: interrupted });
    // What a killed run left behind (its CSV, a candidate nobody published) is of no use now.
    rmSync(this.runsDir, { recursive: true, force: true });
    if (this.d.targets.length === 0) return;
    const every = Math.min(...this.d.targets.map((t) => t.policy.checkEveryMs));
    const loop = () => {
      this.timer = setTimeout(() => {
        try {
          this.tick();
        } catch (e) {
          this.d.log.error('retrain trigger check failed', { error: (e as Error).message });
        }
        if (!this.stopped) loop();
      }, every);
    };
    loop();
    this.d.log.info('retraining loop started', { models: this.d.targets.map((t) => t.config.model), checkEveryMs: every });
  }

  /** Stop the timer, kill running workers (SIGKILL) and wait for their runs to be recorded. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const r of this.running.values()) r.worker?.kill();
    await Promise.all([...this.running.values()].map((r) => r.done));
  }

  private get runsDir(): string {
    return join(this.d.dataDir, 'retrain');
  }

  targetOf(model: string): RetrainTarget | undefined {
    return this.d.targets.find((t) => t.config.model === model);
  }

  /** One pass over the models; exposed so a test (or an operator's hand) can run it now. */
  tick(): void {
    const mark = this.d.registry.lineage.changeMark();
    const changed = mark !== this.lastMark;
    this.lastMark = mark;
    for (const t of this.d.targets) {
      const model = t.config.model;
      if (this.running.has(model)) continue;
      if (!changed && !t.policy.triggers.schedule) continue;
      const firing = this.check(t);
      if (firing) {
        this.d.log.info('retrain trigger fired', { model, reason: firing.reason, figures: firing.figures });
        this.begin(t, firing);
      }
    }
  }

  private check(t: RetrainTarget): TriggerFiring | undefined {
    const { registry } = this.d;
    const prod = productionOf(registry, t);
    // The first version comes from a release or a hand retrain; the loop improves on one.
    if (!prod) return undefined;
    const last = registry.lineage.lastRun(t.config.model);
    const since = last?.startedAt;
    const health = registry.fleet.health({ model: t.config.model, version: prod.version, ...(since ? { since } : {}) }, prod.envelope.signed.reference);
    return evaluateTriggers(t.policy.triggers, {
      labels: health.labels,
      liveAccuracy: health.liveAccuracy,
      drift: health.drift,
      samples: health.rows,
      newLabels: registry.lineage.labelsSince(t.config.model, since ?? ''),
      lastRunAt: last ? Date.parse(last.startedAt) : this.watchingSince,
      now: this.now(),
    });
  }

  /** A retrain by hand (`edgeml retrain MODEL`): the same run as a trigger's. */
  request(model: string): RetrainRun {
    const t = this.targetOf(model);
    if (!t) throw userError('not-found', `the hub has no retraining config for model "${model}" (start it with --retrain-config)`);
    const busy = this.running.get(model);
    if (busy) throw userError('retrain-running', `run ${busy.run.id} of ${model} is still running`);
    return this.begin(t, { reason: 'manual', figures: {}, summary: 'requested by hand' });
  }

  private begin(t: RetrainTarget, firing: TriggerFiring): RetrainRun {
    const { registry, log, events } = this.d;
    const model = t.config.model;
    const run = registry.lineage.startRun(model, firing, productionOf(registry, t)?.version ?? null);
    this.triggersTotal.inc({ model, reason: firing.reason });
    const entry: { run: RetrainRun; done: Promise<void>; worker?: WorkerProcess } = { run, done: Promise.resolve() };
    const deps: RunDeps = {
      ...this.d,
      runsDir: this.runsDir,
      onWorker: (w) => {
        if (w) entry.worker = w;
        else delete entry.worker;
      },
    };
    entry.done = executeRun(deps, t, run)
      .catch((e: unknown): RunOutcome => ({ state: 'failed', summary: `the run failed: ${(e as Error).message}`, result: {}, version: null, refused: {} }))
      .then((out) => {
        const state = this.stopped && out.state === 'failed' ? 'interrupted' : out.state;
        // A release finished its run inside the publish transaction; anything else ends here.
        if (state !== 'released') registry.lineage.finishRun(run.id, state, out.summary, out.result);
        this.runsTotal.inc({ model, outcome: state });
        // Every reason, zeros included: the gauge says what the last run kept out, not what one
        // long ago did. A run that failed before it read the feedback leaves the gauge as it was.
        const assembled = state !== 'failed' || Object.keys(out.refused).length > 0;
        if (assembled) for (const reason of FEEDBACK_REFUSALS) this.refusedGauge.set({ model, reason }, out.refused[reason] ?? 0);
        const level = state === 'released' || state === 'not-better' || state === 'not-enough-labels' ? 'info' : 'warn';
        log[level]('retrain run finished', { model, run: run.id, trigger: firing.reason, outcome: state, summary: out.summary });
        events.emit({
          type: 'retrain.outcome',
          summary: `retrain of ${model} (${firing.reason}): ${out.summary}`,
          model,
          ...(out.version !== null ? { version: out.version } : {}),
          data: { run: run.id, outcome: state, trigger: firing, parentVersion: run.parentVersion, ...out.result },
        });
      })
      .catch((e: unknown) => log.error('cannot record a retrain run', { model, run: run.id, error: (e as Error).message }))
      .finally(() => this.running.delete(model));
    this.running.set(model, entry);
    return run;
  }

  metrics(): Promise<string> {
    return this.prom.metrics();
  }
}

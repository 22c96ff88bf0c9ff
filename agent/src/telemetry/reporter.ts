/**
 * Telemetry and feedback from the device to the hub, through the durable outbox: a telemetry
 * record every period, and a feedback record for every true label the application sends back
 * for a prediction this agent made (recent predictions are remembered by id for that).
 *
 * The open window is not lost with the process: every request is in its journal (journal.ts)
 * before its answer is sent, the whole window is saved every few seconds, and a window a crash
 * left open is queued on the next start under the record id reserved for it; a clean stop
 * queues it at once. A recovered window and the record it grew into share one id, so the hub
 * keeps one.
 */
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { errorMessage, p95FromBuckets, topics, type FeedbackRecord, type Logger, type Preprocessing, type Telemetry } from '@edgeml/core';
import type { Feedback } from '../serve/feedback.js';
import type { Predictor, Served } from '../serve/predictor.js';
import { WindowJournal, type RecoveredWindow } from './journal.js';
import { Outbox } from './outbox.js';
import { RecentPredictions, type Recent } from './recent.js';
import { TelemetryWindow } from './window.js';

export interface ReporterOptions {
  deviceId: string;
  model: string;
  dataDir: string;
  predictor: Predictor;
  client: MqttClient;
  log: Logger;
  periodMs: number;
  maxQueued: number;
  /** How many recent predictions can still receive feedback. */
  remember?: number;
  /** How often the open window is saved to disk (default: the period, at most 5 s). */
  snapshotMs?: number;
  /**
   * Journal every request group (default true). Off, a kill loses up to one snapshot period of
   * counts; the benchmark measures what the journal costs against that.
   */
  journal?: boolean;
}

/** A journal segment past this size is compacted at once rather than at the next snapshot. */
const COMPACT_BYTES = 1 << 20;

export class Reporter {
  private readonly window = new TelemetryWindow();
  private readonly recent: RecentPredictions;
  /** Predictions whose feedback is being written now. */
  private readonly claimed = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private snapshotTimer: NodeJS.Timeout | undefined;
  /** The outbox id the open window will be sent under. */
  private windowId: string;
  /** Snapshots and cuts, one at a time: each rotates the journal and deletes what it covers. */
  private compaction: Promise<void> = Promise.resolve();
  private compactingEarly = false;
  /** A journal record is due at the end of this pass (requests were served in it). */
  private scheduled = false;
  private served = 0;
  private servedAtSnapshot = 0;
  private stopObserving: (() => void) | undefined;
  private stopFlushing: (() => void) | undefined;
  /** The last period's figures, for the retained status. */
  lastP95Ms: number | null = null;
  lastRequests = 0;

  private constructor(
    private readonly o: ReporterOptions,
    readonly outbox: Outbox,
    private readonly journal: WindowJournal,
  ) {
    this.windowId = outbox.newId();
    this.recent = new RecentPredictions(o.remember ?? 2000);
  }

  static async start(o: ReporterOptions): Promise<Reporter> {
    const outbox = await Outbox.open(join(o.dataDir, 'outbox'), o.maxQueued, o.log);
    const { journal, recovered } = await WindowJournal.open(outbox.dir, o.log);
    if (o.journal === false) journal.pause();
    const r = new Reporter(o, outbox, journal);
    await r.recover(recovered);
    r.window.setRelease(o.predictor.active?.release ?? null);
    r.stopObserving = o.predictor.observe((s) => r.onServed(s));
    r.timer = setInterval(() => {
      r.report().catch((e: unknown) => o.log.warn('telemetry report failed', { error: errorMessage(e) }));
    }, o.periodMs);
    r.timer.unref();
    r.snapshotTimer = setInterval(() => {
      r.snapshot().catch((e: unknown) => o.log.warn('telemetry snapshot failed', { error: errorMessage(e) }));
    }, o.snapshotMs ?? Math.min(o.periodMs, 5000));
    r.snapshotTimer.unref();
    const flush = () => {
      r.outbox.flush(o.client).catch((e: unknown) => o.log.warn('outbox flush failed', { error: errorMessage(e) }));
    };
    o.client.on('connect', flush);
    r.stopFlushing = () => o.client.off('connect', flush);
    if (o.client.connected) flush();
    return r;
  }

  /** Queue the windows the last run left open, each under the id its records carry. */
  private async recover(windows: RecoveredWindow[]): Promise<void> {
    const { deviceId, model } = this.o;
    let folded = false;
    for (const w of windows) {
      try {
        await this.outbox.append(topics.telemetry(deviceId), (id) => ({ type: 'telemetry', id, deviceId, model, ...w.figures, evicted: 0 }) satisfies Telemetry, w.id);
        this.o.log.info('queued the telemetry window of the previous run', { requests: w.figures.requests });
      } catch (e) {
        // A full disk must not stop the agent: the counts go on in this run's window.
        this.o.log.warn('telemetry window of the previous run not queued; counted in this one', { requests: w.figures.requests, error: errorMessage(e) });
        this.window.merge(w.figures);
        this.servedAtSnapshot = -1;
        folded = true;
      }
      this.journal.markDone(w.id);
    }
    if (!folded) return this.journal.dropRecovered();
    // The old files go with the first snapshot, which holds the folded counts and the done ids.
    this.journal.record(this.windowId, this.window.counts(), this.window.shape());
  }

  /** Save the whole open window and compact the journal (a crash then replays less). */
  snapshot(): Promise<void> {
    return this.serial(async () => {
      this.commit();
      if (this.window.empty || this.served === this.servedAtSnapshot) return;
      const served = this.served;
      await this.journal.snapshot(this.windowId, this.window.peek());
      this.servedAtSnapshot = served;
    });
  }

  private serial(fn: () => Promise<void>): Promise<void> {
    const run = this.compaction.then(fn);
    this.compaction = run.catch(() => undefined);
    return run;
  }

  /**
   * One journal record for the requests served in this pass of the event loop. Scheduled as a
   * microtask from the predictor's observer, it runs before the continuation of any request
   * awaiting that prediction: the API sends no answer the journal does not hold yet.
   */
  private readonly commit = (): void => {
    if (!this.scheduled) return;
    this.scheduled = false;
    if (this.journal.writing) this.journal.record(this.windowId, this.window.counts(), this.window.shape());
    if (this.journal.size > COMPACT_BYTES && !this.compactingEarly) {
      this.compactingEarly = true;
      void this.snapshot()
        .catch((e: unknown) => this.o.log.warn('telemetry snapshot failed', { error: errorMessage(e) }))
        .finally(() => (this.compactingEarly = false));
    }
  };

  private onServed(s: Served): void {
    const release = this.o.predictor.active?.release ?? null;
    if (release && release.version !== s.version) return;
    this.window.setRelease(release);
    this.window.observe(s);
    this.served++;
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.commit);
    }
    if (!s.predictions || !s.inputs || !release) return;
    // Remember what was predicted, and the row, so a later true label can be used for retraining.
    // A copy of the standardised inputs is cheap; raw values are computed only for feedback.
    const f = release.spec.features.length;
    const inputs = s.inputs;
    s.predictions.forEach((p, r) => {
      this.recent.remember(p.id, s.version, 'label' in p ? p.label : p.value, release.spec.preprocessing, inputs, r * f, f);
    });
  }

  /** Cut the current window into a telemetry record and queue it. */
  async report(): Promise<void> {
    await this.serial(() => this.queueWindow());
    await this.outbox.flush(this.o.client);
  }

  /** Cut the open window into the outbox, under the id its journal records carry. */
  private async queueWindow(): Promise<void> {
    this.commit();
    const figures = this.window.cut();
    const id = this.windowId;
    this.windowId = this.outbox.newId();
    const below = this.journal.rotate();
    this.lastP95Ms = p95FromBuckets(figures.latencyBuckets);
    this.lastRequests = figures.requests;
    const { deviceId, model } = this.o;
    try {
      await this.outbox.append(topics.telemetry(deviceId), (rid) => ({ type: 'telemetry', id: rid, deviceId, model, ...figures, evicted: this.outbox.takeEvicted() }) satisfies Telemetry, id);
    } catch (e) {
      // Not queued (a full disk): the figures go back into the open window, under their own id;
      // the id meanwhile given to the new window is given up.
      this.commit();
      this.journal.markDone(this.windowId);
      this.windowId = id;
      this.window.merge(figures);
      this.servedAtSnapshot = -1;
      this.journal.record(id, this.window.counts(), this.window.shape());
      throw e;
    }
    this.journal.markDone(id);
    await this.journal.discard(below);
  }

  /** The API's feedback hook: a true label for a prediction this agent made. */
  async feedback(fb: Feedback): Promise<void> {
    const seen = this.recent.get(fb.predictionId);
    if (!seen) throw Object.assign(new Error(`no recent prediction ${fb.predictionId} on this device`), { status: 404 });
    // Claimed before any await: a concurrent second label for the same prediction is refused.
    if (this.claimed.has(fb.predictionId)) throw Object.assign(new Error(`feedback for prediction ${fb.predictionId} is already being recorded`), { status: 409 });
    this.claimed.add(fb.predictionId);
    try {
      await this.recordFeedback(fb, seen);
    } finally {
      this.claimed.delete(fb.predictionId);
    }
  }

  private async recordFeedback(fb: Feedback, seen: Recent): Promise<void> {
    const { deviceId, model } = this.o;
    // Read before any await: the ring slot may be reused by predictions served meanwhile.
    const row = seen.raw();
    await this.outbox.append(topics.feedback(deviceId), (id) => ({
      type: 'feedback',
      id,
      deviceId,
      model,
      version: seen.version,
      predictionId: fb.predictionId,
      label: fb.label,
      predicted: seen.predicted,
      row,
      at: fb.receivedAt,
    }) satisfies FeedbackRecord);
    this.recent.delete(fb.predictionId);
    this.outbox.flush(this.o.client).catch((e: unknown) => this.o.log.warn('outbox flush failed', { error: errorMessage(e) }));
  }

  /**
   * Stop counting and queue the open window; send what is queued for at most `flushMs` (a long
   * backlog must not hold up a stop: it stays on disk for the next start).
   */
  async stop(flushMs = 2000): Promise<void> {
    clearInterval(this.timer);
    clearInterval(this.snapshotTimer);
    this.stopObserving?.();
    this.stopFlushing?.();
    this.commit();
    if (this.window.empty) return this.journal.close();
    try {
      await this.serial(() => this.queueWindow());
    } catch (e) {
      // The journal and snapshot hold the window: it is queued on the next start instead.
      this.o.log.warn('telemetry window not queued at stop', { error: errorMessage(e) });
      return;
    } finally {
      this.journal.close();
    }
    let timer: NodeJS.Timeout | undefined;
    const sent = this.outbox.flush(this.o.client).catch((e: unknown) => this.o.log.warn('outbox flush at stop failed', { error: errorMessage(e) }));
    await Promise.race([sent, new Promise<void>((r) => (timer = setTimeout(r, flushMs)))]);
    clearTimeout(timer);
  }
}

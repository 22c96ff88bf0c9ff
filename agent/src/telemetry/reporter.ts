/**
 * Telemetry and feedback from the device to the hub, through the durable outbox: a telemetry
 * record every period, and a feedback record for every true label the application sends back
 * for a prediction this agent made (recent predictions are remembered by id for that).
 *
 * The open window is not lost with the process: its figures are saved beside the outbox every
 * few seconds under the record id reserved for it, and queued on the next start; a clean stop
 * queues it at once. A snapshot and the record it grew into share one id, so the hub keeps one.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { errorMessage, p95FromBuckets, topics, writeFileAtomic, type FeedbackRecord, type Logger, type Preprocessing, type Telemetry } from '@edgeml/core';
import type { Feedback } from '../serve/feedback.js';
import type { Predictor, Served } from '../serve/predictor.js';
import { Outbox } from './outbox.js';
import { TelemetryWindow, type WindowFigures } from './window.js';

interface Remembered {
  version: number;
  predicted: string | number;
  /** Standardised inputs, as served: turned back into raw values only if feedback comes. */
  inputs: Float32Array;
  /** The serving version's preprocessing (shared, not copied), to undo the standardisation. */
  pre: Preprocessing;
}

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
}

interface Snapshot {
  id: string;
  figures: WindowFigures;
}

export class Reporter {
  private readonly window = new TelemetryWindow();
  private readonly recent = new Map<string, Remembered>();
  /** Predictions whose feedback is being written now. */
  private readonly claimed = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private snapshotTimer: NodeJS.Timeout | undefined;
  /** The outbox id the open window will be sent under. */
  private windowId: string;
  private snapshotting: Promise<void> = Promise.resolve();
  private stopObserving: (() => void) | undefined;
  /** The last period's figures, for the retained status. */
  lastP95Ms: number | null = null;
  lastRequests = 0;

  private constructor(
    private readonly o: ReporterOptions,
    readonly outbox: Outbox,
  ) {
    this.windowId = outbox.newId();
  }

  private get snapshotPath(): string {
    return join(this.outbox.dir, 'window.json');
  }

  static async start(o: ReporterOptions): Promise<Reporter> {
    const r = new Reporter(o, await Outbox.open(join(o.dataDir, 'outbox'), o.maxQueued, o.log));
    await r.recoverSnapshot();
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
    if (o.client.connected) flush();
    return r;
  }

  /** A window the last run left open (it crashed): queue it under the id it was saved with. */
  private async recoverSnapshot(): Promise<void> {
    let snap: Snapshot;
    try {
      snap = JSON.parse(await readFile(this.snapshotPath, 'utf8')) as Snapshot;
    } catch {
      return;
    }
    if (typeof snap.id === 'string' && snap.figures && snap.figures.requests > 0) {
      const { deviceId, model } = this.o;
      await this.outbox.append(topics.telemetry(deviceId), (id) => ({ type: 'telemetry', id, deviceId, model, ...snap.figures, evicted: 0 }) satisfies Telemetry, snap.id);
      this.o.log.info('queued the telemetry window of the previous run', { requests: snap.figures.requests });
    }
    await rm(this.snapshotPath, { force: true });
  }

  /** Save the open window, so a crash loses at most one snapshot period of counts. */
  snapshot(): Promise<void> {
    this.snapshotting = this.snapshotting.catch(() => undefined).then(async () => {
      if (this.window.empty) return;
      await writeFileAtomic(this.snapshotPath, JSON.stringify({ id: this.windowId, figures: this.window.peek() } satisfies Snapshot));
    });
    return this.snapshotting;
  }

  private onServed(s: Served): void {
    const release = this.o.predictor.active?.release ?? null;
    if (release && release.version !== s.version) return;
    this.window.setRelease(release);
    this.window.observe(s);
    if (!s.predictions || !s.inputs || !release) return;
    // Remember what was predicted, and the row, so a later true label can be used for retraining.
    // A copy of the standardised inputs is cheap; raw values are computed only for feedback.
    const f = release.spec.features.length;
    const limit = this.o.remember ?? 2000;
    s.predictions.forEach((p, r) => {
      const inputs = s.inputs!.slice(r * f, (r + 1) * f);
      this.recent.set(p.id, { version: s.version, predicted: 'label' in p ? p.label : p.value, inputs, pre: release.spec.preprocessing });
      if (this.recent.size > limit) this.recent.delete(this.recent.keys().next().value!);
    });
  }

  /** Cut the current window into a telemetry record and queue it. */
  async report(): Promise<void> {
    await this.queueWindow();
    await this.outbox.flush(this.o.client);
  }

  /** Cut the open window into the outbox, under the id its snapshots were saved with. */
  private async queueWindow(): Promise<void> {
    const figures = this.window.cut();
    const id = this.windowId;
    this.windowId = this.outbox.newId();
    this.lastP95Ms = p95FromBuckets(figures.latencyBuckets);
    this.lastRequests = figures.requests;
    const { deviceId, model } = this.o;
    await this.outbox.append(topics.telemetry(deviceId), (rid) => ({ type: 'telemetry', id: rid, deviceId, model, ...figures, evicted: this.outbox.takeEvicted() }) satisfies Telemetry, id);
    // The snapshot is now part of a queued record; a crash from here keeps the record only.
    await this.snapshotting.catch(() => undefined);
    await rm(this.snapshotPath, { force: true });
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

  private async recordFeedback(fb: Feedback, seen: Remembered): Promise<void> {
    const { deviceId, model } = this.o;
    // Inputs passed through float32: 7 significant digits give back what the client sent.
    const { mean, std } = seen.pre;
    const row = Array.from(seen.inputs, (v, j) => Number((v * std[j]! + mean[j]!).toPrecision(7)));
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
    if (this.window.empty) return;
    try {
      await this.queueWindow();
    } catch (e) {
      // The saved snapshot, if any, is queued on the next start instead.
      this.o.log.warn('telemetry window not queued at stop', { error: errorMessage(e) });
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const sent = this.outbox.flush(this.o.client).catch((e: unknown) => this.o.log.warn('outbox flush at stop failed', { error: errorMessage(e) }));
    await Promise.race([sent, new Promise<void>((r) => (timer = setTimeout(r, flushMs)))]);
    clearTimeout(timer);
  }
}

/**
 * Telemetry and feedback from the device to the hub, through the durable outbox: a telemetry
 * record every period, and a feedback record for every true label the application sends back
 * for a prediction this agent made (recent predictions are remembered by id for that).
 */
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { p95FromBuckets, topics, type FeedbackRecord, type Logger, type Preprocessing, type Telemetry } from '@edgeml/core';
import type { Feedback } from '../serve/feedback.js';
import type { Predictor, Served } from '../serve/predictor.js';
import { Outbox } from './outbox.js';
import { TelemetryWindow } from './window.js';

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
}

export class Reporter {
  private readonly window = new TelemetryWindow();
  private readonly recent = new Map<string, Remembered>();
  private timer: NodeJS.Timeout | undefined;
  private stopObserving: (() => void) | undefined;
  /** The last period's figures, for the retained status. */
  lastP95Ms: number | null = null;
  lastRequests = 0;

  private constructor(
    private readonly o: ReporterOptions,
    readonly outbox: Outbox,
  ) {}

  static async start(o: ReporterOptions): Promise<Reporter> {
    const r = new Reporter(o, await Outbox.open(join(o.dataDir, 'outbox'), o.maxQueued, o.log));
    r.window.setRelease(o.predictor.active?.release ?? null);
    r.stopObserving = o.predictor.observe((s) => r.onServed(s));
    r.timer = setInterval(() => void r.report().catch((e: Error) => o.log.warn('telemetry report failed', { error: e.message })), o.periodMs);
    r.timer.unref();
    o.client.on('connect', () => void r.outbox.flush(o.client));
    if (o.client.connected) void r.outbox.flush(o.client);
    return r;
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
    const figures = this.window.cut();
    this.lastP95Ms = p95FromBuckets(figures.latencyBuckets);
    this.lastRequests = figures.requests;
    const { deviceId, model } = this.o;
    await this.outbox.append(topics.telemetry(deviceId), (id) => ({ type: 'telemetry', id, deviceId, model, ...figures, evicted: this.outbox.takeEvicted() }) satisfies Telemetry);
    await this.outbox.flush(this.o.client);
  }

  /** The API's feedback hook: a true label for a prediction this agent made. */
  async feedback(fb: Feedback): Promise<void> {
    const seen = this.recent.get(fb.predictionId);
    if (!seen) throw Object.assign(new Error(`no recent prediction ${fb.predictionId} on this device`), { status: 404 });
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
    void this.outbox.flush(this.o.client);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.stopObserving?.();
  }
}

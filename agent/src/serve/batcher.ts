/**
 * Adaptive batching of concurrent predict requests. Node hands over the requests that are
 * ready in one pass of the event loop's I/O phase one after another; the first of a pass runs
 * at once, on the caller's stack, so a lone request pays nothing. The ones after it in the
 * same pass are waiting already: they are queued and run together as one runtime call right
 * after the I/O phase (setImmediate). The merged size grows with the load by itself; nothing
 * waits on a timer.
 */
import type { Outcome, PredictResult, Predictor } from './predictor.js';

export interface BatcherOptions {
  /** Rows merged into one runtime call at most; a larger request runs on its own. */
  maxRows?: number;
  /** Called after each merged runtime call (for metrics). */
  onFlush?: (requests: number, rows: number) => void;
}

interface Waiting {
  rows: readonly unknown[];
  resolve: (r: PredictResult) => void;
  reject: (e: Error) => void;
}

export class Batcher {
  private queue: Waiting[] = [];
  private queuedRows = 0;
  /** A request already ran in this pass of the event loop; later ones in the pass queue up. */
  private busy = false;
  private readonly maxRows: number;

  constructor(
    private readonly predictor: Predictor,
    private readonly opts: BatcherOptions = {},
  ) {
    this.maxRows = opts.maxRows ?? 256;
  }

  /** Predict `rows`: at once when it is the first request of this pass, else merged. */
  submit(rows: readonly unknown[]): PredictResult | Promise<PredictResult> {
    if (!this.busy) {
      this.busy = true;
      setImmediate(this.endOfPass);
      return this.predictor.predict(rows);
    }
    if (rows.length >= this.maxRows) return this.predictor.predict(rows);
    if (this.queuedRows + rows.length > this.maxRows) this.flush();
    return new Promise<PredictResult>((resolve, reject) => {
      this.queue.push({ rows, resolve, reject });
      this.queuedRows += rows.length;
    });
  }

  private readonly endOfPass = () => {
    this.busy = false;
    this.flush();
  };

  /** Run everything queued now, as one runtime call (or one plain call for a single request). */
  flush(): void {
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    this.queuedRows = 0;
    if (batch.length === 1) {
      const only = batch[0]!;
      try {
        only.resolve(this.predictor.predict(only.rows));
      } catch (e) {
        only.reject(e as Error);
      }
      return;
    }
    let outcomes: Outcome[];
    try {
      outcomes = this.predictor.predictMany(batch.map((w) => w.rows));
    } catch (e) {
      for (const w of batch) w.reject(e as Error);
      return;
    }
    let rows = 0;
    for (let i = 0; i < batch.length; i++) {
      const o = outcomes[i]!;
      if (o.ok) {
        rows += batch[i]!.rows.length;
        batch[i]!.resolve(o.result);
      } else batch[i]!.reject(o.error);
    }
    this.opts.onFlush?.(batch.length, rows);
  }
}

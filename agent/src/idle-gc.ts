/**
 * Gives memory back after a burst: once requests stop for a moment, one full garbage collection.
 *
 * Under load, objects that live a little while (the predictions kept for feedback, requests in
 * flight) outlive V8's young generation, which the agent keeps small, and pile up as garbage in
 * the old one. V8 collects them when the old generation reaches a limit it raised during the
 * burst, and its own idle-time reduction starts only seconds later, so a device that has just
 * served a burst sits on tens of MB it no longer needs. One full collection when the burst ends
 * releases those pages (docs/BENCHMARKS.md, footprint: RSS after 100k predictions). It needs
 * `--expose-gc` (the launcher and the service unit pass it); without it this does nothing.
 */
export interface IdleGcOptions {
  /** No request for this long after some: the burst is over. */
  quietMs?: number;
  /** Two collections at least this far apart, however bursts come and go. */
  minIntervalMs?: number;
  /** The collector (default: `globalThis.gc`, present with --expose-gc). */
  gc?: () => void;
  onError?: (e: unknown) => void;
}

export class IdleGc {
  private lastActivity = 0;
  private lastCollection = -Infinity;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly gc: (() => void) | undefined;
  private readonly quietMs: number;
  private readonly minIntervalMs: number;

  constructor(private readonly o: IdleGcOptions = {}) {
    this.gc = o.gc ?? (globalThis as { gc?: () => void }).gc;
    this.quietMs = o.quietMs ?? 500;
    this.minIntervalMs = o.minIntervalMs ?? 10_000;
  }

  /** Whether collections run at all (the process was started with --expose-gc). */
  get enabled(): boolean {
    return this.gc !== undefined;
  }

  /** A request was served: called on every one, so it only notes the time (no timer while idle). */
  activity(): void {
    if (!this.gc || this.stopped) return;
    this.lastActivity = performance.now();
    this.timer ??= this.schedule(this.quietMs);
  }

  private schedule(ms: number): NodeJS.Timeout {
    const t = setTimeout(() => this.check(), ms);
    t.unref();
    return t;
  }

  private check(): void {
    this.timer = undefined;
    if (this.stopped) return;
    const now = performance.now();
    const wait = Math.max(this.lastActivity + this.quietMs, this.lastCollection + this.minIntervalMs) - now;
    if (wait > 0) {
      this.timer = this.schedule(wait);
      return;
    }
    this.lastCollection = now;
    try {
      this.gc!();
    } catch (e) {
      this.o.onError?.(e);
    }
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}

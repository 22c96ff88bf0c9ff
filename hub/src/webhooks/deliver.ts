/**
 * Sends stored events to webhook targets. Each delivery is a row (events/store.ts): tried when
 * due, then delivered, failed for good, or due again after an exponential backoff. Whether to
 * try again is decided from the outcome's `transient` flag: no answer, a timeout, 408, 425, 429
 * or 5xx may pass; any other answer will not, however often it is asked.
 */
import { createHmac } from 'node:crypto';
import { EdgemlError, errorMessage, type Logger } from '@edgeml/core';
import type { StoredEvent, EventStore, Delivery } from '../events/store.js';
import { targetId, type WebhookTarget } from './targets.js';

export interface RetryPolicy {
  /** Wait before the second attempt; doubled for each one after. */
  baseMs: number;
  maxMs: number;
  /** Attempts in all before a delivery is marked failed. */
  maxAttempts: number;
}

export const DEFAULT_RETRY: RetryPolicy = { baseMs: 2_000, maxMs: 300_000, maxAttempts: 8 };

export interface DispatcherOptions {
  store: EventStore;
  targets: readonly WebhookTarget[];
  log: Logger;
  retry?: Partial<RetryPolicy>;
  /** One attempt's time limit. */
  timeoutMs?: number;
  pollMs?: number;
  now?: () => Date;
}

/** The body a target receives: the event as JSON, or one line of text for Slack. */
export function webhookBody(t: WebhookTarget, e: StoredEvent): string {
  if (t.format === 'slack') return JSON.stringify({ text: `[edgeml] ${e.summary}` });
  return JSON.stringify(e);
}

/** `sha256=<hex>` of HMAC-SHA256(secret, `<timestamp>.<body>`): the timestamp makes an old body useless to replay. */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

const retryable = (status: number) => status === 408 || status === 425 || status === 429 || status >= 500;

/** The delay before attempt `attempts + 1`, with up to 20% jitter so many targets do not retry in step. */
export function backoffMs(p: RetryPolicy, attempts: number, jitter = Math.random()): number {
  const d = Math.min(p.maxMs, p.baseMs * 2 ** Math.max(0, attempts - 1));
  return Math.round(d * (1 + 0.2 * jitter));
}

export class WebhookDispatcher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly byId: Map<string, WebhookTarget>;
  private readonly retry: RetryPolicy;
  private readonly now: () => Date;

  constructor(private readonly o: DispatcherOptions) {
    this.byId = new Map(o.targets.map((t) => [targetId(t), t]));
    this.retry = { ...DEFAULT_RETRY, ...o.retry };
    this.now = o.now ?? (() => new Date());
  }

  /** Target ids an event of this type goes to. */
  targetsFor(type: string): string[] {
    return this.o.targets.filter((t) => !t.events || (t.events as string[]).includes(type)).map(targetId);
  }

  start(): void {
    this.timer = setInterval(() => this.kick(), this.o.pollMs ?? 250);
  }

  /** Send what is due now (new events do not wait for the next poll). */
  kick(): void {
    if (this.running || this.o.targets.length === 0) return;
    this.running = this.run()
      .catch((e: unknown) => this.o.log.error('webhook deliveries failed', { error: errorMessage(e) }))
      .finally(() => {
        this.running = undefined;
      });
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private async run(): Promise<void> {
    for (;;) {
      const due = this.o.store.due(this.now(), 20);
      if (due.length === 0) return;
      await Promise.all(due.map((d) => this.attempt(d)));
      if (!this.timer) return;
    }
  }

  private async attempt(d: Delivery): Promise<void> {
    const target = this.byId.get(d.target);
    const event = this.o.store.event(d.eventId);
    if (!target || !event) {
      // Stored for a target the hub no longer has (its configuration changed across a restart).
      this.o.store.attempted(d.id, { state: 'failed', attempts: d.attempts, nextAt: this.now(), status: null, error: target ? 'the event was pruned' : 'target no longer configured' });
      return;
    }
    const attempts = d.attempts + 1;
    let status: number | null = null;
    try {
      status = await this.send(target, event, d.id);
      this.o.store.attempted(d.id, { state: 'delivered', attempts, nextAt: this.now(), status, error: null });
    } catch (e) {
      const err = e instanceof EdgemlError ? e : new EdgemlError('webhook-failed', errorMessage(e), { transient: true });
      status = (err.cause as { status?: number } | undefined)?.status ?? null;
      const again = err.transient && attempts < this.retry.maxAttempts;
      const nextAt = new Date(this.now().getTime() + (again ? backoffMs(this.retry, attempts) : 0));
      this.o.store.attempted(d.id, { state: again ? 'pending' : 'failed', attempts, nextAt, status, error: err.message });
      const line = again ? 'webhook delivery failed; will retry' : 'webhook delivery failed for good';
      this.o.log.warn(line, { target: d.target, event: event.type, attempts, error: err.message, ...(again ? { nextAt: nextAt.toISOString() } : {}) });
    }
  }

  /** Resolves the HTTP status of a 2xx answer; throws an EdgemlError saying whether to try again. */
  private async send(t: WebhookTarget, e: StoredEvent, deliveryId: number): Promise<number> {
    const body = webhookBody(t, e);
    const timestamp = String(Math.floor(this.now().getTime() / 1000));
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'edgeml-hub',
      'x-edgeml-event': e.type,
      'x-edgeml-event-id': String(e.id),
      'x-edgeml-delivery': String(deliveryId),
      'x-edgeml-timestamp': timestamp,
    };
    if (t.secret) headers['x-edgeml-signature'] = webhookSignature(t.secret, timestamp, body);
    let res: Response;
    try {
      res = await fetch(t.url, { method: 'POST', headers, body, redirect: 'error', signal: AbortSignal.timeout(this.o.timeoutMs ?? 10_000) });
    } catch (err) {
      throw new EdgemlError('webhook-unreachable', `no answer: ${errorMessage((err as { cause?: unknown }).cause ?? err)}`, { transient: true, cause: err });
    }
    // The body is not needed; reading it frees the connection.
    await res.arrayBuffer().catch(() => undefined);
    if (res.ok) return res.status;
    throw new EdgemlError('webhook-refused', `HTTP ${res.status}`, { transient: retryable(res.status), cause: { status: res.status } });
  }
}

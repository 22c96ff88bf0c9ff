/**
 * Server-sent events for the dashboard: every hub event as it is stored, and a `fleet` nudge
 * (at most once a second) when device statuses or rollouts change, so the page refetches what
 * changed instead of polling. Bounded: a page that stops reading is dropped, not buffered.
 */
import type { ServerResponse } from 'node:http';
import type { Logger } from '@edgeml/core';

/** Connections served at once; one more is refused with 503. */
export const MAX_STREAMS = 64;
/** A client this far behind (bytes the socket has not taken) is dropped. */
const MAX_BUFFERED = 1 << 20;
const HEARTBEAT_MS = 15_000;
const NUDGE_MS = 1_000;

export class LiveFeed {
  private readonly clients = new Set<ServerResponse>();
  private readonly heartbeat: NodeJS.Timeout;
  private nudgeTimer: NodeJS.Timeout | undefined;
  private readonly nudged = new Set<string>();

  constructor(private readonly log?: Logger) {
    // A comment line keeps proxies from closing an idle stream.
    this.heartbeat = setInterval(() => this.write(': keep-alive\n\n'), HEARTBEAT_MS);
  }

  get size(): number {
    return this.clients.size;
  }

  /** Take over the response as an event stream; false when the feed is full. */
  open(res: ServerResponse): boolean {
    if (this.clients.size >= MAX_STREAMS) return false;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write('retry: 2000\n\n');
    this.clients.add(res);
    const drop = () => this.clients.delete(res);
    res.on('close', drop);
    res.on('error', drop);
    return true;
  }

  send(event: string, data: unknown): void {
    this.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  /** Tell pages that `what` changed; several changes within a second make one message. */
  nudge(what: 'fleet' | 'rollouts'): void {
    if (this.clients.size === 0) return;
    this.nudged.add(what);
    this.nudgeTimer ??= setTimeout(() => {
      this.nudgeTimer = undefined;
      const kinds = [...this.nudged];
      this.nudged.clear();
      this.send('changed', { kinds });
    }, NUDGE_MS);
  }

  private write(text: string): void {
    for (const res of this.clients) {
      try {
        if (res.writableLength > MAX_BUFFERED) {
          this.log?.warn('dropping a dashboard stream that stopped reading');
          this.clients.delete(res);
          res.destroy();
          continue;
        }
        res.write(text);
      } catch (e) {
        this.clients.delete(res);
        this.log?.warn('dashboard stream write failed', { error: (e as Error).message });
      }
    }
  }

  close(): void {
    clearInterval(this.heartbeat);
    clearTimeout(this.nudgeTimer);
    for (const res of this.clients) res.end();
    this.clients.clear();
  }
}

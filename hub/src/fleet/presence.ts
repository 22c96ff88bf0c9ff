/**
 * Liveness from what devices send: the presence topic (the agent's `online: true` on connect
 * and its last will `online: false`), and any other message as proof of contact. Written in
 * batches off the message path, like statuses.
 *
 * A message the broker hands over because the hub just subscribed (the retain flag set) is
 * history, not contact: a retained status says `online: true` long after the device left, so
 * only an old-style status will (`online: false`, before devices had a presence topic) or a
 * retained presence may change the online flag then.
 */
import { PresenceSchema, deviceIdOfTopic, type Logger } from '@edgeml/core';
import type { LivenessChange } from '../registry/liveness-store.js';
import type { Registry } from '../registry/registry.js';

export class PresenceTracker {
  private pending = new Map<string, LivenessChange>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly registry: Registry,
    private readonly log: Logger,
    private readonly delayMs = 200,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /**
   * `presence`: a presence message, nothing else to do with it. `will`: a status that says the
   * device is offline (an old-style status will); it is stored like any status, and the
   * device's liveness goes offline with it. `other`: anything else.
   */
  observe(topic: string, payload: Buffer, retained: boolean): 'presence' | 'will' | 'other' {
    const deviceId = deviceIdOfTopic(topic);
    if (!deviceId) return 'other';
    const kind = topic.slice(topic.indexOf(deviceId) + deviceId.length + 1);
    if (kind === 'presence') {
      if (payload.length === 0) return 'presence';
      const p = PresenceSchema.safeParse(safeJson(payload));
      if (!p.success || p.data.deviceId !== deviceId) {
        this.log.warn('ignoring a malformed presence message', { topic });
        return 'presence';
      }
      // A retained presence is the state as the broker last knew it; its own time is the best
      // guess of when that was. A live one happens now.
      this.add({ deviceId, online: p.data.online, at: retained && validTime(p.data.at) ? p.data.at : this.now().toISOString() });
      return 'presence';
    }
    if (kind === 'status') {
      const s = safeJson(payload) as { online?: unknown; updatedAt?: unknown } | undefined;
      if (s?.online === false) {
        this.add({ deviceId, online: false, at: retained && validTime(s.updatedAt) ? (s.updatedAt as string) : this.now().toISOString() });
        return 'will';
      }
      if (!retained) this.add({ deviceId, online: true, at: this.now().toISOString() });
      return 'other';
    }
    if (!retained) this.add({ deviceId, at: this.now().toISOString() });
    return 'other';
  }

  private add(c: LivenessChange): void {
    const prev = this.pending.get(c.deviceId);
    // Keep an online flip seen earlier in the batch when a later message is contact only.
    this.pending.set(c.deviceId, c.online === undefined && prev?.online !== undefined ? { ...c, online: prev.online } : c);
    if (this.delayMs === 0) return this.flush();
    this.timer ??= setTimeout(() => this.flush(), this.delayMs);
  }

  /** Write what is pending; a storage error is logged and the batch tried again later. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.size === 0) return;
    const batch = [...this.pending.values()];
    this.pending.clear();
    try {
      this.registry.liveness.apply(batch);
    } catch (e) {
      this.log.error('cannot store device liveness; retrying', { devices: batch.length, error: (e as Error).message });
      for (const c of batch) if (!this.pending.has(c.deviceId)) this.pending.set(c.deviceId, c);
      this.timer ??= setTimeout(() => this.flush(), Math.max(this.delayMs, 1000));
    }
  }

  stop(): void {
    this.flush();
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

function safeJson(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

const validTime = (t: unknown): t is string => typeof t === 'string' && t.length <= 64 && Number.isFinite(Date.parse(t));

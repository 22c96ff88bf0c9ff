/**
 * The hub's event log and webhook delivery log, in the registry's SQLite file. An event is
 * stored with one delivery row per webhook target in the same transaction, so a hub that dies
 * between seeing an event and sending it sends it after its restart; the dashboard's feed reads
 * the same rows, so what it shows is what the webhooks were (or will be) told.
 */
import type Database from 'better-sqlite3';
import type { HubEvent } from './bus.js';

export const eventMigrations = [
  {
    id: 30,
    name: 'hub events and webhook deliveries',
    sql: `
      CREATE TABLE hub_events (
        id INTEGER PRIMARY KEY,
        type TEXT NOT NULL,
        at TEXT NOT NULL,
        event_json TEXT NOT NULL
      );
      CREATE TABLE webhook_deliveries (
        id INTEGER PRIMARY KEY,
        event_id INTEGER NOT NULL REFERENCES hub_events(id),
        target TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        next_at TEXT NOT NULL,
        last_status INTEGER,
        last_error TEXT,
        updated_at TEXT NOT NULL
      );
      CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_at);
      CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);
    `,
  },
];

/** `pending`: to be tried at `nextAt`; `delivered` and `failed` are final. Ids are stored: never rename one. */
export type DeliveryState = 'pending' | 'delivered' | 'failed';

export interface Delivery {
  id: number;
  eventId: number;
  target: string;
  state: DeliveryState;
  attempts: number;
  nextAt: string;
  lastStatus: number | null;
  lastError: string | null;
  updatedAt: string;
}

export interface StoredEvent extends HubEvent {
  id: number;
}

export interface FeedEntry extends StoredEvent {
  deliveries: Delivery[];
}

/** Events kept; older ones (and their finished deliveries) are pruned as new ones arrive. */
export const EVENTS_KEPT = 10_000;

interface DeliveryRow {
  id: number;
  event_id: number;
  target: string;
  state: DeliveryState;
  attempts: number;
  next_at: string;
  last_status: number | null;
  last_error: string | null;
  updated_at: string;
}

const toDelivery = (r: DeliveryRow): Delivery => ({
  id: r.id,
  eventId: r.event_id,
  target: r.target,
  state: r.state,
  attempts: r.attempts,
  nextAt: r.next_at,
  lastStatus: r.last_status,
  lastError: r.last_error,
  updatedAt: r.updated_at,
});

const toEvent = (r: { id: number; event_json: string }): StoredEvent => ({ ...(JSON.parse(r.event_json) as HubEvent), id: r.id });

export class EventStore {
  constructor(private readonly db: Database.Database) {}

  /** Store the event and a pending delivery to each target; returns the event's id. */
  add(event: HubEvent, targets: readonly string[], now = new Date()): number {
    return this.db.transaction(() => {
      const id = Number(this.db.prepare('INSERT INTO hub_events (type, at, event_json) VALUES (?, ?, ?)').run(event.type, event.at, JSON.stringify(event)).lastInsertRowid);
      const ins = this.db.prepare("INSERT INTO webhook_deliveries (event_id, target, state, attempts, next_at, updated_at) VALUES (?, ?, 'pending', 0, ?, ?)");
      for (const t of targets) ins.run(id, t, now.toISOString(), now.toISOString());
      if (id % 100 === 0) this.prune(id - EVENTS_KEPT);
      return id;
    })();
  }

  /** Events older than `belowId`; their deliveries still pending stay (with their event). */
  private prune(belowId: number): void {
    if (belowId <= 0) return;
    this.db.prepare("DELETE FROM webhook_deliveries WHERE event_id < ? AND state != 'pending'").run(belowId);
    this.db.prepare('DELETE FROM hub_events WHERE id < ? AND id NOT IN (SELECT event_id FROM webhook_deliveries)').run(belowId);
  }

  /** The newest events, newest first, with what became of each delivery. */
  recent(limit = 100): FeedEntry[] {
    const events = (this.db.prepare('SELECT id, event_json FROM hub_events ORDER BY id DESC LIMIT ?').all(limit) as { id: number; event_json: string }[]).map(toEvent);
    if (events.length === 0) return [];
    const rows = this.db.prepare('SELECT * FROM webhook_deliveries WHERE event_id >= ? ORDER BY id').all(events[events.length - 1]!.id) as DeliveryRow[];
    const by = new Map<number, Delivery[]>();
    for (const r of rows) by.set(r.event_id, [...(by.get(r.event_id) ?? []), toDelivery(r)]);
    return events.map((e) => ({ ...e, deliveries: by.get(e.id) ?? [] }));
  }

  event(id: number): StoredEvent | undefined {
    const r = this.db.prepare('SELECT id, event_json FROM hub_events WHERE id = ?').get(id) as { id: number; event_json: string } | undefined;
    return r ? toEvent(r) : undefined;
  }

  deliveries(eventId: number): Delivery[] {
    return (this.db.prepare('SELECT * FROM webhook_deliveries WHERE event_id = ? ORDER BY id').all(eventId) as DeliveryRow[]).map(toDelivery);
  }

  /** Pending deliveries whose time has come, oldest first. */
  due(now: Date, limit: number): Delivery[] {
    return (this.db.prepare("SELECT * FROM webhook_deliveries WHERE state = 'pending' AND next_at <= ? ORDER BY next_at, id LIMIT ?").all(now.toISOString(), limit) as DeliveryRow[]).map(toDelivery);
  }

  /** What one attempt came to: delivered, failed for good, or pending again at `nextAt`. */
  attempted(id: number, o: { state: DeliveryState; attempts: number; nextAt: Date; status: number | null; error: string | null }, now = new Date()): void {
    this.db
      .prepare('UPDATE webhook_deliveries SET state = ?, attempts = ?, next_at = ?, last_status = ?, last_error = ?, updated_at = ? WHERE id = ?')
      .run(o.state, o.attempts, o.nextAt.toISOString(), o.status, o.error === null ? null : o.error.slice(0, 500), now.toISOString(), id);
  }
}

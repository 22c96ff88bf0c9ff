import type { Logger } from '@edgeml/core';

/**
 * What happened in the hub that a team wants to hear about without running a command. One bus
 * so every producer (publisher, rollout controller, ingest, retraining, key checks) and every
 * consumer (webhooks, the dashboard's live feed, the log) meet in one place.
 */
export const HUB_EVENT_TYPES = [
  'release.published',
  'release.rolled-back',
  'gate.failed',
  'rollout.started',
  'rollout.advanced',
  'rollout.halted',
  'rollout.completed',
  'device.rolled-back',
  'alarm.drift',
  'alarm.accuracy',
  'retrain.outcome',
  'key.expiring',
] as const;
export type HubEventType = (typeof HUB_EVENT_TYPES)[number];

export interface HubEvent {
  type: HubEventType;
  /** ISO time the hub saw it. */
  at: string;
  /** One line a person reads in a chat message or the event feed. */
  summary: string;
  model?: string;
  version?: number;
  deviceId?: string;
  /** The figures behind it (gate values, reasons, counts): the JSON a webhook receives. */
  data: Record<string, unknown>;
}

export type HubEventListener = (event: HubEvent) => void;

export class HubEvents {
  private readonly listeners = new Set<HubEventListener>();

  constructor(private readonly log?: Logger) {}

  /** Returns the function that removes the listener. */
  on(listener: HubEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: Omit<HubEvent, 'at'> & { at?: string }): void {
    const full: HubEvent = { ...event, at: event.at ?? new Date().toISOString() };
    this.log?.info('event', { type: full.type, summary: full.summary });
    // A consumer that throws must not stop the others nor the producer (a rollout tick, an ingest).
    for (const l of this.listeners) {
      try {
        l(full);
      } catch (e) {
        this.log?.warn('event listener failed', { type: full.type, error: (e as Error).message });
      }
    }
  }
}

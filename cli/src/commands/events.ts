import { access } from 'node:fs/promises';
import { resolve } from 'node:path';
import { userError } from '@edgeml/core';
import { Registry } from '@edgeml/hub';
import { formatTable } from '../output/table.js';
import { printJson } from './options.js';

export interface HubEventsFlags {
  dataDir: string;
  limit: number;
  json?: boolean;
}

/** The hub's event log and what became of each webhook delivery, read from its registry. */
export async function hubEvents(o: HubEventsFlags): Promise<void> {
  if (!(o.limit >= 1 && o.limit <= 10_000)) throw userError('bad-usage', '--limit must be between 1 and 10000');
  const file = resolve(o.dataDir, 'registry.sqlite');
  await access(file).catch(() => {
    throw userError('no-registry', `no hub registry at ${file}; start the hub once or pass --data-dir`);
  });
  const registry = new Registry(file);
  try {
    const events = registry.events.recent(o.limit);
    if (o.json) {
      printJson(events);
      return;
    }
    const deliveries = (e: (typeof events)[number]) =>
      e.deliveries.map((d) => `${d.state}${d.attempts > 1 ? ` x${d.attempts}` : ''}${d.state === 'failed' && d.lastError ? ` (${d.lastError})` : ''}`).join(', ') || '-';
    process.stdout.write(formatTable(['id', 'at', 'type', 'summary', 'webhooks'], events.map((e) => [e.id, e.at, e.type, e.summary.slice(0, 100), deliveries(e)])) + '\n');
  } finally {
    registry.close();
  }
}

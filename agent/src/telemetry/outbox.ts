/**
 * The device's durable outbox for telemetry and feedback: each record is a file written
 * atomically before anything is sent, published oldest first at QoS 1 and deleted only once
 * the broker acknowledged it. Offline, records wait on disk; past `maxQueued` the oldest are
 * dropped and counted, and the count travels with the next telemetry record.
 *
 * A record's id is written inside the record itself: this run's random id plus a sequence taken
 * synchronously in memory. No crash, concurrent append, lost `meta.json` or reinstall can give
 * two records one id, so the hub's dedup (by device and id) drops only true resends. The file
 * names carry a persisted sequence too, but only to keep the sending order.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { writeFileAtomic, type Logger } from '@edgeml/core';

export interface OutboxRecord {
  topic: string;
  payload: Record<string, unknown> & { id: string };
}

interface Meta {
  nextSeq: number;
  evicted: number;
}

const RECORD = /^(\d+)\.json$/;

export class Outbox {
  private meta: Meta = { nextSeq: 1, evicted: 0 };
  private flushing: Promise<void> | undefined;
  private again = false;
  /** Unique to this run of the agent: ids never repeat across restarts or reinstalls. */
  private readonly runId = randomBytes(8).toString('hex');
  private idSeq = 0;
  private metaWrite: Promise<void> = Promise.resolve();

  private constructor(
    readonly dir: string,
    private readonly maxQueued: number,
    private readonly log: Logger,
  ) {}

  static async open(dir: string, maxQueued: number, log: Logger): Promise<Outbox> {
    const box = new Outbox(dir, maxQueued, log);
    await mkdir(dir, { recursive: true });
    try {
      const meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as Partial<Meta>;
      box.meta.evicted = Number.isInteger(meta.evicted) ? meta.evicted! : 0;
      box.meta.nextSeq = Number.isInteger(meta.nextSeq) ? meta.nextSeq! : 1;
    } catch {
      // First start, or a meta file lost with the power: the order continues after the files.
    }
    const seqs = (await box.files()).map((f) => Number(RECORD.exec(f)![1]));
    box.meta.nextSeq = Math.max(box.meta.nextSeq, (seqs.length ? Math.max(...seqs) : 0) + 1);
    return box;
  }

  private async files(): Promise<string[]> {
    const names = (await readdir(this.dir)).filter((f) => RECORD.test(f));
    return names.sort((a, b) => Number(a.split('.')[0]) - Number(b.split('.')[0]));
  }

  /** Records dropped since the last call (reported with the next telemetry record). */
  takeEvicted(): number {
    const n = this.meta.evicted;
    this.meta.evicted = 0;
    return n;
  }

  async queued(): Promise<number> {
    return (await this.files()).length;
  }

  /** A fresh record id, for a record written later (the telemetry window reserves its own). */
  newId(): string {
    return `${this.runId}-${++this.idSeq}`;
  }

  /** Persist a record; `make` receives its id (`id`, when given, is one reserved earlier). */
  async append(topic: string, make: (id: string) => Record<string, unknown>, id = this.newId()): Promise<string> {
    const seq = this.meta.nextSeq++;
    const record: OutboxRecord = { topic, payload: { ...make(id), id } };
    await writeFileAtomic(join(this.dir, `${String(seq).padStart(12, '0')}.json`), JSON.stringify(record));
    const files = await this.files();
    for (const f of files.slice(0, Math.max(0, files.length - this.maxQueued))) {
      await rm(join(this.dir, f), { force: true });
      this.meta.evicted++;
    }
    // One meta write at a time, each with the figures current when it runs: never an older over a newer.
    this.metaWrite = this.metaWrite.catch(() => undefined).then(() => writeFileAtomic(join(this.dir, 'meta.json'), JSON.stringify(this.meta)));
    await this.metaWrite;
    return id;
  }

  /** Send what is queued, oldest first; one flush at a time, repeated if asked meanwhile. */
  flush(client: MqttClient): Promise<void> {
    if (this.flushing) {
      this.again = true;
      return this.flushing;
    }
    this.flushing = (async () => {
      do {
        this.again = false;
        for (const f of await this.files()) {
          if (!client.connected) return;
          let record: OutboxRecord;
          try {
            record = JSON.parse(await readFile(join(this.dir, f), 'utf8')) as OutboxRecord;
          } catch {
            await rm(join(this.dir, f), { force: true });
            continue;
          }
          try {
            await publishUntilClosed(client, record.topic, JSON.stringify(record.payload));
          } catch (e) {
            this.log.debug('outbox send failed; will retry on reconnect', { error: (e as Error).message });
            return;
          }
          await rm(join(this.dir, f), { force: true });
        }
      } while (this.again);
    })().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }
}

/**
 * A QoS 1 publish that settles when the connection it went out on closes. mqtt.js keeps the
 * callback of a publish in flight at a disconnect, and `reconnect()` starts with an empty
 * outgoing store, so that publish would never settle and the flush awaiting it would hold the
 * outbox for good. The record is still on disk: the next flush sends it again, and the hub keeps
 * one copy by id.
 */
function publishUntilClosed(client: MqttClient, topic: string, payload: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onClose = () => {
      client.off('close', onClose);
      reject(new Error('the connection closed before the broker acknowledged the record'));
    };
    client.on('close', onClose);
    client.publish(topic, payload, { qos: 1 }, (err) => {
      client.off('close', onClose);
      if (err) reject(err);
      else resolve();
    });
  });
}

/**
 * What-if experiments: the product changes the fleet figures point to, applied to the hub
 * process of a benchmark run only (never to the product), so their effect is measured before
 * anyone writes them for real. Each one models a change proposed in docs/BENCHMARKS.md; none is
 * on unless asked for (`run.js --what-if retained-index,analysis-one-row`).
 *
 * - `retained-index`: the embedded broker finds the retained messages for a subscription by
 *   topic (a Map lookup) instead of aedes-persistence's memory store testing every retained
 *   message against every subscribed pattern. Proposed home: hub/src/broker/embedded.ts,
 *   `startEmbeddedBroker`, passing an indexed persistence to `Aedes.createBroker`.
 * - `analysis-one-row`: the hub's per-device analysis reads that device's row instead of
 *   `registry.listDevices()` (every device) for each device it analyses. Proposed home:
 *   hub/src/fleet/analytics.ts `analyseDevice`, with a `Registry.getDevice(id)`.
 * - `status-batch`: the registry keeps the newest status per device and writes what arrived in
 *   one transaction every 20 ms with a statement prepared once, instead of preparing and
 *   committing one INSERT per status message. Proposed home: hub/src/registry/registry.ts
 *   (`upsertDevices(statuses)`, statements prepared in the constructor) called from the status
 *   ingest in hub/src/hub.ts / hub/src/fleet/ingest.ts.
 * - `broker-concurrency`: the embedded broker is created with `concurrency: 65536` instead of
 *   aedes' default 100, so a burst of messages is delivered at once rather than queued in
 *   mqemitter, whose queue is drained with Array.shift and by recursion (ten thousand queued
 *   messages overflow the stack). Proposed home: hub/src/broker/embedded.ts, the options of
 *   `Aedes.createBroker`.
 */
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';

export const WHAT_IFS = ['retained-index', 'analysis-one-row', 'status-batch', 'broker-concurrency'] as const;
export type WhatIf = (typeof WHAT_IFS)[number];

const require = createRequire(import.meta.url);

interface RetainedPacket {
  topic: string;
  payload: Buffer;
}

function indexRetained(): void {
  // The module aedes itself loads (one copy in node_modules; the CommonJS cache holds one instance).
  const { CallBackPersistence } = require('aedes-persistence/callBackPersistence.js') as {
    CallBackPersistence: { prototype: Record<string, (...a: never[]) => unknown> };
  };
  const proto = CallBackPersistence.prototype as unknown as {
    storeRetained(this: object, p: RetainedPacket, cb?: unknown): unknown;
    createRetainedStreamCombi(this: object, patterns: string[]): Readable;
    createRetainedStream(this: object, pattern: string): Readable;
  };
  const index = new WeakMap<object, Map<string, RetainedPacket>>();
  const store = proto.storeRetained;
  const combi = proto.createRetainedStreamCombi;
  const single = proto.createRetainedStream;
  const wild = (p: string) => p.includes('+') || p.includes('#');
  proto.storeRetained = function (packet, cb) {
    let m = index.get(this);
    if (!m) index.set(this, (m = new Map()));
    if (packet.payload.length === 0) m.delete(packet.topic);
    else m.set(packet.topic, { ...packet });
    return store.call(this, packet, cb);
  };
  const lookup = (self: object, patterns: string[]) => Readable.from(patterns.flatMap((p) => index.get(self)?.get(p) ?? []));
  // A subscription without wildcards matches one topic at most: look it up. Wildcards (the
  // hub's devices/+/status, an operator's scan) keep the full scan.
  proto.createRetainedStreamCombi = function (patterns) {
    return patterns.some(wild) ? combi.call(this, patterns) : lookup(this, patterns);
  };
  proto.createRetainedStream = function (pattern) {
    return wild(pattern) ? single.call(this, pattern) : lookup(this, [pattern]);
  };
}

async function analysisOneRow(): Promise<void> {
  // The hub's own module instance (same URL as its index imports), whose class we patch.
  const hubIndex = require.resolve('@edgeml/hub');
  const mod = (await import(new URL('./fleet/analytics.js', pathToFileURL(hubIndex)).href)) as {
    AnalysisPublisher: { prototype: { flush(): Promise<void> } };
  };
  type Db = { prepare(sql: string): { get(...a: unknown[]): unknown; all(...a: unknown[]): unknown[] } };
  type Reg = {
    db: Db;
    getVersion(model: string, version: number): { envelope: { signed: { reference?: unknown } } } | undefined;
    fleet: { health(q: object, ref?: unknown): { p95Ms: number | null; errorRate: number | null; liveAccuracy: number | null; labels: number; drift: number | null } };
  };
  // analyseDevice (hub/src/fleet/analytics.ts) with one change: the device's own row.
  const analyse = (registry: Reg, deviceId: string) => {
    const d = registry.db.prepare('SELECT model, version FROM devices WHERE id = ?').get(deviceId) as { model: string | null; version: number | null } | undefined;
    if (!d) return undefined;
    let h;
    if (d.model && d.version !== null) {
      const rec = registry.getVersion(d.model, d.version);
      h = registry.fleet.health({ model: d.model, version: d.version, devices: [deviceId] }, rec?.envelope.signed.reference);
    }
    return {
      deviceId,
      model: d.model,
      version: d.version,
      p95Ms: h?.p95Ms ?? null,
      errorRate: h?.errorRate ?? null,
      liveAccuracy: h?.liveAccuracy ?? null,
      labels: h?.labels ?? 0,
      drift: h?.drift ?? null,
      updatedAt: new Date().toISOString(),
    };
  };
  mod.AnalysisPublisher.prototype.flush = async function (this: { dirty: Set<string>; registry: Reg; publish(a: object): Promise<void> }) {
    const ids = [...this.dirty];
    this.dirty.clear();
    for (const id of ids) {
      const a = analyse(this.registry, id);
      if (a) await this.publish(a).catch(() => undefined);
    }
  };
}

interface Status {
  deviceId: string;
  online: boolean;
  state: string;
  model: string | null;
  version: number | null;
  previousVersion: number | null;
  health: string;
  lastError: string | null;
  updatedAt: string;
  tags: string[];
}

async function statusBatch(): Promise<void> {
  const { Registry } = (await import('@edgeml/hub')) as unknown as { Registry: { prototype: Record<string, unknown> } };
  type Stmt = { run(p: object): unknown };
  type Db = { open: boolean; prepare(sql: string): Stmt; transaction(fn: () => void): () => void };
  const pending = new WeakMap<object, Map<string, Status>>();
  const statements = new WeakMap<object, Stmt>();
  // The SQL of Registry.upsertDevice, prepared once per registry.
  const SQL = `INSERT INTO devices (id, online, state, model, version, previous_version, health, last_error, last_seen, status_json, tags_json)
         VALUES (@id, @online, @state, @model, @version, @previousVersion, @health, @lastError, @lastSeen, @json, @tags)
         ON CONFLICT(id) DO UPDATE SET online = @online, state = @state, model = @model, version = @version,
           previous_version = @previousVersion, health = @health, last_error = @lastError, last_seen = @lastSeen, status_json = @json, tags_json = @tags`;
  const flush = (reg: { db: Db }) => {
    const batch = pending.get(reg);
    pending.delete(reg);
    if (!batch || !reg.db.open) return;
    let stmt = statements.get(reg);
    if (!stmt) statements.set(reg, (stmt = reg.db.prepare(SQL)));
    const st = stmt;
    reg.db.transaction(() => {
      for (const s of batch.values()) {
        st.run({
          id: s.deviceId,
          online: s.online ? 1 : 0,
          state: s.state,
          model: s.model,
          version: s.version,
          previousVersion: s.previousVersion,
          health: s.health,
          lastError: s.lastError,
          lastSeen: s.updatedAt,
          json: JSON.stringify(s),
          tags: JSON.stringify(s.tags),
        });
      }
    })();
  };
  const close = Registry.prototype.close as (this: { db: Db }) => void;
  Registry.prototype.close = function (this: { db: Db }) {
    flush(this);
    close.call(this);
  };
  // A status is a full snapshot: of several from one device in a batch, the newest is the one to keep.
  Registry.prototype.upsertDevice = function (this: { db: Db }, s: Status) {
    let batch = pending.get(this);
    if (!batch) {
      pending.set(this, (batch = new Map()));
      setTimeout(() => flush(this), 20);
    }
    batch.set(s.deviceId, s);
  };
}

export const BROKER_CONCURRENCY = 65_536;

async function brokerConcurrency(): Promise<void> {
  const aedes = (await import('aedes')) as unknown as { Aedes: { createBroker(opts?: object): Promise<unknown> } };
  const create = aedes.Aedes.createBroker.bind(aedes.Aedes);
  aedes.Aedes.createBroker = (opts?: object) => create({ ...opts, concurrency: BROKER_CONCURRENCY });
}

export async function applyWhatIfs(list: readonly WhatIf[]): Promise<void> {
  if (list.includes('broker-concurrency')) await brokerConcurrency();
  if (list.includes('retained-index')) indexRetained();
  if (list.includes('analysis-one-row')) await analysisOneRow();
  if (list.includes('status-batch')) await statusBatch();
}

/**
 * The open telemetry window, durable against a process kill between two cuts.
 *
 * Every group of requests served in one pass of the event loop ends with one `write` of the
 * window's counters, as they stand, to an append-only journal segment: a line
 * `{"w": window id, "n": sequence, "counts": {...}}`. The counters are cumulative for the
 * window, so replay takes the record with the highest `n` of each window and never adds two
 * records up: a record seen twice, or a record older than the snapshot, cannot double count.
 * No fsync: a SIGKILL leaves the page cache, and with it every completed `write`, to the
 * kernel; a power cut may lose the last records, as it may lose any unsynced file.
 *
 * A snapshot (`window.json`: the whole window, input statistics included, and the `n` it holds)
 * compacts the journal every few seconds: new records go to a fresh segment first, the
 * snapshot is written atomically, then the older segments are deleted. A crash between any two
 * of those steps leaves files that replay to the same counts.
 *
 * When a window is queued in the outbox (or given up and folded into the next one), its id is
 * marked done, in the journal and in the next snapshot, so replay skips it.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { DEVICE_LIMITS, errorMessage, TelemetrySchema, writeFileAtomic, type Logger } from '@edgeml/core';
import type { WindowCounts, WindowFigures } from './window.js';

const SEGMENT = /^window-(\d+)\.journal$/;
const segmentName = (gen: number) => `window-${String(gen).padStart(8, '0')}.journal`;

const FiguresSchema = TelemetrySchema.omit({ type: true, id: true, deviceId: true, model: true, evicted: true });
const CountsSchema = FiguresSchema.omit({ features: true });
const windowId = z.string().min(1).max(64);
/** Drift bins per feature: a window replayed without a snapshot still has statistics of the right shape. */
const ShapeSchema = z.array(z.number().int().nonnegative().max(DEVICE_LIMITS.histogramBins)).max(DEVICE_LIMITS.features);
const RecordSchema = z.union([
  z.object({ w: windowId, n: z.number().int().nonnegative(), counts: CountsSchema, shape: ShapeSchema.default([]) }),
  z.object({ w: windowId, done: z.literal(true) }),
]);
const SnapshotSchema = z.object({
  id: windowId,
  /** The journal record the snapshot's counters equal (0: none). */
  n: z.number().int().nonnegative().default(0),
  figures: FiguresSchema,
  /** Windows queued or folded since the last compaction (their records may still be on disk). */
  done: z.array(windowId).max(10_000).default([]),
});

/** A window a previous run left open, to be queued under its own id. */
export interface RecoveredWindow {
  id: string;
  figures: WindowFigures;
}

export class WindowJournal {
  private fd: number | undefined;
  private bytes = 0;
  private seq = 0;
  /** A write failed (a full disk): no more records until a snapshot holds everything again. */
  private broken = false;
  private closed = false;
  private paused = false;
  private readonly done = new Set<string>();

  private constructor(
    readonly dir: string,
    private gen: number,
    private readonly log: Logger,
  ) {}

  get snapshotPath(): string {
    return join(this.dir, 'window.json');
  }

  /** Bytes written to the current segment (the reporter compacts early past a limit). */
  get size(): number {
    return this.bytes;
  }

  /** The sequence of the last record written. */
  get lastSeq(): number {
    return this.seq;
  }

  /**
   * Read what the previous run left (its snapshot and journal) and start a new segment after
   * them. The old files stay until `dropRecovered`, once the caller has queued the windows.
   */
  static async open(dir: string, log: Logger): Promise<{ journal: WindowJournal; recovered: RecoveredWindow[] }> {
    const found = new Map<string, { snap?: { n: number; figures: WindowFigures }; last?: { n: number; counts: WindowCounts; shape: number[] } }>();
    const done = new Set<string>();
    const entry = (id: string) => found.get(id) ?? found.set(id, {}).get(id)!;
    const snapText = await readFile(join(dir, 'window.json'), 'utf8').catch(() => undefined);
    if (snapText !== undefined) {
      const snap = SnapshotSchema.safeParse(safeJson(snapText));
      if (snap.success) {
        entry(snap.data.id).snap = { n: snap.data.n, figures: snap.data.figures };
        for (const id of snap.data.done) done.add(id);
      } else log.warn('telemetry window snapshot is damaged; using the journal alone', { file: join(dir, 'window.json') });
    }
    const gens = (await readdir(dir).catch(() => [] as string[])).flatMap((f) => {
      const m = SEGMENT.exec(f);
      return m ? [Number(m[1])] : [];
    });
    gens.sort((a, b) => a - b);
    for (const gen of gens) {
      const text = await readFile(join(dir, segmentName(gen)), 'utf8').catch(() => '');
      for (const line of text.split('\n')) {
        // The last line of a segment may be cut short (a power cut): it is skipped.
        const r = line ? RecordSchema.safeParse(safeJson(line)) : undefined;
        if (!r?.success) continue;
        if ('done' in r.data) {
          done.add(r.data.w);
          continue;
        }
        const e = entry(r.data.w);
        if (!e.last || r.data.n > e.last.n) e.last = { n: r.data.n, counts: r.data.counts, shape: r.data.shape };
      }
    }
    const recovered: RecoveredWindow[] = [];
    for (const [id, e] of found) {
      if (done.has(id)) continue;
      let figures: WindowFigures;
      if (e.last && (!e.snap || e.last.n > e.snap.n)) {
        // Counters from the newest record; input statistics only as far as the snapshot saw them
        // (none, in the shape the hub expects of this version, without a snapshot).
        const stats = e.snap && e.snap.figures.version === e.last.counts.version ? e.snap.figures.features : e.last.shape.map((bins) => ({ count: 0, mean: 0, m2: 0, min: 0, max: 0, histogram: new Array<number>(bins).fill(0) }));
        figures = { ...e.last.counts, from: e.snap?.figures.from ?? e.last.counts.from, features: stats };
      } else figures = e.snap!.figures;
      if (figures.requests > 0) recovered.push({ id, figures });
    }
    const journal = new WindowJournal(dir, (gens.at(-1) ?? 0) + 1, log);
    journal.openSegment();
    return { journal, recovered };
  }

  /** The previous run's windows are queued (or folded in): its files can go. */
  async dropRecovered(): Promise<void> {
    await this.removeBefore(this.gen);
    await rm(this.snapshotPath, { force: true });
  }

  /** Whether a record would be written now (the caller skips building one otherwise). */
  get writing(): boolean {
    return !this.broken && !this.paused && !this.closed;
  }

  /** Write no records from now on (snapshots only). */
  pause(): void {
    this.paused = true;
  }

  /** Record the window's counters; synchronous, so it is written before any answer is sent. */
  record(w: string, counts: WindowCounts, shape: readonly number[]): void {
    if (this.broken || this.paused) return;
    this.write(JSON.stringify({ w, n: ++this.seq, counts, shape }) + '\n');
  }

  /** Window `w` is queued in the outbox, or folded into another: replay must skip it. */
  markDone(w: string): void {
    this.done.add(w);
    this.write(JSON.stringify({ w, done: true }) + '\n');
  }

  private write(line: string): void {
    if (this.closed) return;
    try {
      if (this.fd === undefined) throw new Error('no journal segment is open');
      this.bytes += writeSync(this.fd, line);
    } catch (e) {
      if (!this.broken) this.log.warn('telemetry journal write failed; counts are kept in memory until a snapshot is saved', { error: errorMessage(e) });
      this.broken = true;
    }
  }

  private openSegment(): void {
    try {
      this.fd = openSync(join(this.dir, segmentName(this.gen)), 'a');
      this.bytes = 0;
    } catch (e) {
      this.fd = undefined;
      throw e;
    }
  }

  /** Send new records to a fresh segment; returns the generation every older segment is below. */
  rotate(): number {
    if (this.closed) return this.gen;
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.gen++;
    try {
      this.openSegment();
    } catch (e) {
      if (!this.broken) this.log.warn('telemetry journal segment cannot be opened', { error: errorMessage(e) });
      this.broken = true;
    }
    return this.gen;
  }

  /**
   * Compact: write the whole open window as the snapshot, then delete the segments it covers.
   * `figures` must equal the counters of record `lastSeq` (the caller records first).
   */
  async snapshot(id: string, figures: WindowFigures): Promise<void> {
    const n = this.seq;
    const below = this.rotate();
    const done = [...this.done];
    await writeFileAtomic(this.snapshotPath, JSON.stringify({ id, n, figures, done }));
    // Everything up to here is in the snapshot: writes may resume, the older segments may go.
    this.broken = false;
    for (const d of done) this.done.delete(d);
    await this.removeBefore(below);
  }

  /** After the open window was queued: its snapshot and the segments before `below` hold nothing else. */
  async discard(below: number): Promise<void> {
    await rm(this.snapshotPath, { force: true });
    await this.removeBefore(below);
  }

  private async removeBefore(gen: number): Promise<void> {
    for (const f of await readdir(this.dir)) {
      const m = SEGMENT.exec(f);
      if (m && Number(m[1]) < gen) await rm(join(this.dir, f), { force: true });
    }
  }

  close(): void {
    this.closed = true;
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Paired rounds over several contenders (runtimes running the same model on the same rows):
 * per-row latency at batch 1 and throughput at one batch size, each round timing every
 * contender once, in a rotating order so drift on a shared machine hits all of them alike.
 * Sections turn the per-round figures into medians and paired ratios.
 */
import { loadTf, tfjsWasmLoader, type ModelRuntime, type Tfjs } from '@edgeml/ml';
import type { BenchContext, Cell, Column } from './section.js';
import type { TrainedModel } from './fixtures.js';
import { summarize, timeRound, timeRoundAsync } from './stats.js';

/** One opened contender. Sync runtimes are timed without promise hops; async ones awaited. */
export type Subject = (
  | { kind: 'sync'; row(i: number): unknown; batch(): unknown }
  | { kind: 'async'; row(i: number): Promise<unknown>; batch(): Promise<unknown> }
) & {
  /** Throws when the figures about to be (or just) taken would be mislabelled. */
  check?(): void;
  close(): void | Promise<void>;
};

export interface Contender {
  label: string;
  /**
   * Opened afresh every round and closed after it: nothing one contender leaves behind
   * (a thread pool spinning down, a backend switch) runs while another is timed.
   */
  open(): Promise<Subject>;
}

export interface Figures {
  label: string;
  msPerRow: number[];
  callP50Ms: number[];
  callP99Ms: number[];
  rowsPerSec: number[];
}

/** A runtime behind the ModelRuntime interface, as a section names and loads it. */
export interface RuntimeSource {
  label: string;
  load(): Promise<ModelRuntime>;
  /** Throws when the loaded runtime is not what the label says (e.g. the wrong tfjs backend). */
  check?(runtime: ModelRuntime): void;
}

/**
 * The float tfjs bundle on tfjs-wasm. tfjs has one active backend per process and silently
 * moves tensors to it, so the backend is checked around every timed round.
 */
export function tfjsWasmSource(bundle: Uint8Array, label = 'tfjs-wasm float32'): RuntimeSource {
  const load = tfjsWasmLoader();
  let tf: Tfjs | undefined;
  return {
    label,
    async load() {
      tf = await loadTf();
      return load(bundle);
    },
    check(runtime) {
      const active = tf?.getBackend();
      if (active !== 'wasm' || runtime.info.runtime !== 'tfjs-wasm') {
        throw new Error(`benchmark invalid: ${runtime.info.runtime} was timed while tfjs had backend "${active}" active`);
      }
    },
  };
}

/** A ModelRuntime as a timed contender: predict(row, 1) and predict(batch, batchRows). */
export function runtimeContender(src: RuntimeSource, rows: Float32Array[], batch: Float32Array, batchRows: number): Contender {
  return {
    label: src.label,
    async open() {
      const runtime = await src.load();
      return {
        kind: 'sync',
        row: (i) => runtime.predict(rows[i % rows.length]!, 1),
        batch: () => runtime.predict(batch, batchRows),
        ...(src.check ? { check: () => src.check!(runtime) } : {}),
        close: () => runtime.dispose(),
      };
    },
  };
}

/** The test split's rows (own copies, as a caller would hold them) and one batch of rows. */
export function benchInputs(model: TrainedModel, batchRows: number): { rows: Float32Array[]; batch: Float32Array } {
  const f = model.spec.features.length;
  const n = model.test.n;
  const rows = Array.from({ length: n }, (_, k) => model.testInput.slice(k * f, (k + 1) * f));
  // Tile the test rows when the split is smaller than a batch.
  const batch = new Float32Array(batchRows * f);
  for (let k = 0; k < batchRows; k++) batch.set(rows[k % n]!, k * f);
  return { rows, batch };
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export async function measureRounds(ctx: BenchContext, name: string, contenders: Contender[], batchRows: number): Promise<Figures[]> {
  const results = contenders.map((c): Figures => ({ label: c.label, msPerRow: [], callP50Ms: [], callP99Ms: [], rowsPerSec: [] }));
  const k = contenders.length;
  // Round -1 is timed but not recorded: V8 tiers wasm and JS up in the background, so a fresh
  // process's first round is slower for no reason a device would see in steady state.
  for (let round = -1; round < ctx.rounds; round++) {
    const first = (round + k) % k;
    for (let j = 0; j < k; j++) {
      const c = (first + j) % k;
      const subject = await contenders[c]!.open();
      try {
        subject.check?.();
        const single = { minTimeMs: ctx.roundMs, perCall: true };
        const batched = { minTimeMs: ctx.roundMs, warmup: 5, minIterations: 5 };
        const [one, many] =
          subject.kind === 'sync'
            ? [timeRound((i) => subject.row(i), single), timeRound(() => subject.batch(), batched)]
            : [await timeRoundAsync((i) => subject.row(i), single), await timeRoundAsync(() => subject.batch(), batched)];
        subject.check?.();
        if (round < 0) continue;
        const res = results[c]!;
        res.msPerRow.push(one.msPerCall);
        res.callP50Ms.push(one.callP50Ms!);
        res.callP99Ms.push(one.callP99Ms!);
        res.rowsPerSec.push((batchRows * 1000) / many.msPerCall);
      } finally {
        await subject.close();
      }
    }
    if (round < 0) continue;
    ctx.progress(`  ${name} round ${round + 1}/${ctx.rounds}: ` + results.map((r) => `${r.label} ${r.msPerRow.at(-1)!.toFixed(4)} ms/row, ${Math.round(r.rowsPerSec.at(-1)!)} rows/s`).join('; '));
  }
  return results;
}

export function latencyColumns(batchRows: number): Column[] {
  return [
    { key: 'msPerRow', header: 'ms/row (batch 1)', digits: 4 },
    { key: 'p50', header: 'call p50 ms', digits: 4 },
    { key: 'p99', header: 'call p99 ms', digits: 4 },
    { key: 'rowsPerSec', header: `rows/s (batch ${batchRows})`, digits: 0 },
  ];
}

export function latencyCells(f: Figures): Record<string, Cell> {
  return { msPerRow: summarize(f.msPerRow), p50: summarize(f.callP50Ms), p99: summarize(f.callP99Ms), rowsPerSec: summarize(f.rowsPerSec) };
}

/** Per-round figures for the JSON record. */
export function roundsRecord(figures: Figures[]): Record<string, Omit<Figures, 'label'>> {
  return Object.fromEntries(figures.map(({ label, ...rest }) => [label, rest]));
}

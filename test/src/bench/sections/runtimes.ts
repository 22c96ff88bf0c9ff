/**
 * tfjs runtimes (digits): the same trained digits model, as the same artifact bytes, on the
 * tfjs cpu backend and the tfjs wasm backend (what a device runs for tfjs-format artifacts).
 * Per-row latency at batch 1 and throughput at batch 256, medians of interleaved rounds.
 */
import { evaluateRuntime, loadTf, loadTfjsCpu, tfjsWasmLoader, type Tfjs, type Architecture, type ModelRuntime, type RuntimeLoader } from '@edgeml/ml';
import type { BenchContext, Cell, Section, SectionResult, Table } from '../section.js';
import type { TrainedModel } from '../fixtures.js';
import { pairedRatio, summarize, timeRound, type Ratio } from '../stats.js';

const BATCH = 256;

interface Contender {
  /** The backend tfjs must have active while this runtime is called. */
  backend: string;
  load: RuntimeLoader;
}

// tfjs-node, when a user has it, takes the "cpu" loader's place; the label comes from the runtime.
const CONTENDERS: Contender[] = [
  { backend: 'cpu', load: loadTfjsCpu },
  { backend: 'wasm', load: tfjsWasmLoader() },
];

interface PerRound {
  label: string;
  msPerRow: number[];
  callP50Ms: number[];
  callP99Ms: number[];
  rowsPerSec: number[];
  accuracy?: number;
  outputs?: Float32Array;
}

/**
 * tfjs keeps one active backend per process and silently moves a tensor to the active backend
 * when it is read: a cpu model called while wasm is active would run on wasm, labelled cpu.
 * So each round reloads each model through its own loader (which activates its backend), and
 * the backend is checked before and after timing.
 */
function assertBackend(tf: Tfjs, runtime: ModelRuntime, expected: string): void {
  const active = tf.getBackend();
  if (runtime.info.runtime !== `tfjs-${active}` || (expected === 'wasm' && active !== 'wasm')) {
    throw new Error(`benchmark invalid: ${runtime.info.runtime} was timed while tfjs had backend "${active}" active`);
  }
}

/** Batch inputs as views made up front, so the timed loop measures predict() and nothing else. */
function inputs(model: TrainedModel): { rows: Float32Array[]; batch: Float32Array } {
  const f = model.spec.features.length;
  const n = model.test.n;
  const rows = Array.from({ length: n }, (_, k) => model.testInput.subarray(k * f, (k + 1) * f));
  // Tile the test rows when the split is smaller than a batch.
  const batch = new Float32Array(BATCH * f);
  for (let k = 0; k < BATCH; k++) batch.set(rows[k % n]!, k * f);
  return { rows, batch };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

async function measureModel(ctx: BenchContext, model: TrainedModel) {
  const tf = await loadTf();
  const { rows, batch } = inputs(model);
  const results = CONTENDERS.map((): PerRound => ({ label: '', msPerRow: [], callP50Ms: [], callP99Ms: [], rowsPerSec: [] }));
  // Round -1 is timed but not recorded: V8 first runs wasm through its baseline compiler and
  // tiers up in the background, so the first round of a fresh process is slower for no reason
  // a device would see in steady state.
  for (let round = -1; round < ctx.rounds; round++) {
    // Alternate who goes first, so drift on a shared machine (other jobs, heat) hits both alike.
    const order = round % 2 === 0 ? [0, 1] : [1, 0];
    for (const c of order) {
      const contender = CONTENDERS[c]!;
      const res = results[c]!;
      const runtime = await contender.load(model.bundle);
      try {
        assertBackend(tf, runtime, contender.backend);
        res.label = runtime.info.runtime;
        if (round === -1) {
          // Speed of a wrong answer means nothing: check accuracy through this runtime once.
          const ev = evaluateRuntime(runtime, model.spec, model.test, BATCH);
          res.accuracy = 'accuracy' in ev.metrics ? ev.metrics.accuracy : Number.NaN;
          res.outputs = ev.outputs;
        }
        const single = timeRound((i) => runtime.predict(rows[i % rows.length]!, 1), { minTimeMs: ctx.roundMs, perCall: true });
        const batched = timeRound(() => runtime.predict(batch, BATCH), { minTimeMs: ctx.roundMs, warmup: 5, minIterations: 5 });
        assertBackend(tf, runtime, contender.backend);
        if (round < 0) continue;
        res.msPerRow.push(single.msPerCall);
        res.callP50Ms.push(single.callP50Ms!);
        res.callP99Ms.push(single.callP99Ms!);
        res.rowsPerSec.push((BATCH * 1000) / batched.msPerCall);
      } finally {
        runtime.dispose();
      }
    }
    if (round < 0) continue;
    ctx.progress(`  ${model.name} round ${round + 1}/${ctx.rounds}: ` + results.map((r) => `${r.label} ${r.msPerRow.at(-1)!.toFixed(3)} ms/row, ${Math.round(r.rowsPerSec.at(-1)!)} rows/s`).join('; '));
  }
  return results;
}

export const runtimesSection: Section = {
  name: 'runtimes',
  title: 'tfjs runtimes (digits)',
  async run(ctx: BenchContext): Promise<SectionResult> {
    const archs: Architecture[] = ['mlp', 'cnn'];
    const models: TrainedModel[] = [];
    for (const arch of archs) models.push(await ctx.fixtures.digits(arch));

    const table: Table = {
      title: `per-row latency (batch 1) and batch-${BATCH} throughput; median (p25-p75) of ${ctx.rounds} rounds`,
      columns: [
        { key: 'model', header: 'model' },
        { key: 'runtime', header: 'runtime' },
        { key: 'msPerRow', header: 'ms/row (batch 1)', digits: 4 },
        { key: 'p50', header: 'call p50 ms', digits: 4 },
        { key: 'p99', header: 'call p99 ms', digits: 4 },
        { key: 'rowsPerSec', header: `rows/s (batch ${BATCH})`, digits: 0 },
        { key: 'accuracy', header: 'test acc', digits: 4 },
      ],
      rows: [],
    };
    const ratios: Ratio[] = [];
    const details: Record<string, unknown> = {};
    for (const model of models) {
      ctx.progress(`measuring ${model.name} on ${CONTENDERS.map((c) => `tfjs-${c.backend}`).join(' and ')}`);
      const [cpu, wasm] = await measureModel(ctx, model);
      for (const r of [cpu!, wasm!]) {
        const row: Record<string, Cell> = {
          model: model.name,
          runtime: r.label,
          msPerRow: summarize(r.msPerRow),
          p50: summarize(r.callP50Ms),
          p99: summarize(r.callP99Ms),
          rowsPerSec: summarize(r.rowsPerSec),
          accuracy: r.accuracy ?? Number.NaN,
        };
        table.rows.push(row);
      }
      // Speed-up > 1 means wasm is faster: cpu time over wasm time, wasm rows/s over cpu rows/s.
      ratios.push(
        pairedRatio(`${model.name} per-row speed-up, wasm vs cpu`, { label: `${cpu!.label} ms/row`, values: cpu!.msPerRow }, { label: `${wasm!.label} ms/row`, values: wasm!.msPerRow }),
        pairedRatio(`${model.name} batch-${BATCH} throughput ratio, wasm vs cpu`, { label: `${wasm!.label} rows/s`, values: wasm!.rowsPerSec }, { label: `${cpu!.label} rows/s`, values: cpu!.rowsPerSec }),
      );
      details[model.name] = {
        training: model.training,
        testRows: model.test.n,
        outputsMaxAbsDiff: cpu!.outputs && wasm!.outputs ? maxAbsDiff(cpu!.outputs, wasm!.outputs) : null,
        rounds: Object.fromEntries([cpu!, wasm!].map((r) => [r.label, { msPerRow: r.msPerRow, callP50Ms: r.callP50Ms, callP99Ms: r.callP99Ms, rowsPerSec: r.rowsPerSec }])),
      };
    }
    const notes = [
      `same artifact bytes on both backends; digits test split (${models[0]!.test.n} rows), inputs preprocessed before timing, so only predict() is timed (tensor in, dataSync out)`,
      `each round reloads the model through its loader (tfjs has one active backend per process) and alternates which runtime goes first; ${ctx.roundMs} ms timed per figure per round after warm-up calls, plus one unrecorded warm-up round`,
      ...models.map((m) => {
        const d = details[m.name] as { outputsMaxAbsDiff: number | null };
        return `${m.name}: trained on tfjs-${m.training.backend}, ${m.training.epochs} epochs (best ${m.training.bestEpoch}) in ${(m.training.durationMs / 1000).toFixed(1)} s, seed ${ctx.fixtures.seed}; cpu vs wasm outputs differ by at most ${d.outputsMaxAbsDiff?.toExponential(1) ?? 'n/a'}`;
      }),
    ];
    return { tables: [table], ratios, notes, details };
  },
};

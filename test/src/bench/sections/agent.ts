/**
 * Agent in-process predict path (issue 7): what the agent adds over the raw runtime call on the
 * same rows. The agent path is Predictor.predict as the local API calls it, from rows as a
 * client sends them (plain numbers): input checks, standardisation, the runtime, decoding and
 * prediction ids. The raw path is ModelRuntime.predict on rows already preprocessed.
 */
import { createPipeline, Predictor } from '@edgeml/agent';
import { createTfliteRuntime } from '@edgeml/tflite';
import { deviceModel, RUNTIME_LABEL } from '../device.js';
import { benchInputs, latencyCells, latencyColumns, measureRounds, roundsRecord, runtimeContender, type Contender } from '../rounds.js';
import type { BenchContext, Section, SectionResult, Table } from '../section.js';
import { pairedRatio, summarize, timeRound, type Target } from '../stats.js';

const BATCH = 256;
const ROW_TARGET: Target = { op: '<=', value: 1.5, source: 'issue 7' };
const BATCH_TARGET: Target = { op: '<=', value: 1.05, source: 'issue 7' };

export const agentSection: Section = {
  name: 'agent',
  title: 'Agent in-process predict path vs the raw runtime (digits CNN, int8 TFLite)',
  async run(ctx: BenchContext): Promise<SectionResult> {
    const dm = await deviceModel(ctx);
    const { rows, batch } = benchInputs(dm.trained, BATCH);
    const n = dm.rawRows.length;
    const rawBatch = Array.from({ length: BATCH }, (_, k) => dm.rawRows[k % n]!);

    const raw = runtimeContender({ label: 'raw runtime: ModelRuntime.predict (preprocessed rows)', load: () => createTfliteRuntime(dm.artifact) }, rows, batch, BATCH);
    const agent: Contender = {
      label: 'agent: Predictor.predict (raw rows)',
      async open() {
        const runtime = await createTfliteRuntime(dm.artifact);
        const predictor = new Predictor();
        predictor.swap({ release: dm.release, runtime });
        return { kind: 'sync', row: (i) => predictor.predict([dm.rawRows[i % n]!]), batch: () => predictor.predict(rawBatch), close: () => runtime.dispose() };
      },
    };

    // The agent must give the runtime's answers before its speed means anything.
    const check = await createTfliteRuntime(dm.artifact);
    let agree = 0;
    try {
      const predictor = new Predictor();
      predictor.swap({ release: dm.release, runtime: check });
      const got = predictor.predict(dm.rawRows).predictions;
      const out = check.predict(dm.trained.testInput, n);
      const k = check.info.outputSize;
      got.forEach((p, r) => {
        let best = 0;
        for (let c = 1; c < k; c++) if (out[r * k + c]! > out[r * k + best]!) best = c;
        if ('index' in p && p.index === best) agree++;
      });
    } finally {
      check.dispose();
    }
    if (agree !== n) throw new Error(`benchmark invalid: the agent path and the raw runtime disagree on ${n - agree} of ${n} test rows`);

    ctx.progress(`measuring the agent path against the raw runtime (${RUNTIME_LABEL})`);
    const figures = await measureRounds(ctx, 'agent', [raw, agent], BATCH);
    const [r, a] = figures as [(typeof figures)[number], (typeof figures)[number]];
    const perBatchMs = (f: typeof r) => f.rowsPerSec.map((rps) => (BATCH * 1000) / rps);

    const table: Table = {
      title: `per-row latency (one row per call) and batch-${BATCH} throughput; median (p25-p75) of ${ctx.rounds} rounds`,
      columns: [{ key: 'path', header: 'path' }, ...latencyColumns(BATCH)],
      rows: figures.map((f) => ({ path: f.label, ...latencyCells(f) })),
    };

    // Where the agent's time goes at batch 256, for the reader (and for a missed target).
    const runtime = await createTfliteRuntime(dm.artifact);
    let breakdown: Table;
    try {
      const pipe = createPipeline(dm.release.spec, runtime);
      const x = new Float32Array(BATCH * pipe.width);
      const parts = { encode: [] as number[], runtime: [] as number[], whole: [] as number[] };
      for (let round = 0; round < ctx.rounds; round++) {
        const opts = { minTimeMs: ctx.roundMs / 2, warmup: 20, minIterations: 20 };
        parts.encode.push(timeRound(() => pipe.encode(rawBatch, x, 0), opts).msPerCall);
        pipe.encode(rawBatch, x, 0);
        parts.runtime.push(timeRound(() => runtime.predict(x, BATCH), opts).msPerCall);
        parts.whole.push(timeRound(() => pipe.runWithIds(x, BATCH), opts).msPerCall);
      }
      const us = (ms: number[]) => (summarize(ms).median * 1000) / BATCH;
      breakdown = {
        title: `agent path at batch ${BATCH}, per row (microseconds); medians of ${ctx.rounds} rounds`,
        columns: [
          { key: 'step', header: 'step' },
          { key: 'us', header: 'us/row', digits: 3 },
        ],
        rows: [
          { step: 'check + standardise (pipeline.encode)', us: us(parts.encode) },
          { step: 'runtime (ModelRuntime.predict)', us: us(parts.runtime) },
          { step: 'decode + prediction ids', us: us(parts.whole) - us(parts.runtime) },
        ],
      };
    } finally {
      runtime.dispose();
    }

    const ratios = [
      // Judged on the mean and on the median call: a mean alone hides whether a few slow calls
      // (GC, a busy machine) or every call carry the overhead.
      pairedRatio('agent per-row latency vs raw runtime (one row, mean of calls)', { label: `${a.label} ms/row`, values: a.msPerRow }, { label: `${r.label} ms/row`, values: r.msPerRow }, ROW_TARGET),
      pairedRatio('agent per-row latency vs raw runtime (one row, median call)', { label: `${a.label} p50`, values: a.callP50Ms }, { label: `${r.label} p50`, values: r.callP50Ms }, { ...ROW_TARGET, source: 'issues 7 and 13 (median call)' }),
      pairedRatio(`agent batch-${BATCH} time vs raw runtime`, { label: `${a.label} ms/batch`, values: perBatchMs(a) }, { label: `${r.label} ms/batch`, values: perBatchMs(r) }, BATCH_TARGET),
    ];
    return {
      tables: [table, breakdown],
      ratios,
      notes: [
        `model: the digits CNN as int8 TFLite (issue 4's artifact), ${RUNTIME_LABEL}, 1 thread; rows: the ${n} test rows, cycled; the agent and the raw runtime agree on every one`,
        'agent path: Predictor.predict with no observers attached (what the local API calls, minus HTTP): number checks, standardisation fused with them, the runtime, argmax and probabilities, and a prediction id per row (one random UUID per call, rows numbered in its last hex digits)',
        `each round opens both paths afresh and rotates which goes first; ${ctx.roundMs} ms timed per figure per round, plus one unrecorded warm-up round`,
      ],
      details: { rounds: roundsRecord(figures), breakdown: breakdown.rows },
    };
  },
};

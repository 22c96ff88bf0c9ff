/**
 * onnxruntime-node as the peer reference (issues 4, 7 and 13): the same trained digits models,
 * with the same weights, written as ONNX by the bench's own encoder (onnx/), checked to give
 * tfjs' outputs, then timed next to float32 TFLite, int8 TFLite and tfjs-wasm in the same
 * rounds. The ONNX graph is float32, so the like-for-like pairing is float32 TFLite with it;
 * int8 TFLite against it is reported beside, labelled as what it is (int8 vs float). The peer
 * runs single-threaded for a like-for-like comparison, and with its default threading as a
 * second row.
 */
import os from 'node:os';
import { classificationMetrics, evaluateRuntime, loadBundle, outputsToTargets, type Architecture } from '@edgeml/ml';
import { createTfliteRuntime } from '@edgeml/tflite';
import type { InferenceSession } from 'onnxruntime-node';
import type { TrainedModel } from '../fixtures.js';
import { onnxFromTfjs, type OnnxExport } from '../onnx/from-tfjs.js';
import { benchInputs, latencyCells, latencyColumns, maxAbsDiff, measureRounds, roundsRecord, runtimeContender, tfjsWasmSource, type Contender, type Figures, type RuntimeSource } from '../rounds.js';
import type { BenchContext, Section, SectionResult, Table } from '../section.js';
import { pairedRatio, type Ratio } from '../stats.js';

type Ort = typeof import('onnxruntime-node');

const BATCH = 256;
/** The ONNX graph must reproduce tfjs' outputs to this before its speed means anything. */
const MATCH_TOLERANCE = 1e-4;

const ORT_SETUPS: { label: string; options: InferenceSession.SessionOptions }[] = [
  { label: 'onnxruntime-node 1 thread', options: { executionProviders: ['cpu'], intraOpNumThreads: 1 } },
  { label: 'onnxruntime-node default threads', options: { executionProviders: ['cpu'] } },
];

function ortRunner(ort: Ort, session: InferenceSession, onnx: OnnxExport) {
  return async (data: Float32Array, n: number): Promise<Float32Array> => {
    const out = await session.run({ [onnx.inputName]: new ort.Tensor('float32', data, [n, ...onnx.inputShape]) });
    return out[onnx.outputName]!.data as Float32Array;
  };
}

function ortContender(ort: Ort, setup: (typeof ORT_SETUPS)[number], onnx: OnnxExport, rows: Float32Array[], batch: Float32Array): Contender {
  return {
    label: setup.label,
    async open() {
      // A fresh session per round: releasing it joins the default setup's worker threads, so
      // they cannot spin on a core while the next contender is timed.
      const session = await ort.InferenceSession.create(onnx.bytes, setup.options);
      const run = ortRunner(ort, session, onnx);
      return { kind: 'async', row: (i) => run(rows[i % rows.length]!, 1), batch: () => run(batch, BATCH), close: () => session.release() };
    },
  };
}

interface Accuracy {
  label: string;
  accuracy: number;
}

/** Export, verify against tfjs, and measure one model; returns its table rows and ratios. */
async function measureModel(ctx: BenchContext, ort: Ort, model: TrainedModel, arch: Architecture) {
  const tfModel = await loadBundle(model.bundle);
  let onnx: OnnxExport;
  try {
    onnx = onnxFromTfjs(tfModel, model.name);
  } finally {
    tfModel.dispose();
  }
  const int8 = await ctx.fixtures.tflite(arch, 'int8');
  const float32 = await ctx.fixtures.tflite(arch, 'float32');
  const sources: RuntimeSource[] = [
    { label: 'tflite float32', load: () => createTfliteRuntime(float32) },
    { label: 'tflite int8', load: () => createTfliteRuntime(int8) },
    tfjsWasmSource(model.bundle),
  ];

  // Outputs and accuracy through each runtime on the whole test split.
  const accuracies: Accuracy[] = [];
  const outputs = new Map<string, Float32Array>();
  for (const src of sources) {
    const runtime = await src.load();
    try {
      src.check?.(runtime);
      const ev = evaluateRuntime(runtime, model.spec, model.test, BATCH);
      accuracies.push({ label: src.label, accuracy: 'accuracy' in ev.metrics ? ev.metrics.accuracy : Number.NaN });
      outputs.set(src.label, ev.outputs);
    } finally {
      runtime.dispose();
    }
  }
  const reference = outputs.get('tfjs-wasm float32')!;
  for (const setup of ORT_SETUPS) {
    const session = await ort.InferenceSession.create(onnx.bytes, setup.options);
    try {
      const out = await ortRunner(ort, session, onnx)(model.testInput, model.test.n);
      const diff = maxAbsDiff(out, reference);
      if (!(diff <= MATCH_TOLERANCE)) {
        throw new Error(`benchmark invalid: the ONNX ${model.name} (${setup.label}) differs from tfjs by ${diff.toExponential(2)} > ${MATCH_TOLERANCE}; it is not the same model`);
      }
      const metrics = classificationMetrics(model.test.y, outputsToTargets(model.spec, out, model.test.n), model.spec.labels!);
      accuracies.push({ label: setup.label, accuracy: metrics.accuracy });
      outputs.set(setup.label, out);
    } finally {
      await session.release();
    }
  }
  const onnxDiff = maxAbsDiff(outputs.get(ORT_SETUPS[0]!.label)!, reference);
  // The float pairing is only like for like if float TFLite computes what the ONNX graph does.
  const tfliteDiff = maxAbsDiff(outputs.get('tflite float32')!, outputs.get(ORT_SETUPS[0]!.label)!);
  if (!(tfliteDiff <= MATCH_TOLERANCE)) throw new Error(`benchmark invalid: float32 TFLite and the ONNX ${model.name} differ by ${tfliteDiff.toExponential(2)} > ${MATCH_TOLERANCE}`);

  const { rows, batch } = benchInputs(model, BATCH);
  const contenders = [...ORT_SETUPS.map((s) => ortContender(ort, s, onnx, rows, batch)), ...sources.map((s) => runtimeContender(s, rows, batch, BATCH))];
  ctx.progress(`measuring ${model.name}: ${contenders.map((c) => c.label).join(', ')}`);
  const figures = await measureRounds(ctx, model.name, contenders, BATCH);
  const byLabel = (label: string): Figures => figures.find((f) => f.label === label)!;
  const [peer, peerThreads] = ORT_SETUPS.map((s) => byLabel(s.label)) as [Figures, Figures];
  const q = byLabel('tflite int8');
  const fl = byLabel('tflite float32');
  const w = byLabel('tfjs-wasm float32');

  const ratios: Ratio[] = [
    pairedRatio(`${model.name} batch-${BATCH} throughput, float32 TFLite vs float32 onnxruntime-node 1 thread (like for like)`, { label: `${fl.label} rows/s`, values: fl.rowsPerSec }, { label: `${peer.label} rows/s`, values: peer.rowsPerSec }),
    pairedRatio(`${model.name} per-row latency, float32 TFLite vs float32 onnxruntime-node 1 thread (like for like)`, { label: `${fl.label} ms/row`, values: fl.msPerRow }, { label: `${peer.label} ms/row`, values: peer.msPerRow }),
    pairedRatio(`${model.name} batch-${BATCH} throughput, int8 TFLite vs float32 onnxruntime-node 1 thread (int8 vs float)`, { label: `${q.label} rows/s`, values: q.rowsPerSec }, { label: `${peer.label} rows/s`, values: peer.rowsPerSec }),
    pairedRatio(`${model.name} batch-${BATCH} throughput, tfjs-wasm vs onnxruntime-node 1 thread`, { label: `${w.label} rows/s`, values: w.rowsPerSec }, { label: `${peer.label} rows/s`, values: peer.rowsPerSec }),
    pairedRatio(`${model.name} batch-${BATCH} throughput, onnxruntime-node default threads vs 1 thread`, { label: `${peerThreads.label} rows/s`, values: peerThreads.rowsPerSec }, { label: `${peer.label} rows/s`, values: peer.rowsPerSec }),
    pairedRatio(`${model.name} per-row latency, int8 TFLite vs float32 onnxruntime-node 1 thread (int8 vs float)`, { label: `${q.label} ms/row`, values: q.msPerRow }, { label: `${peer.label} ms/row`, values: peer.msPerRow }),
    pairedRatio(`${model.name} per-row latency, tfjs-wasm vs onnxruntime-node 1 thread`, { label: `${w.label} ms/row`, values: w.msPerRow }, { label: `${peer.label} ms/row`, values: peer.msPerRow }),
  ];
  const rowsOut = figures.map((f) => ({ model: model.name, runtime: f.label, ...latencyCells(f), accuracy: accuracies.find((a) => a.label === f.label)?.accuracy ?? Number.NaN }));
  const note = `${model.name}: ONNX graph ${onnx.ops.join(' -> ')} (${onnx.bytes.length} bytes, IR 8, opset 13); onnxruntime vs tfjs outputs differ by at most ${onnxDiff.toExponential(1)}, float32 TFLite vs onnxruntime by at most ${tfliteDiff.toExponential(1)} on the ${model.test.n} test rows (both checked <= ${MATCH_TOLERANCE} before timing)`;
  return { rows: rowsOut, ratios, note, details: { onnxBytes: onnx.bytes.length, onnxOps: onnx.ops, onnxMaxAbsDiff: onnxDiff, tfliteFloatMaxAbsDiff: tfliteDiff, accuracies, rounds: roundsRecord(figures) } };
}

export const peerSection: Section = {
  name: 'peer',
  title: 'onnxruntime-node as the peer (digits MLP and CNN)',
  async run(ctx: BenchContext): Promise<SectionResult> {
    // Loaded here: a benchmark-only dev dependency, and only this section pays for its start-up.
    const ort: Ort = await import('onnxruntime-node');
    const table: Table = {
      title: `same weights in every runtime: per-row latency (batch 1; onnxruntime awaited) and batch-${BATCH} throughput; median (p25-p75) of ${ctx.rounds} rounds`,
      columns: [{ key: 'model', header: 'model' }, { key: 'runtime', header: 'runtime' }, ...latencyColumns(BATCH), { key: 'accuracy', header: 'test acc', digits: 4 }],
      rows: [],
    };
    const ratios: Ratio[] = [];
    const notes: string[] = [];
    const details: Record<string, unknown> = { onnxruntime: ort.env.versions, sessionOptions: Object.fromEntries(ORT_SETUPS.map((s) => [s.label, s.options])) };
    for (const arch of ['mlp', 'cnn'] as const) {
      const model = await ctx.fixtures.digits(arch);
      const m = await measureModel(ctx, ort, model, arch);
      table.rows.push(...m.rows);
      ratios.push(...m.ratios);
      notes.push(m.note);
      details[model.name] = m.details;
    }
    notes.push(
      `onnxruntime-node ${ort.env.versions.node ?? ort.env.versions.common}, cpu execution provider, graph optimisation "all" (its default); "1 thread" is intraOpNumThreads 1, like TFLite and tfjs-wasm here (single-threaded); "default threads" leaves it to onnxruntime on this ${os.availableParallelism()}-core machine`,
      'the default-threads row can be slower than 1 thread on this machine: onnxruntime sizes its intra-op pool to the physical cores and its workers spin-wait between ops, which on 2 cores shared with the JS thread and other jobs costs more than the second core gives back (a side check with the session option intra_op.allow_spinning = 0 ran 2 threads at or above 1-thread speed on the CNN); its p25-p75 tracks how busy the machine is',
      'like for like: the ONNX graph is float32, so float32 TFLite is its pair; int8 TFLite against it is int8 vs float and labelled so. onnxruntime-node can run quantized graphs (QuantizeLinear/DequantizeLinear and QLinear* operators on its cpu provider), but the bench\'s ONNX encoder writes float graphs only: an int8 ONNX twin of the int8 TFLite model is not built, so there is no int8-with-int8 row',
      'ratios put the peer (1 thread) in the denominator: throughput above 1x or latency below 1x means the edgeml runtime is ahead of onnxruntime-node',
      `per-row: onnxruntime-node's session.run is async and each call is awaited (a promise round trip included), TFLite and tfjs predict() are synchronous: that is how each is called in practice; every runtime gets float32 rows in and float32 scores out`,
      `each round opens every runtime afresh (onnxruntime sessions are created and released) and rotates which goes first; ${ctx.roundMs} ms timed per figure per round, plus one unrecorded warm-up round`,
    );
    return { tables: [table], ratios, notes, details };
  },
};

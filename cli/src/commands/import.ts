/**
 * `edgeml import`: a .tflite file made elsewhere (TensorFlow's converter, most often) becomes a
 * model directory like the ones `edgeml train` writes, so validate, sign, release, batch,
 * predict and agents take it as they take any other. The release command's `tflite` field
 * comes through here too.
 */
import { readFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { userError, type ModelSpec, type Release, type Task } from '@edgeml/core';
import {
  evaluateRuntime,
  headlineFigures,
  metricWarnings,
  readDatasetFor,
  subset,
  writeModelDir,
  type Dataset,
  type Evaluation,
  type ModelMeta,
} from '@edgeml/ml';
import type { DescribedTflite, ImportDescription, TensorSummary } from '@edgeml/tflite';
import { parseShape, parseTask, printJson } from './options.js';

export interface ImportFlags {
  tflite: string;
  task: string;
  target: string;
  features?: string;
  inputShape?: string;
  labels?: string;
  data?: string;
  out: string;
  json?: boolean;
}

export interface ImportedModel {
  dir: string;
  meta: ModelMeta;
  described: DescribedTflite;
  artifact: Uint8Array;
  /** The labelled rows it was evaluated on, when there were any. */
  evaluation?: Evaluation & { dataset: Dataset };
  /** The first evaluation rows and the outputs they gave: the agent's self-test. */
  selfTest: Release['selfTest'];
}

const SELF_TEST_ROWS = 8;
const CALIBRATION_ROWS = 256;
/** Rows of the stand-in sample when there is no data: enough for latency probes. */
const SYNTHETIC_ROWS = 32;

const list = (text: string | undefined, flag: string): string[] | undefined => {
  if (text === undefined) return undefined;
  const items = text.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw userError('bad-usage', `${flag} "${text}" has an empty name; give names separated by commas`);
  return items;
};

export async function importCommand(o: ImportFlags): Promise<void> {
  const task = parseTask(o.task) as Task;
  if (o.features !== undefined && o.inputShape !== undefined) throw userError('bad-usage', 'give --features or --input-shape, not both');
  const features = list(o.features, '--features');
  const labels = list(o.labels, '--labels');
  const inputShape = parseShape(o.inputShape);
  const m = await importTfliteModel({
    file: resolve(o.tflite),
    out: resolve(o.out),
    description: { task, target: o.target, ...(features ? { features } : {}), ...(inputShape ? { inputShape } : {}), ...(labels ? { labels } : {}) },
    ...(o.data ? { data: resolve(o.data) } : {}),
  });
  const warnings = m.evaluation ? metricWarnings(m.evaluation.metrics) : [];
  if (o.json) {
    printJson({ out: m.dir, format: m.meta.format, runtime: m.meta.runtime, sha256: m.meta.sha256, sizeBytes: m.meta.sizeBytes, input: m.described.input, output: m.described.output, spec: { ...m.meta.spec, preprocessing: undefined }, figures: m.meta.figures, warnings });
    return;
  }
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
  const spec = m.meta.spec;
  process.stdout.write(
    `imported ${basename(o.tflite)} as ${m.meta.format} (${m.meta.sizeBytes} bytes, sha256 ${m.meta.sha256.slice(0, 12)})\n` +
      `input  ${tensorLine(m.described.input)}: ${spec.features.length <= 8 ? spec.features.join(', ') : `${spec.features[0]} .. ${spec.features.at(-1)}`}\n` +
      `output ${tensorLine(m.described.output)}: ${spec.task === 'classification' ? spec.labels!.join(', ') : `${spec.target} (regression)`}\n` +
      (m.evaluation ? `evaluated on ${m.evaluation.dataset.n} rows of ${o.data}: ${Object.entries(m.meta.figures).map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(4)}`).join(', ')}\n` : '') +
      `wrote ${m.dir}\n`,
  );
}

const tensorLine = (t: TensorSummary) =>
  `"${t.name}" ${t.type.toLowerCase()} ${t.shape.join('x')}${t.quantization ? ` (scale ${Number(t.quantization.scale.toPrecision(6))}, zero point ${t.quantization.zeroPoint})` : ''}`;

/** Check, load and write an imported model; evaluate it on `data` when given. */
export async function importTfliteModel(o: { file: string; out: string; description: ImportDescription; data?: string }): Promise<ImportedModel> {
  let artifact: Uint8Array;
  try {
    artifact = await readFile(o.file);
  } catch (e) {
    throw userError('file-missing', `cannot read ${o.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const tflite = await import('@edgeml/tflite');
  const described = tflite.describeTflite(artifact, o.description);
  const { spec } = described;
  // Loading and running a row now puts an op this interpreter lacks in the import's error, not
  // in a device's install log.
  const runtime = await tflite.createTfliteRuntime(artifact);
  let evaluation: (Evaluation & { dataset: Dataset }) | undefined;
  let sample: Dataset;
  let selfTest: Release['selfTest'];
  try {
    if (o.data) {
      const dataset = await readDatasetFor(spec, o.data);
      if (dataset.n === 0) throw userError('empty-data', `${o.data} has no rows to evaluate the model on`);
      evaluation = { ...evaluateRuntime(runtime, spec, dataset), dataset };
      sample = dataset;
    } else {
      sample = syntheticRows(spec, described.input);
    }
    selfTest = selfTestOf(spec, sample, runtime.predict(sample.x.slice(0, Math.min(SELF_TEST_ROWS, sample.n) * spec.features.length), Math.min(SELF_TEST_ROWS, sample.n)));
  } finally {
    runtime.dispose();
  }
  const meta = await writeModelDir(o.out, {
    artifact,
    // Without labelled rows there is no test split: test.csv stays a header, and the stand-in
    // sample only feeds latency probes.
    test: evaluation ? evaluation.dataset : subset(sample, []),
    calibration: subset(sample, Array.from({ length: Math.min(CALIBRATION_ROWS, sample.n) }, (_, i) => i)),
    meta: {
      format: runtime.info.format,
      runtime: runtime.info.runtime,
      spec,
      figures: evaluation ? headlineFigures(evaluation.metrics) : {},
      metrics: evaluation?.metrics ?? null,
      training: { imported: basename(o.file), input: described.input, output: described.output },
      data: null,
    },
  });
  return { dir: o.out, meta, described, artifact, ...(evaluation ? { evaluation } : {}), selfTest };
}

function selfTestOf(spec: ModelSpec, sample: Dataset, outputs: Float32Array): Release['selfTest'] {
  const f = spec.features.length;
  const k = outputs.length / Math.max(1, Math.min(SELF_TEST_ROWS, sample.n));
  const n = Math.min(SELF_TEST_ROWS, sample.n);
  return {
    rows: Array.from({ length: n }, (_, r) => Array.from(sample.x.subarray(r * f, (r + 1) * f))),
    expected: Array.from({ length: n }, (_, r) => Array.from(outputs.subarray(r * k, (r + 1) * k))),
    // The device runs the same interpreter on the same bytes; the slack absorbs SIMD rounding.
    tolerance: 1e-4,
  };
}

/**
 * Deterministic rows spread over what the input can represent (its int8/uint8 range, or
 * [-1, 1] for float inputs): something to time the model on when no data was given.
 */
function syntheticRows(spec: ModelSpec, input: TensorSummary): Dataset {
  const f = spec.features.length;
  const q = input.quantization;
  const [qlo, qhi] = input.type === 'UINT8' ? [0, 255] : [-128, 127];
  const [lo, hi] = q ? [(qlo - q.zeroPoint) * q.scale, (qhi - q.zeroPoint) * q.scale] : [-1, 1];
  const x = new Float32Array(SYNTHETIC_ROWS * f);
  for (let i = 0; i < x.length; i++) x[i] = lo + (hi - lo) * ((i * 0.6180339887) % 1);
  return { features: spec.features, target: spec.target, task: spec.task, x, y: new Float32Array(SYNTHETIC_ROWS), ...(spec.labels ? { labels: spec.labels } : {}), n: SYNTHETIC_ROWS };
}

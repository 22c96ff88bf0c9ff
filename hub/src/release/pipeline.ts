/**
 * The model pipeline the hub runs for a release: validate data, split, train, package the
 * artifact, then evaluate it in the runtime the device uses. The demo and `edgeml release` both
 * come through here.
 */
import { userError, type ArtifactFormat, type ModelSpec, type Release, type Task } from '@edgeml/core';
import { exportTflite } from '@edgeml/tflite';
import {
  applyPreprocessing,
  buildDataset,
  evaluateRuntime,
  headlineFigures,
  loadUserModel,
  fitDriftReference,
  quantizeBundle,
  calibrationSample,
  CALIBRATION_MAX_ROWS,
  type Dataset,
  type tf,
  modelInputShape,
  readCsvFile,
  saveBundle,
  splitDataset,
  prepareSplits,
  type PrepareOptions,
  trainModel,
  type Architecture,
  type DataReport,
  type EpochLog,
  type Evaluation,
  type RuntimeRegistry,
  type Splits,
  type TrainResult,
} from '@edgeml/ml';

export interface PipelineOptions {
  data: string;
  target: string;
  task?: Task;
  arch?: Architecture;
  inputShape?: number[];
  seed?: number;
  /** Most training epochs (default: the trainer's); early stopping may end sooner. */
  epochs?: number;
  /** A user's tfjs model.json to start from instead of a built-in architecture. */
  baseModel?: string;
  format?: ArtifactFormat;
  runtimes: RuntimeRegistry;
  onEpoch?: (log: EpochLog, maxEpochs: number) => void;
  /** How many test rows the signed manifest carries for the agent's self-test. */
  selfTestRows?: number;
  /** Text columns and gaps: encoded and filled by rules fitted on the training split, stored in the spec. */
  prepare?: PrepareOptions;
}

export interface Candidate {
  report: DataReport;
  splits: Splits;
  training: TrainResult;
  artifact: Uint8Array;
  format: ArtifactFormat;
  runtime: string;
  /** The float tfjs model the artifact was made from. */
  floatArtifact: Uint8Array;
  /** Evaluation of the float model, when the shipped artifact is a smaller variant of it. */
  reference?: Evaluation;
  /** Evaluation of the shipped artifact on the test split, in the device runtime. */
  evaluation: Evaluation;
  figures: Record<string, number>;
  selfTest: Release['selfTest'];
  /** Where the training data lies, feature by feature: the drift reference devices compare with. */
  driftReference: NonNullable<Release['reference']>;
}

/** Turn the trained model into the artifact format that ships. */
export async function packageArtifact(model: tf.LayersModel, floatArtifact: Uint8Array, format: ArtifactFormat, calibration: Float32Array): Promise<Uint8Array> {
  switch (format) {
    case 'tfjs-layers':
      return floatArtifact;
    case 'tfjs-uint8':
      return quantizeBundle(floatArtifact, 'uint8');
    case 'tfjs-float16':
      return quantizeBundle(floatArtifact, 'float16');
    case 'tflite-int8':
      return exportTflite(model, { quantization: 'int8', calibration });
    case 'tflite-float32':
      return exportTflite(model, { quantization: 'float32' });
  }
}

export async function evaluateWith(runtimes: RuntimeRegistry, format: ArtifactFormat, artifact: Uint8Array, spec: ModelSpec, ds: Dataset): Promise<Evaluation> {
  const runtime = await runtimes[format]!(artifact);
  try {
    return evaluateRuntime(runtime, spec, ds);
  } finally {
    runtime.dispose();
  }
}

/** The data a run trains on, validated and split, and the model it starts from. */
export interface PreparedData {
  report: DataReport;
  splits: Splits;
  baseModel?: tf.LayersModel;
  inputShape?: number[];
}

export async function prepareData(opts: PipelineOptions): Promise<PreparedData> {
  const table = await readCsvFile(opts.data);
  const prepare = opts.prepare && (opts.prepare.categorical || opts.prepare.impute) ? opts.prepare : undefined;
  const { dataset: data, report } = buildDataset(table, { target: opts.target, ...(opts.task ? { task: opts.task } : {}), ...(prepare ? { prepare } : {}) });
  let splits = splitDataset(data, { seed: opts.seed ?? 42 });
  if (prepare) {
    const prepared = prepareSplits(splits, prepare);
    splits = prepared.splits;
    report.encoding = prepared.summary;
  }
  const dataset = splits.train;
  const outputs = dataset.task === 'classification' ? dataset.labels!.length : 1;
  const baseModel = opts.baseModel ? await loadUserModel(opts.baseModel, { inputSize: dataset.features.length, outputs }) : undefined;
  const inputShape = opts.inputShape ?? (baseModel ? modelInputShape(baseModel) : undefined);
  if (inputShape && inputShape.reduce((a, b) => a * b, 1) !== dataset.features.length) {
    throw userError('bad-input-shape', `input shape ${inputShape.join('x')} holds ${inputShape.reduce((a, b) => a * b, 1)} values; the data has ${dataset.features.length} features`);
  }
  return { report, splits, ...(baseModel ? { baseModel } : {}), ...(inputShape ? { inputShape } : {}) };
}

/** The training fields a release config and a retraining job share, as runPipeline takes them. */
export type TrainingFields = Pick<PipelineOptions, 'target' | 'task' | 'arch' | 'inputShape' | 'seed' | 'epochs' | 'format'>;

/** `TrainingFields` with the absent ones left out (the options are exact: no undefined values). */
export function trainingOptions(c: TrainingFields): TrainingFields {
  return {
    target: c.target,
    ...(c.arch !== undefined ? { arch: c.arch } : {}),
    ...(c.seed !== undefined ? { seed: c.seed } : {}),
    ...(c.format !== undefined ? { format: c.format } : {}),
    ...(c.task !== undefined ? { task: c.task } : {}),
    ...(c.inputShape !== undefined ? { inputShape: c.inputShape } : {}),
    ...(c.epochs !== undefined ? { epochs: c.epochs } : {}),
  };
}

export async function runPipeline(opts: PipelineOptions): Promise<Candidate> {
  const data = await prepareData(opts);
  const training = await trainModel(data.splits, {
    arch: opts.arch ?? 'mlp',
    seed: opts.seed ?? 42,
    ...(opts.epochs !== undefined ? { epochs: opts.epochs } : {}),
    ...(data.baseModel ? { baseModel: data.baseModel } : {}),
    ...(data.inputShape ? { inputShape: data.inputShape } : {}),
    ...(opts.onEpoch ? { onEpoch: opts.onEpoch } : {}),
  });
  return finishCandidate(data, training, opts);
}

/** Package a trained model in the release format and evaluate it in the device runtime. Disposes the model. */
export async function finishCandidate({ report, splits }: PreparedData, training: TrainResult, opts: Pick<PipelineOptions, 'format' | 'runtimes' | 'selfTestRows'>): Promise<Candidate> {
  const format = opts.format ?? 'tfjs-layers';
  const loader = opts.runtimes[format];
  if (!loader) throw userError('unknown-format', `no runtime for artifact format ${format}`);
  const floatArtifact = await saveBundle(training.model);
  // The same rows `edgeml quantize` calibrates on: every training row, or a stratified sample.
  const calibration = applyPreprocessing(training.spec.preprocessing, calibrationSample(splits.train, CALIBRATION_MAX_ROWS, splits.seed).dataset.x);
  const artifact = await packageArtifact(training.model, floatArtifact, format, calibration).finally(() => training.model.dispose());
  // What the float model scores on the same rows, so the cost of shrinking it is on record.
  const reference = artifact === floatArtifact ? undefined : await evaluateWith(opts.runtimes, 'tfjs-layers', floatArtifact, training.spec, splits.test);
  const runtime = await loader(artifact);
  try {
    const evaluation = evaluateRuntime(runtime, training.spec, splits.test);
    const k = Math.min(opts.selfTestRows ?? 8, splits.test.n);
    const f = training.spec.features.length;
    const rows = Array.from({ length: k }, (_, r) => Array.from(splits.test.x.subarray(r * f, (r + 1) * f)));
    const pre = applyPreprocessing(training.spec.preprocessing, Float32Array.from(rows.flat()));
    const out = runtime.predict(pre, k);
    const o = runtime.info.outputSize;
    const expected = Array.from({ length: k }, (_, r) => Array.from(out.subarray(r * o, (r + 1) * o)));
    return {
      report,
      splits,
      training,
      artifact,
      floatArtifact,
      ...(reference ? { reference } : {}),
      format,
      runtime: runtime.info.runtime,
      evaluation,
      figures: headlineFigures(evaluation.metrics),
      // Same runtime on the device should match to float rounding; 1e-4 absorbs SIMD differences.
      selfTest: { rows, expected, tolerance: 1e-4 },
      driftReference: fitDriftReference(applyPreprocessing(training.spec.preprocessing, splits.train.x), f),
    };
  } finally {
    runtime.dispose();
  }
}

/** What `hub.publish` needs from a candidate: everything the signed release says about the model. */
export function releaseInputFrom(c: Candidate, o: { model: string; channel?: string; budgets?: Release['budgets'] }) {
  return {
    model: o.model,
    channel: o.channel ?? 'stable',
    task: c.report.task,
    artifact: c.artifact,
    format: c.format,
    runtime: c.runtime,
    spec: c.training.spec,
    validation: c.figures,
    selfTest: c.selfTest,
    reference: c.driftReference,
    budgets: o.budgets ?? {},
    metrics: { ...c.figures, evaluation: c.evaluation.metrics },
  };
}

/**
 * `edgeml quantize`: a smaller variant of a trained model, evaluated against the float model on
 * the same test split, each in its real runtime, with a report of what quantization did: how
 * it was calibrated, how many answers changed, by how much at most, and which rows reach
 * outside the calibration (where int8 clips).
 */
import { join, resolve } from 'node:path';
import { userError, type ArtifactFormat, type ModelSpec } from '@edgeml/core';
import {
  applyPreprocessing,
  bundleWeightBytes,
  compareQuantized,
  loadBundle,
  evaluateRuntime,
  headlineFigures,
  measureRuntime,
  readDatasetFor,
  readModelDir,
  writeModelDir,
  MODEL_FILES,
  type Dataset,
  type Evaluation,
  type ModelRuntime,
  type QuantizationReport,
} from '@edgeml/ml';
import { packageArtifact } from '@edgeml/hub';
import { exportTflite, int8Limits, rangeRuleText, readTflite } from '@edgeml/tflite';
import { formatTable } from '../output/table.js';
import { formatQuantizationReport } from '../output/quantization.js';
import { deviceRuntimes } from '../runtimes.js';
import { printJson } from './options.js';

const FORMATS = ['tflite-int8', 'tflite-float32', 'tfjs-uint8', 'tfjs-float16'] as const;
type QuantFormat = (typeof FORMATS)[number];

interface Variant {
  format: ArtifactFormat;
  runtime: string;
  sizeBytes: number;
  weightBytes: number;
  accuracy?: number;
  r2?: number;
  p50Ms: number;
  evaluation: Evaluation;
}

async function floatTflite(artifact: Uint8Array): Promise<Uint8Array> {
  const model = await loadBundle(artifact);
  try {
    return await packageArtifact(model, artifact, 'tflite-float32', new Float32Array(0));
  } finally {
    model.dispose();
  }
}

/** The training targets, standardised as the model outputs them: the range a regression's int8 output must cover. */
function targetRange(spec: ModelSpec, calibration: Dataset): { min: number; max: number } | undefined {
  const t = spec.preprocessing.target;
  if (spec.task !== 'regression' || !t || calibration.n === 0) return undefined;
  let min = Infinity;
  let max = -Infinity;
  for (const y of calibration.y) {
    min = Math.min(min, (y - t.mean) / t.std);
    max = Math.max(max, (y - t.mean) / t.std);
  }
  return { min, max };
}

export async function quantize(o: { model: string; format: string; out: string; calibration?: string; json?: boolean }): Promise<void> {
  if (!(FORMATS as readonly string[]).includes(o.format)) throw userError('bad-usage', `--format must be one of ${FORMATS.join(', ')}, not "${o.format}"`);
  const format = o.format as QuantFormat;
  const src = resolve(o.model);
  const { meta, artifact } = await readModelDir(src);
  if (meta.format !== 'tfjs-layers') {
    const imported = typeof meta.training.imported === 'string';
    throw userError('bad-usage', `${src} is already ${meta.format}${imported ? ' (imported)' : ''}; quantize a float tfjs model (from edgeml train)`);
  }
  const test = await readDatasetFor(meta.spec, join(src, MODEL_FILES.test));
  const calibrationFile = o.calibration ? resolve(o.calibration) : join(src, MODEL_FILES.calibration);
  const calibration = await readDatasetFor(meta.spec, calibrationFile);
  if (calibration.n === 0) throw userError('empty-data', `${calibrationFile} has no rows to calibrate with`);
  const sample = o.calibration ? `all ${calibration.n} rows of ${calibrationFile}` : typeof meta.training.calibration === 'string' ? meta.training.calibration : `the ${calibration.n} rows of ${MODEL_FILES.calibration}`;
  const calibrationX = applyPreprocessing(meta.spec.preprocessing, calibration.x);
  const outputRange = targetRange(meta.spec, calibration);
  const model = await loadBundle(artifact);
  const quantized = await (format === 'tflite-int8'
    ? exportTflite(model, { quantization: 'int8', calibration: calibrationX, ...(outputRange ? { outputRange } : {}) })
    : packageArtifact(model, artifact, format, calibrationX)
  ).finally(() => model.dispose());

  const measure = async (f: ArtifactFormat, bytes: Uint8Array): Promise<Variant> => {
    const weightBytes = f.startsWith('tflite') ? readTflite(bytes).size.weightBytes : bundleWeightBytes(bytes);
    const runtime: ModelRuntime = await deviceRuntimes()[f]!(bytes);
    try {
      const evaluation = evaluateRuntime(runtime, meta.spec, test);
      const lat = measureRuntime(runtime, calibrationX.subarray(0, Math.min(calibration.n, 256) * meta.spec.features.length), { runs: 1000 });
      const m = evaluation.metrics;
      return { format: f, runtime: runtime.info.runtime, sizeBytes: bytes.length, weightBytes, ...(m.task === 'classification' ? { accuracy: m.accuracy } : { r2: m.r2 }), p50Ms: lat.p50Ms, evaluation };
    } finally {
      runtime.dispose();
    }
  };
  const float = await measure('tfjs-layers', artifact);
  // An int8 TFLite report also shows float TFLite, so the cost of each step is visible.
  const extra = format === 'tflite-int8' ? [await measure('tflite-float32', await floatTflite(artifact))] : [];
  const small = await measure(format, quantized);
  const int8 = format === 'tflite-int8';
  const limits = int8 ? int8Limits(quantized, meta.spec) : {};
  const quantization: QuantizationReport = compareQuantized(meta.spec, test, float.evaluation, small.evaluation, {
    // Weight-only formats keep float activations: nothing is clipped, so ranges are not checked.
    calibration: int8 ? calibration : { ...calibration, n: 0, x: new Float32Array(0) },
    sample: int8 ? sample : 'none',
    rangeRule: int8 ? rangeRuleText(calibration.n, undefined, outputRange ? 'the calibration rows\' targets' : undefined) : 'none: only the weights are quantized; activations stay float',
    ...(limits.output ? { outputLimits: limits.output } : {}),
    ...(limits.input ? { inputLimits: limits.input } : {}),
  });
  if (!int8) quantization.test.outsideCalibration = 0;
  const out = resolve(o.out);
  await writeModelDir(out, {
    artifact: quantized,
    test,
    calibration,
    floatReference: artifact,
    meta: { ...meta, format, runtime: small.runtime, figures: headlineFigures(small.evaluation.metrics), metrics: small.evaluation.metrics, training: { ...meta.training, quantizedFrom: meta.sha256 }, quantization },
  });
  const report = {
    out,
    format,
    /** 1 - quantization.test.disagreement, kept for scripts that read it. */
    agreement: 1 - quantization.test.disagreement,
    quantization,
    overheadBytes: format.startsWith('tflite') ? readTflite(quantized).size.overheadBytes : quantized.length - bundleWeightBytes(quantized),
    variants: [float, ...extra, small].map(({ evaluation: _e, ...v }) => ({ ...v, sizeRatio: v.sizeBytes / float.sizeBytes, weightRatio: v.weightBytes / float.weightBytes })),
  };
  if (o.json) {
    printJson(report);
    for (const w of quantization.warnings) process.stderr.write(`warning: ${w}\n`);
    return;
  }
  process.stdout.write(
    formatTable(
      ['format', 'runtime', 'size', 'weights', 'weights vs float', meta.spec.task === 'classification' ? 'accuracy' : 'R^2', 'p50 ms'],
      report.variants.map((v) => [v.format, v.runtime, v.sizeBytes, v.weightBytes, `${v.weightRatio.toFixed(3)}x`, (v.accuracy ?? v.r2 ?? NaN).toFixed(4), v.p50Ms.toFixed(4)]),
    ) + `\n\nfixed overhead of the ${format} file (besides weights): ${report.overheadBytes} bytes\n${formatQuantizationReport(quantization, format, meta.spec.task)}wrote ${out}\n`,
  );
  for (const w of quantization.warnings) process.stderr.write(`warning: ${w}\n`);
}

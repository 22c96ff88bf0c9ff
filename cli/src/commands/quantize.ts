/**
 * `edgeml quantize`: a smaller variant of a trained model, evaluated against the float model on
 * the same test split, each in its real runtime.
 */
import { join, resolve } from 'node:path';
import { userError, type ArtifactFormat } from '@edgeml/core';
import {
  applyPreprocessing,
  bundleWeightBytes,
  loadBundle,
  evaluateRuntime,
  headlineFigures,
  measureRuntime,
  readDatasetFor,
  readModelDir,
  writeModelDir,
  MODEL_FILES,
  type Evaluation,
  type ModelRuntime,
} from '@edgeml/ml';
import { packageArtifact } from '@edgeml/hub';
import { readTflite } from '@edgeml/tflite';
import { formatTable } from '../output/table.js';
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

export async function quantize(o: { model: string; format: string; out: string; calibration?: string; json?: boolean }): Promise<void> {
  if (!(FORMATS as readonly string[]).includes(o.format)) throw userError('bad-usage', `--format must be one of ${FORMATS.join(', ')}, not "${o.format}"`);
  const format = o.format as QuantFormat;
  const src = resolve(o.model);
  const { meta, artifact } = await readModelDir(src);
  if (meta.format !== 'tfjs-layers') throw userError('bad-usage', `${src} is already ${meta.format}; quantize a float tfjs model (from edgeml train)`);
  const test = await readDatasetFor(meta.spec, join(src, MODEL_FILES.test));
  const calibration = await readDatasetFor(meta.spec, o.calibration ? resolve(o.calibration) : join(src, MODEL_FILES.calibration));
  const model = await loadBundle(artifact);
  const quantized = await packageArtifact(model, artifact, format, applyPreprocessing(meta.spec.preprocessing, calibration.x)).finally(() => model.dispose());

  const measure = async (f: ArtifactFormat, bytes: Uint8Array): Promise<Variant> => {
    const weightBytes = f.startsWith('tflite') ? readTflite(bytes).size.weightBytes : bundleWeightBytes(bytes);
    const runtime: ModelRuntime = await deviceRuntimes()[f]!(bytes);
    try {
      const evaluation = evaluateRuntime(runtime, meta.spec, test);
      const lat = measureRuntime(runtime, applyPreprocessing(meta.spec.preprocessing, calibration.x), { runs: 1000 });
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
  let agree = 0;
  for (let i = 0; i < test.n; i++) {
    const a = float.evaluation.predicted[i]!;
    const b = small.evaluation.predicted[i]!;
    // Regression rows agree when within 1% of the target's spread; classes must match.
    if (meta.spec.task === 'classification' ? a === b : Math.abs(a - b) <= 0.01 * (meta.spec.preprocessing.target?.std ?? 1)) agree++;
  }
  const out = resolve(o.out);
  await writeModelDir(out, {
    artifact: quantized,
    test,
    calibration,
    meta: { ...meta, format, runtime: small.runtime, figures: headlineFigures(small.evaluation.metrics), metrics: small.evaluation.metrics, training: { ...meta.training, quantizedFrom: meta.sha256 } },
  });
  const report = {
    out,
    format,
    agreement: agree / test.n,
    overheadBytes: format.startsWith('tflite') ? readTflite(quantized).size.overheadBytes : quantized.length - bundleWeightBytes(quantized),
    variants: [float, ...extra, small].map(({ evaluation: _e, ...v }) => ({ ...v, sizeRatio: v.sizeBytes / float.sizeBytes, weightRatio: v.weightBytes / float.weightBytes })),
  };
  if (o.json) {
    printJson(report);
    return;
  }
  process.stdout.write(
    formatTable(
      ['format', 'runtime', 'size', 'weights', 'weights vs float', meta.spec.task === 'classification' ? 'accuracy' : 'R^2', 'p50 ms'],
      report.variants.map((v) => [v.format, v.runtime, v.sizeBytes, v.weightBytes, `${v.weightRatio.toFixed(3)}x`, (v.accuracy ?? v.r2 ?? NaN).toFixed(4), v.p50Ms.toFixed(4)]),
    ) + `\n\nfixed overhead of the ${format} file (besides weights): ${report.overheadBytes} bytes\nagreement with the float model on ${test.n} test rows: ${(report.agreement * 100).toFixed(1)}%\nwrote ${out}\n`,
  );
}

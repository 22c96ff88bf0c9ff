/**
 * `edgeml release`: what CI runs. Train on the configured data, validate the data, package the
 * device format, gate it on accuracy and device-runtime figures, then let the hub sign and
 * publish it (or start a staged rollout). Writes a JSON result and a markdown summary; the
 * same data and config never publish a second version.
 */
import { createHash } from 'node:crypto';
import { appendFile, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { canonicalJson, checkFailed, readJsonFile, userError, writeFileAtomic, type ArtifactFormat } from '@edgeml/core';
import { PublishRequestSchema, releaseConfigFields, releaseInputFrom, runPipeline, trainingOptions, type Candidate } from '@edgeml/hub';
import { int8Limits, rangeRuleText } from '@edgeml/tflite';
import {
  CALIBRATION_MAX_ROWS,
  MODEL_FILES,
  applyPreprocessing,
  calibrationSample,
  compareQuantized,
  fitDriftReference,
  metricWarnings,
  SearchConfigSchema,
  writeModelDir,
  type CalibrationSample,
  type PrepareOptions,
  type QuantizationReport,
} from '@edgeml/ml';
import { splitRows } from '../output/metrics.js';
import { trainingProgress } from '../output/progress.js';
import { deviceRuntimes } from '../runtimes.js';
import { hubRequest } from './hub-client.js';
import { importTfliteModel } from './import.js';
import { printJson } from './options.js';
import { parsePrepare } from './train-prepare.js';
import { formatSearchReport, runSearch } from './train-search.js';
import { GATE_KEYS, measureAgainstGates, type GateReport, type ValidateLimits } from './validate.js';

export const ReleaseConfigSchema = z.object({
  ...releaseConfigFields,
  /** Text columns and gaps, as `train --categorical/--max-categories/--impute` take them. */
  categorical: z.enum(['one-hot', 'ordinal']).optional(),
  maxCategories: z.number().int().min(1).max(1000).optional(),
  impute: z.string().optional(),
  gates: z.object(Object.fromEntries(GATE_KEYS.map((k) => [k, z.number().optional()])) as Record<(typeof GATE_KEYS)[number], z.ZodOptional<z.ZodNumber>>).default({}),
  hub: z.string().default('http://127.0.0.1:8750'),
  /** Where the release's model directory and result files go. */
  out: z.string().default('.edgeml/release'),
  /**
   * Ship a .tflite trained elsewhere instead of training: `data` is then the labelled rows it is
   * evaluated and gated on, and `format` is what the file is, not a conversion.
   */
  tflite: z
    .object({
      file: z.string(),
      features: z.array(z.string()).optional(),
      inputShape: z.array(z.number().int().positive()).optional(),
      labels: z.array(z.string()).optional(),
    })
    .strict()
    .optional(),
  /** Train these candidates instead of `arch` and release the best within the budgets (see docs/MODELS.md). */
  search: SearchConfigSchema.optional(),
})
  .refine((c) => c.tflite === undefined || c.task !== undefined, { message: 'a release with a tflite field needs its task (classification or regression)', path: ['task'] })
  .refine((c) => c.tflite === undefined || c.search === undefined, { message: 'a release ships a tflite file or searches candidates, not both', path: ['search'] });
export type ReleaseConfig = z.infer<typeof ReleaseConfigSchema>;

export interface ReleaseResult {
  model: string;
  outcome: 'published' | 'rollout-started' | 'duplicate' | 'gate-failed';
  version: number | null;
  sha256: string | null;
  format: string;
  fingerprint: string;
  figures: Record<string, number>;
  gates: GateReport['gates'];
  rollout: { id: number; state: string } | null;
  durationMs: number;
  /** What quantization did, when the shipped artifact is a smaller variant of the float model. */
  quantization?: QuantizationReport;
}

async function fingerprintOf(config: ReleaseConfig, dataFile: string, tfliteFile: string | undefined): Promise<string> {
  const data = createHash('sha256').update(await readFile(dataFile)).digest('hex');
  const { hub: _hub, out: _out, ...inputs } = config;
  const model = tfliteFile ? { tflite: createHash('sha256').update(await readFile(tfliteFile).catch(() => Buffer.alloc(0))).digest('hex') } : {};
  return createHash('sha256').update(canonicalJson({ inputs, data, ...model, tool: 'edgeml-release-1' })).digest('hex');
}

function markdown(r: ReleaseResult): string {
  const rows = r.gates.map((g) => `| ${g.gate} | ${g.measured === null ? '-' : Number(g.measured.toPrecision(4))} | ${g.limit} | ${g.pass ? 'pass' : '**FAIL**'} |`);
  return [
    `## edgeml release: ${r.model} ${r.version !== null ? `v${r.version}` : ''} (${r.outcome})`,
    '',
    `format ${r.format}${r.sha256 ? `, sha256 \`${r.sha256.slice(0, 16)}\`` : ''}${r.rollout ? `, rollout ${r.rollout.id} ${r.rollout.state}` : ''}`,
    '',
    Object.entries(r.figures).map(([k, v]) => `${k} ${Number(v.toPrecision(4))}`).join(', '),
    '',
    ...(rows.length ? ['| gate | measured | limit | verdict |', '| --- | --- | --- | --- |', ...rows, ''] : []),
  ].join('\n');
}

export interface ReleaseFlags {
  config: string;
  hub?: string;
  token?: string;
  dataDir?: string;
  json?: boolean;
  /** Train on this file instead of the config's `data` (retraining with feedback). */
  dataOverride?: string;
}

export async function release(o: ReleaseFlags): Promise<void> {
  const started = Date.now();
  const configPath = resolve(o.config);
  const config = await readJsonFile(configPath, ReleaseConfigSchema, 'release config');
  const base = dirname(configPath);
  const dataFile = o.dataOverride ?? resolve(base, config.data);
  const out = resolve(base, config.out, config.model);
  const hub = { hub: o.hub ?? config.hub, ...(o.token ? { token: o.token } : {}), ...(o.dataDir ? { dataDir: o.dataDir } : {}) };
  const tfliteFile = config.tflite ? resolve(base, config.tflite.file) : undefined;
  const fingerprint = await fingerprintOf(config, dataFile, tfliteFile);

  const finish = async (r: ReleaseResult) => {
    await writeFileAtomic(join(out, 'release-result.json'), JSON.stringify(r, null, 2) + '\n');
    const md = markdown(r);
    await writeFileAtomic(join(out, 'release-summary.md'), md + '\n');
    if (process.env.GITHUB_STEP_SUMMARY) await appendFile(process.env.GITHUB_STEP_SUMMARY, md + '\n');
    if (o.json) printJson(r);
    else process.stdout.write(md + '\n');
  };

  // The same inputs published before: report that version, do not train or publish again.
  const known = (await hubRequest<{ version: number; sha256: string; fingerprint: string | null; format: string; metrics: Record<string, number> }[]>(hub, 'GET', `/v1/models/${encodeURIComponent(config.model)}/versions`).catch((e: Error & { code?: string }) => {
    if (e.code === 'hub-refused') return { body: [] };
    throw e;
  })).body.find((v) => v.fingerprint === fingerprint);
  if (known) {
    return finish({ model: config.model, outcome: 'duplicate', version: known.version, sha256: known.sha256, format: known.format, fingerprint, figures: {}, gates: [], rollout: null, durationMs: Date.now() - started });
  }

  const built = tfliteFile ? await importedCandidate(config, tfliteFile, dataFile, out) : await trainedCandidate(config, dataFile, out, o.json === true);
  const limits: ValidateLimits = Object.fromEntries(Object.entries(config.gates).filter(([, v]) => v !== undefined));
  const report = await measureAgainstGates(out, join(out, MODEL_FILES.test), limits, 2000);
  if (!report.pass) {
    await finish({ model: config.model, outcome: 'gate-failed', version: null, sha256: null, format: built.format, fingerprint, figures: built.figures, gates: report.gates, rollout: null, durationMs: Date.now() - started, ...(built.quantization ? { quantization: built.quantization } : {}) });
    const failed = report.gates.filter((g) => !g.pass);
    // The team hears of it where the hub sends its events (webhooks, the dashboard), not only in this CI log.
    await hubRequest(hub, 'POST', '/v1/releases/gate-failed', { model: config.model, fingerprint, gates: failed.map(({ gate, measured, limit, message }) => ({ gate, measured, limit, message })) }).catch((e: unknown) => {
      process.stderr.write(`edgeml: the hub was not told of the failed gate: ${(e as Error).message}\n`);
    });
    throw checkFailed('gate-failed', failed.map((g) => g.message).join('; '));
  }
  const { artifact, ...input } = built.input;
  const res = await hubRequest<{ duplicate: boolean; version: { version: number; sha256: string }; rollout: { id: number; state: string } | null }>(hub, 'POST', '/v1/releases', {
    ...input,
    artifact: Buffer.from(artifact).toString('base64'),
    fingerprint,
    ...(config.rollout !== undefined ? { rollout: config.rollout } : {}),
  });
  if (!res.body.version) throw userError('hub-refused', 'the hub answered without a version');
  await finish({
    model: config.model,
    outcome: res.body.duplicate ? 'duplicate' : res.body.rollout ? 'rollout-started' : 'published',
    version: res.body.version.version,
    sha256: res.body.version.sha256,
    format: built.format,
    fingerprint,
    figures: built.figures,
    ...(built.quantization ? { quantization: built.quantization } : {}),
    gates: report.gates,
    rollout: res.body.rollout ? { id: res.body.rollout.id, state: res.body.rollout.state } : null,
    durationMs: Date.now() - started,
  });
}

/** What the hub publishes, before the artifact becomes base64 and the fingerprint is added. */
type PublishFields = Omit<z.input<typeof PublishRequestSchema>, 'artifact' | 'fingerprint' | 'rollout'> & { artifact: Uint8Array };

interface Built {
  format: ArtifactFormat;
  figures: Record<string, number>;
  quantization?: QuantizationReport;
  input: PublishFields;
}

/** Train on the config's data and write the model directory `out`. */
async function trainedCandidate(config: ReleaseConfig, dataFile: string, out: string, quiet: boolean): Promise<Built> {
  const prepare = parsePrepare(config, (name) => `release config "${name.replace(/-(.)/g, (_, ch: string) => ch.toUpperCase())}"`);
  const c = config.search ? await searchedCandidate(config, config.search, dataFile, out, prepare) : await singleCandidate(config, dataFile, quiet, prepare);
  const calibration = calibrationSample(c.splits.train, CALIBRATION_MAX_ROWS, c.splits.seed);
  const quantization = c.reference ? quantizationReport(c, calibration) : undefined;
  await writeModelDir(out, {
    artifact: c.artifact,
    test: c.splits.test,
    calibration: calibration.dataset,
    ...(c.artifact !== c.floatArtifact ? { floatReference: c.floatArtifact } : {}),
    meta: {
      format: c.format,
      runtime: c.runtime,
      spec: c.training.spec,
      figures: c.figures,
      metrics: c.evaluation.metrics,
      training: { arch: config.arch, seed: config.seed, backend: c.training.backend, calibration: calibration.rule, rows: splitRows(c.splits) },
      data: c.report,
      ...(quantization ? { quantization } : {}),
    },
  });
  for (const w of [...metricWarnings(c.evaluation.metrics), ...(quantization?.warnings ?? [])]) process.stderr.write(`warning: ${w}\n`);
  return { format: c.format, figures: c.figures, ...(quantization ? { quantization } : {}), input: releaseInputFrom(c, { model: config.model, channel: config.channel, budgets: config.budgets }) };
}

async function singleCandidate(config: ReleaseConfig, dataFile: string, quiet: boolean, prepare: PrepareOptions | undefined): Promise<Candidate> {
  const progress = quiet ? undefined : trainingProgress();
  return runPipeline({
    data: dataFile,
    ...trainingOptions(config),
    runtimes: deviceRuntimes(),
    ...(prepare ? { prepare } : {}),
    ...(progress ? { onEpoch: progress.onEpoch } : {}),
  }).finally(() => progress?.stop());
}

/**
 * The search's budgets start from the release's device gates, so it never chooses a candidate
 * the gates would then refuse; the search config's own budgets override them.
 */
async function searchedCandidate(config: ReleaseConfig, search: NonNullable<ReleaseConfig['search']>, dataFile: string, out: string, prepare: PrepareOptions | undefined): Promise<Candidate> {
  const { maxP95Ms, maxSizeKb, maxMemoryMb } = config.gates;
  const fromGates = { ...(maxP95Ms !== undefined ? { maxP95Ms } : {}), ...(maxSizeKb !== undefined ? { maxSizeKb } : {}), ...(maxMemoryMb !== undefined ? { maxMemoryMb } : {}) };
  const r = await runSearch({
    data: dataFile,
    target: config.target,
    seed: config.seed,
    format: config.format,
    config: { ...search, budgets: { ...fromGates, ...search.budgets } },
    fallback: config.arch,
    out,
    ...(config.task ? { task: config.task } : {}),
    ...(config.inputShape ? { inputShape: config.inputShape } : {}),
    ...(prepare ? { prepare } : {}),
  });
  // stdout carries the release result (markdown or JSON); the table is for the person watching.
  process.stderr.write(`${formatSearchReport(r.report)}\n`);
  return r.chosen;
}

/** What shrinking the float model did, on the test split (the pipeline calibrated int8 on `calibration`). */
function quantizationReport(c: Candidate, calibration: CalibrationSample): QuantizationReport {
  const spec = c.training.spec;
  const int8 = c.format === 'tflite-int8';
  const limits = int8 ? int8Limits(c.artifact, spec) : {};
  return compareQuantized(spec, c.splits.test, c.reference!, c.evaluation, {
    calibration: int8 ? calibration.dataset : { ...calibration.dataset, n: 0, x: new Float32Array(0) },
    sample: int8 ? calibration.rule : 'none',
    rangeRule: int8 ? rangeRuleText(calibration.dataset.n) : 'none: only the weights are quantized; activations stay float',
    ...(limits.input ? { inputLimits: limits.input } : {}),
    ...(limits.output ? { outputLimits: limits.output } : {}),
  });
}

/** Drift references beyond this many features would make the signed release heavy; devices go without. */
const MAX_DRIFT_FEATURES = 256;

/** Import the config's .tflite, evaluate it on all of `data`, and write the model directory `out`. */
async function importedCandidate(config: ReleaseConfig, file: string, dataFile: string, out: string): Promise<Built> {
  const t = config.tflite!;
  const m = await importTfliteModel({
    file,
    out,
    data: dataFile,
    description: { task: config.task!, target: config.target, ...(t.features ? { features: t.features } : {}), ...(t.inputShape ? { inputShape: t.inputShape } : {}), ...(t.labels ? { labels: t.labels } : {}) },
  });
  const { spec } = m.meta;
  const ev = m.evaluation!;
  const f = spec.features.length;
  return {
    format: m.meta.format,
    figures: m.meta.figures,
    input: {
      model: config.model,
      channel: config.channel,
      task: spec.task,
      artifact: m.artifact,
      format: m.meta.format,
      runtime: m.meta.runtime,
      spec,
      validation: m.meta.figures,
      selfTest: m.selfTest,
      ...(f <= MAX_DRIFT_FEATURES ? { reference: fitDriftReference(applyPreprocessing(spec.preprocessing, ev.dataset.x), f) } : {}),
      budgets: config.budgets,
      metrics: { ...m.meta.figures, evaluation: ev.metrics },
    },
  };
}

/**
 * One retraining run, from the data to the verdict: assemble base data and validated feedback,
 * train and score in a worker, then release only a challenger that beats production on the
 * feedback holdout by the margin, holds up on the base test split and passes the release gates.
 * A release is published with its lineage and the run's outcome in one transaction.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { sha256Hex, type ModelSpec } from '@edgeml/core';
import { parseCsv } from '@edgeml/ml';
import { evaluateGates, type GateLimits, type GateVerdict } from '../release/gates.js';
import { EDGEML_VERSION, type PublishInput, type PublishOptions } from '../release/publisher.js';
import type { RetrainRun, RunState } from '../registry/lineage-store.js';
import type { Registry, VersionRecord } from '../registry/registry.js';
import type { Rollout } from '../registry/rollout-store.js';
import type { ArtifactStore } from '../store/artifacts.js';
import { assembleFeedback, rulesFor, splitBase, trainingCsv, type FeedbackRefusal, type FeedbackRow } from './data.js';
import { JOB_FILE, type Job, type WorkerResult } from './job.js';
import type { RetrainTarget } from './policy.js';
import { WorkerProcess } from './worker-process.js';

export interface RunDeps {
  registry: Registry;
  store: ArtifactStore;
  publish(input: PublishInput, o: PublishOptions): Promise<{ rec: VersionRecord; rollout: Rollout | undefined }>;
  /** Where each run's folder (job, training CSV, candidate) lives while it runs. */
  runsDir: string;
  /** The worker of the run, while it runs: the hub kills it when it stops. */
  onWorker(w: WorkerProcess | undefined): void;
}

export interface RunOutcome {
  state: Exclude<RunState, 'running' | 'interrupted'>;
  summary: string;
  result: Record<string, unknown>;
  version: number | null;
  refused: Partial<Record<FeedbackRefusal, number>>;
}

const f4 = (v: number | null | undefined) => (v === null || v === undefined ? 'n/a' : v.toFixed(4));

/** The production version of the model's channel, if any: the champion. */
export function productionOf(registry: Registry, t: RetrainTarget): VersionRecord | undefined {
  const want = registry.desired.channel(t.config.model, t.config.channel);
  return want ? registry.getVersion(t.config.model, want.version) : undefined;
}

/** Stored feedback in the base data's feature order (devices send rows in the spec's order). */
function feedbackRows(registry: Registry, model: string, spec: ModelSpec | undefined, baseFeatures: readonly string[]): FeedbackRow[] {
  const order = spec ? baseFeatures.map((name) => spec.features.indexOf(name)) : baseFeatures.map((_, j) => j);
  return registry.lineage.feedback(model).map((f) => {
    const raw = Array.isArray(f.row) && f.row.every((v) => typeof v === 'number') ? (f.row as number[]) : [];
    // A row of another length keeps it (and is refused for it); a known length is reordered by name.
    const row = raw.length === baseFeatures.length && order.every((k) => k >= 0) ? order.map((k) => raw[k]!) : raw;
    return { deviceId: f.deviceId, predictionId: f.predictionId, model: f.model, at: f.at, label: f.label, row };
  });
}

export async function executeRun(d: RunDeps, t: RetrainTarget, run: RetrainRun): Promise<RunOutcome> {
  const { registry } = d;
  const { config, policy } = t;
  const model = config.model;
  const champion = productionOf(registry, t);
  const dataFile = resolve(dirname(t.configPath), config.data);
  const baseBytes = await readFile(dataFile);
  const baseSha256 = sha256Hex(baseBytes);
  const base = splitBase(parseCsv(baseBytes.toString('utf8'), dataFile), { target: config.target, seed: config.seed, ...(config.task ? { task: config.task } : {}) });
  const spec = champion?.envelope.signed.spec;
  const rules = rulesFor(model, base, spec, policy.rangeSlack, (deviceId) => {
    const scope = registry.scopes.of(deviceId);
    if (registry.deviceSecretHash(deviceId) === undefined) return 'not-enrolled';
    // Bound at enrolment, the scope decides; a device enrolled before scopes, what it reported running.
    const enrolledFor = scope?.model ?? registry.getDevice(deviceId)?.model ?? null;
    return enrolledFor === model ? undefined : 'model-not-enrolled';
  });
  const feedback = assembleFeedback(feedbackRows(registry, model, spec, base.features), rules, policy.holdoutShare);
  const data = { baseSha256, baseRows: base.train.length + base.test.length, feedbackSha256: feedback.sha256, feedbackTrain: feedback.train.length, feedbackHoldout: feedback.holdout.length, refused: feedback.refused };
  const none = { refused: feedback.refused, version: null };
  if (champion && feedback.holdout.length < policy.minHoldout) {
    return { ...none, state: 'not-enough-labels', summary: `${feedback.holdout.length} holdout labels, at least ${policy.minHoldout} needed to judge a challenger`, result: { data } };
  }
  // The rows themselves, content-addressed: the lineage names them by this digest.
  await d.store.put(feedback.bytes);

  const dir = join(d.runsDir, `run-${run.id}`);
  await mkdir(dir, { recursive: true });
  try {
    const trainCsv = join(dir, 'train.csv');
    await writeFile(trainCsv, trainingCsv(base, feedback.train));
    const job: Job = {
      trainCsv,
      target: config.target,
      arch: config.arch,
      seed: config.seed,
      format: config.format,
      ...(config.task ? { task: config.task } : {}),
      ...(config.inputShape ? { inputShape: config.inputShape } : {}),
      ...(config.epochs ? { epochs: config.epochs } : {}),
      baseTest: base.test,
      holdout: feedback.holdout.map(({ row, label }) => ({ row, label })),
      ...(champion ? { champion: { artifactFile: d.store.pathOf(champion.sha256), format: champion.envelope.signed.artifact.format, spec: champion.envelope.signed.spec } } : {}),
      latencyRuns: 500,
      outDir: dir,
    };
    await writeFile(join(dir, JOB_FILE), JSON.stringify(job));
    const worker = new WorkerProcess(dir, policy.timeLimitMs);
    d.onWorker(worker);
    const out = await worker.run().finally(() => d.onWorker(undefined));
    if (!out.ok) return { ...none, state: out.timedOut ? 'timed-out' : 'failed', summary: out.reason, result: { data, workerMs: out.ms } };
    return await decide(d, t, run, out.result, champion, { data, workerMs: out.ms, baseSha256, feedbackSha256: feedback.sha256 });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function decide(
  d: RunDeps,
  t: RetrainTarget,
  run: RetrainRun,
  r: WorkerResult,
  champion: VersionRecord | undefined,
  ctx: { data: Record<string, unknown> & { refused: Partial<Record<FeedbackRefusal, number>> }; workerMs: number; baseSha256: string; feedbackSha256: string },
): Promise<RunOutcome> {
  const { policy, config } = t;
  const c = r.champion;
  const gain = c && r.challenger.holdout !== null && c.holdout !== null ? r.challenger.holdout - c.holdout : null;
  const baseDrop = c && r.challenger.baseTest !== null && c.baseTest !== null ? c.baseTest - r.challenger.baseTest : null;
  const challenge = {
    champion: champion ? { version: champion.version, ...c } : null,
    challenger: r.challenger,
    gain,
    baseDrop,
    margin: policy.margin,
    maxBaseDrop: policy.maxBaseDrop,
  };
  const gates: GateVerdict[] = evaluateGates(config.gates as GateLimits, { ...r.measured, ...(baseDrop !== null ? { drop: baseDrop } : {}) });
  const result = { ...ctx.data, workerMs: ctx.workerMs, challenge, gates, figures: r.figures };
  const outcome = (state: RunOutcome['state'], summary: string, version: number | null = null): RunOutcome => ({ state, summary, result, version, refused: ctx.data.refused });
  if (champion) {
    const notBetter: string[] = [];
    if (gain === null || gain < policy.margin) notBetter.push(`feedback holdout ${f4(r.challenger.holdout)} against production v${champion.version}'s ${f4(c?.holdout)} (gain ${f4(gain)}, margin ${policy.margin})`);
    if (baseDrop !== null && baseDrop > policy.maxBaseDrop) notBetter.push(`base test split ${f4(r.challenger.baseTest)} against ${f4(c?.baseTest)} (drop ${f4(baseDrop)}, at most ${policy.maxBaseDrop})`);
    if (notBetter.length) return outcome('not-better', `not better: ${notBetter.join('; ')}`);
  }
  const failed = gates.filter((g) => !g.pass);
  if (failed.length) return outcome('gate-failed', `gate failed: ${failed.map((g) => g.message).join('; ')}`);
  const summary = champion
    ? `released: feedback holdout ${f4(r.challenger.holdout)} against v${champion.version}'s ${f4(c?.holdout)}, base test ${f4(r.challenger.baseTest)} against ${f4(c?.baseTest)}`
    : `released: first version, base test ${f4(r.challenger.baseTest)}`;
  const artifact = await readFile(r.artifactFile);
  const { rec } = await d.publish(
    {
      model: config.model,
      channel: config.channel,
      task: r.task,
      artifact,
      format: r.format,
      runtime: r.runtime,
      spec: r.spec,
      validation: r.figures,
      selfTest: r.selfTest,
      reference: r.reference,
      budgets: config.budgets,
      metrics: r.metrics,
    },
    {
      // A first version has no devices on an older one to protect: it goes to the channel.
      ...(config.rollout !== undefined && champion ? { rollout: config.rollout } : {}),
      lineage: {
        runId: run.id,
        parentVersion: champion?.version ?? null,
        trigger: run.trigger,
        baseSha256: ctx.baseSha256,
        feedbackSha256: ctx.feedbackSha256,
        config,
        edgemlVersion: EDGEML_VERSION,
        metrics: r.metrics,
        gates,
        challenge,
      },
      // The run is finished in the publish transaction: a version never exists without its run's verdict.
      inTransaction: (added) => d.registry.lineage.finishRun(run.id, 'released', `${summary} as v${added.version}`, result, added.version),
    },
  );
  return outcome('released', `${summary} as v${rec.version}`, rec.version);
}

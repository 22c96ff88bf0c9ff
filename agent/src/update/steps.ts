/**
 * One handler per step of the update path. Each does its step so that running it again after a
 * crash at any instant is safe, and returns the next state, typed against the transition table.
 */
import { createReadStream } from 'node:fs';
import { access, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { ArtifactChecker, RefusedError, writeFileAtomic, type Logger, type Release, type SignedRelease } from '@edgeml/core';
import type { RuntimeRegistry } from '@edgeml/runtime';
import { selfTest, type LoadedModel, type Predictor } from '../serve/predictor.js';
import { slotDir, type AgentState, type StateStore } from '../state/store.js';
import type { Faults } from './faults.js';
import { downloadHttp } from './http-transfer.js';
import { watchProbation, type ProbationPolicy } from './probation.js';
import { sleep, type RetryPolicy } from './retry.js';
import { isRetryable, type NextOf, type StepState } from './states.js';
import { downloadArtifact } from './transfer.js';

export interface UpdatePolicy extends RetryPolicy {
  stallMs: number;
  probationCrashRetries: number;
}

export interface UpdateContext {
  dataDir: string;
  state: AgentState;
  store: StateStore;
  client: MqttClient;
  log: Logger;
  predictor: Predictor;
  runtimes: RuntimeRegistry;
  envelope: SignedRelease;
  /** Aborted when the agent stops, or when a newer release pre-empts this update. */
  signal: AbortSignal;
  onChange: () => void;
  /** A fault outside the steps (the state file cannot be saved), or null once it clears. */
  onFault?: (reason: string | null) => void;
  /** Agent defaults for probation; the release's signed budgets take precedence. */
  probation: ProbationPolicy;
  policy: UpdatePolicy;
  faults: Faults;
  now: () => Date;
  /** Loaded in probation; survives only in memory, so a crash there reloads it from the slot. */
  candidate?: LoadedModel;
  /** What served before the candidate was activated, kept loaded for an instant rollback. */
  previous?: LoadedModel | null;
  /** Fault-injection delay before each step and chunk (config `stepDelayMs`). */
  stepDelayMs?: number;
}

export const downloadsDir = (dataDir: string) => join(dataDir, 'downloads');
export const partPath = (dataDir: string, sha: string) => join(downloadsDir(dataDir), `${sha}.part`);
export const stagedEnvelopePath = (dataDir: string, sha: string) => join(downloadsDir(dataDir), `${sha}.release.json`);
export const slotArtifact = (dataDir: string, slot: 'a' | 'b') => join(slotDir(dataDir, slot), 'model.bin');
export const slotEnvelope = (dataDir: string, slot: 'a' | 'b') => join(slotDir(dataDir, slot), 'release.json');

export async function hashFile(path: string, expected: { sha256: string; size: number }): Promise<void> {
  const checker = new ArtifactChecker(expected);
  for await (const chunk of createReadStream(path)) checker.update(chunk as Buffer);
  checker.finish();
}

const exists = (path: string) => access(path).then(() => true, () => false);

/** Load a slot's model into its runtime, checking the bytes against the signed hash first. */
export async function loadSlot(dataDir: string, slot: 'a' | 'b', release: Release, runtimes: RuntimeRegistry): Promise<LoadedModel> {
  const bytes = await readFile(slotArtifact(dataDir, slot));
  const checker = new ArtifactChecker(release.artifact);
  checker.update(bytes);
  checker.finish();
  const loader = runtimes[release.artifact.format];
  if (!loader) throw new Error(`this agent has no runtime for format ${release.artifact.format}`);
  return { release, runtime: await loader(bytes) };
}

/** An update step that failed for a reason worth reporting as it is: a verdict on the version. */
export class UpdateFailure extends Error {}

type Handlers = { [S in StepState]: (ctx: UpdateContext) => Promise<NextOf<S>> };

export const handlers: Handlers = {
  async downloading(ctx) {
    const { artifact } = ctx.envelope.signed;
    const upd = ctx.state.update!;
    // A rollback to the version kept in the other slot needs no download.
    if (ctx.state.slots[upd.slot]?.sha256 === artifact.sha256) return 'installing';
    await mkdir(downloadsDir(ctx.dataDir), { recursive: true });
    const part = partPath(ctx.dataDir, artifact.sha256);
    let reported = false;
    const onProgress = (bytes: number) => {
      if (!reported && bytes > 0 && bytes < artifact.size) {
        reported = true;
        ctx.faults.reach('downloading:mid');
      }
    };
    if (artifact.url) {
      await downloadHttp({ artifact: { ...artifact, url: artifact.url }, partPath: part, log: ctx.log, signal: ctx.signal, stallMs: ctx.policy.stallMs, onProgress });
      return 'verifying';
    }
    await downloadArtifact({
      client: ctx.client,
      artifact,
      partPath: part,
      log: ctx.log,
      signal: ctx.signal,
      stallMs: ctx.policy.stallMs,
      onProgress,
      ...(ctx.stepDelayMs ? { chunkDelayMs: ctx.stepDelayMs, window: 1 } : {}),
    });
    return 'verifying';
  },

  async verifying(ctx) {
    ctx.faults.reach('verifying:before');
    const { artifact } = ctx.envelope.signed;
    const part = partPath(ctx.dataDir, artifact.sha256);
    // No part file: the bytes were moved into the slot already, or lost. Installing checks the
    // slot against the signed hash and fetches the artifact again if it is not there.
    if (!(await exists(part))) return 'installing';
    await hashFile(part, artifact);
    return 'installing';
  },

  async installing(ctx) {
    const upd = ctx.state.update!;
    const dir = slotDir(ctx.dataDir, upd.slot);
    const part = partPath(ctx.dataDir, upd.sha256);
    const target = slotArtifact(ctx.dataDir, upd.slot);
    if (ctx.state.slots[upd.slot]?.sha256 !== upd.sha256) {
      // The target slot is never the active one; whatever it held is two versions old. Its record
      // goes first, so no crash leaves a record naming bytes that are no longer there.
      if (ctx.state.slots[upd.slot] !== null) {
        ctx.state.slots[upd.slot] = null;
        await ctx.store.save(ctx.state);
      }
      // The part file exists until the rename: without it, the rename already happened (a crash
      // after it), and the slot's bytes are checked below instead of being deleted.
      if (await exists(part)) {
        await rm(dir, { recursive: true, force: true });
        await mkdir(dir, { recursive: true });
        ctx.faults.reach('installing:before-rename');
        await rename(part, target);
        ctx.faults.reach('installing:after-rename');
      } else if (!(await exists(target))) {
        ctx.log.warn('the downloaded artifact is gone; fetching it again', { version: upd.version });
        return 'downloading';
      }
    }
    try {
      await hashFile(target, ctx.envelope.signed.artifact);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' && !(e instanceof RefusedError)) throw e;
      // The slot lost or damaged its bytes (storage fault): fetch them again rather than judge the version.
      ctx.log.warn('the slot does not hold the signed artifact; fetching it again', { version: upd.version, slot: upd.slot });
      ctx.state.slots[upd.slot] = null;
      await rm(dir, { recursive: true, force: true });
      return 'downloading';
    }
    await writeFileAtomic(slotEnvelope(ctx.dataDir, upd.slot), JSON.stringify(ctx.envelope));
    ctx.state.slots[upd.slot] = { version: upd.version, sha256: upd.sha256 };
    return 'probation';
  },

  async probation(ctx) {
    const upd = ctx.state.update!;
    if (upd.activated) {
      // Coming back here means the process died while the version served: a bad model, or a
      // power cut. A configured number of such deaths is forgiven before it counts as a verdict.
      upd.probationCrashes = (upd.probationCrashes ?? 0) + 1;
      upd.activated = false;
      if (upd.probationCrashes > ctx.policy.probationCrashRetries) {
        throw new UpdateFailure(`the agent stopped or crashed while the new version was on probation (${upd.probationCrashes} times)`);
      }
      ctx.log.warn('the agent stopped while the new version was on probation; trying the version again', { version: upd.version, crashes: upd.probationCrashes });
    }
    ctx.candidate = await loadSlot(ctx.dataDir, upd.slot, ctx.envelope.signed, ctx.runtimes);
    const test = selfTest(ctx.candidate);
    if (!test.ok) throw new UpdateFailure(test.reason);
    upd.activated = true;
    await ctx.store.save(ctx.state);
    // Hot swap: the old model stays loaded until commit, so a rollback is instant.
    ctx.previous = ctx.predictor.swap(ctx.candidate);
    ctx.onChange();
    ctx.faults.reach('probation:after-activate');
    const budgets = ctx.envelope.signed.budgets;
    const verdict = await watchProbation(ctx.predictor, upd.version, {
      windowMs: budgets.probationMs ?? ctx.probation.windowMs,
      minRequests: budgets.minRequests ?? ctx.probation.minRequests,
      maxErrorRate: budgets.maxErrorRate ?? ctx.probation.maxErrorRate,
      ...(budgets.p95Ms !== undefined ? { p95Ms: budgets.p95Ms } : {}),
    }, ctx.signal);
    if (!verdict.ok) throw new UpdateFailure(verdict.reason);
    return 'committed';
  },

  async retrying(ctx) {
    const upd = ctx.state.update!;
    // The end of the backoff is saved, so a restart waits only what is left of it.
    const until = upd.retryAt ? Date.parse(upd.retryAt) : 0;
    const wait = Math.max(0, Math.min(ctx.policy.retryMaxMs, until - ctx.now().getTime()));
    if (wait > 0) await sleep(wait, ctx.signal);
    return upd.resumeFrom && isRetryable(upd.resumeFrom) ? upd.resumeFrom : 'downloading';
  },

  async 'rolling-back'(ctx) {
    const upd = ctx.state.update!;
    // Serve the previous model again before anything else: requests never wait on cleanup.
    if (ctx.candidate && ctx.predictor.active === ctx.candidate) ctx.predictor.swap(ctx.previous ?? null);
    ctx.candidate?.runtime.dispose();
    ctx.candidate = undefined;
    // The failed version's slot is cleared; the active slot was never touched.
    if (ctx.state.active !== upd.slot) {
      ctx.state.slots[upd.slot] = null;
      await ctx.store.save(ctx.state);
      ctx.faults.reach('rolling-back:mid');
      await rm(slotDir(ctx.dataDir, upd.slot), { recursive: true, force: true });
    }
    await rm(partPath(ctx.dataDir, upd.sha256), { force: true });
    return 'failed';
  },
};

/**
 * The update path as explicit, persisted states (after Mender's client): each handler does one
 * step and returns the next state id; the record is saved atomically before each step runs, so
 * a crash resumes the step. Commit is the single point of no return: before it, every error
 * leads to `rolling-back`, and the previous slot keeps serving throughout.
 */
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { ArtifactChecker, RefusedError, writeFileAtomic, type Logger, type Release, type SignedRelease } from '@edgeml/core';
import type { RuntimeRegistry } from '@edgeml/ml';
import { selfTest, type LoadedModel, type Predictor } from '../serve/predictor.js';
import { watchProbation, type ProbationPolicy } from './probation.js';
import { slotDir, type AgentState, type StateStore, type UpdateStateId } from '../state/store.js';
import { downloadArtifact } from './transfer.js';
import { downloadHttp } from './http-transfer.js';

/** Past this many steps one update is abandoned: a loop must end in a report, not a spin. */
export const MAX_TRANSITIONS = 24;

export interface UpdateContext {
  dataDir: string;
  state: AgentState;
  store: StateStore;
  client: MqttClient;
  log: Logger;
  predictor: Predictor;
  runtimes: RuntimeRegistry;
  envelope: SignedRelease;
  signal: AbortSignal;
  onChange: () => void;
  /** Agent defaults for probation; the release's signed budgets take precedence. */
  probation: ProbationPolicy;
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

async function hashFile(path: string, expected: { sha256: string; size: number }): Promise<void> {
  const checker = new ArtifactChecker(expected);
  for await (const chunk of createReadStream(path)) checker.update(chunk as Buffer);
  checker.finish();
}

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

type Handler = (ctx: UpdateContext) => Promise<UpdateStateId>;
type StepState = Exclude<UpdateStateId, 'committed' | 'failed'>;

const handlers: { [K in StepState]: Handler } = {
  async downloading(ctx) {
    const { artifact } = ctx.envelope.signed;
    // A rollback to the version kept in the other slot needs no download.
    if (ctx.state.slots[ctx.state.update!.slot]?.sha256 === artifact.sha256) return 'installing';
    await mkdir(downloadsDir(ctx.dataDir), { recursive: true });
    if (artifact.url) {
      await downloadHttp({ artifact: { ...artifact, url: artifact.url }, partPath: partPath(ctx.dataDir, artifact.sha256), log: ctx.log, signal: ctx.signal });
      return 'verifying';
    }
    await downloadArtifact({
      client: ctx.client,
      artifact,
      partPath: partPath(ctx.dataDir, artifact.sha256),
      log: ctx.log,
      signal: ctx.signal,
      ...(ctx.stepDelayMs ? { chunkDelayMs: ctx.stepDelayMs, window: 1 } : {}),
    });
    return 'verifying';
  },

  async verifying(ctx) {
    await hashFile(partPath(ctx.dataDir, ctx.envelope.signed.artifact.sha256), ctx.envelope.signed.artifact);
    return 'installing';
  },

  async installing(ctx) {
    const upd = ctx.state.update!;
    const dir = slotDir(ctx.dataDir, upd.slot);
    const part = partPath(ctx.dataDir, upd.sha256);
    // The target slot is never the active one; whatever it held is two versions old.
    if (ctx.state.slots[upd.slot]?.sha256 !== upd.sha256) {
      ctx.state.slots[upd.slot] = null;
      await ctx.store.save(ctx.state);
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      await rename(part, slotArtifact(ctx.dataDir, upd.slot));
    }
    await hashFile(slotArtifact(ctx.dataDir, upd.slot), ctx.envelope.signed.artifact);
    await writeFileAtomic(slotEnvelope(ctx.dataDir, upd.slot), JSON.stringify(ctx.envelope));
    ctx.state.slots[upd.slot] = { version: upd.version, sha256: upd.sha256 };
    return 'probation';
  },

  async probation(ctx) {
    const upd = ctx.state.update!;
    // Probation is where a bad model can take the process down: coming back here means it did.
    if (upd.activated) throw new UpdateFailure('the agent stopped or crashed while the new version was on probation');
    ctx.candidate = await loadSlot(ctx.dataDir, upd.slot, ctx.envelope.signed, ctx.runtimes);
    const test = selfTest(ctx.candidate);
    if (!test.ok) throw new UpdateFailure(test.reason);
    upd.activated = true;
    await ctx.store.save(ctx.state);
    // Hot swap: the old model stays loaded until commit, so a rollback is instant.
    ctx.previous = ctx.predictor.swap(ctx.candidate);
    ctx.onChange();
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

  async 'rolling-back'(ctx) {
    const upd = ctx.state.update!;
    // Serve the previous model again before anything else: requests never wait on cleanup.
    if (ctx.candidate && ctx.predictor.active === ctx.candidate) ctx.predictor.swap(ctx.previous ?? null);
    ctx.candidate?.runtime.dispose();
    ctx.candidate = undefined;
    // The failed version's slot is cleared; the active slot was never touched.
    if (ctx.state.active !== upd.slot) {
      ctx.state.slots[upd.slot] = null;
      await rm(slotDir(ctx.dataDir, upd.slot), { recursive: true, force: true });
    }
    await rm(partPath(ctx.dataDir, upd.sha256), { force: true });
    return 'failed';
  },
};

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), reject(signal.reason)), { once: true });
  });

/** An update step that failed for a reason worth reporting as it is. */
export class UpdateFailure extends Error {}

/** Run (or resume) the update in `ctx.state.update` to its end: committed or failed. */
export async function runUpdate(ctx: UpdateContext): Promise<'committed' | 'failed'> {
  const { state } = ctx;
  for (;;) {
    const upd = state.update!;
    if (upd.state === 'committed' || upd.state === 'failed') return finish(ctx, upd.state);
    if (upd.transitions >= MAX_TRANSITIONS) {
      upd.reason = `gave up after ${upd.transitions} steps`;
      upd.state = 'rolling-back';
    }
    await ctx.store.save(state);
    ctx.onChange();
    if (ctx.stepDelayMs) await sleep(ctx.stepDelayMs, ctx.signal);
    let next: UpdateStateId;
    try {
      next = await handlers[upd.state as StepState](ctx);
    } catch (e) {
      if (ctx.signal.aborted) throw e;
      const reason = e instanceof RefusedError ? e.message : e instanceof UpdateFailure ? e.message : `${upd.state}: ${(e as Error).message}`;
      ctx.log.warn('update step failed', { state: upd.state, version: upd.version, reason });
      upd.reason = reason;
      next = upd.state === 'rolling-back' ? 'failed' : 'rolling-back';
    }
    upd.transitions++;
    upd.state = next;
  }
}

async function finish(ctx: UpdateContext, end: 'committed' | 'failed'): Promise<'committed' | 'failed'> {
  const { state } = ctx;
  const upd = state.update!;
  if (end === 'committed') {
    const candidate = ctx.candidate ?? (await loadSlot(ctx.dataDir, upd.slot, ctx.envelope.signed, ctx.runtimes));
    const previous = ctx.predictor.active === candidate ? ctx.previous : ctx.predictor.swap(candidate);
    state.active = upd.slot;
    state.lastFailure = null;
    ctx.candidate = undefined;
    ctx.previous = undefined;
    previous?.runtime.dispose();
  } else {
    state.lastFailure = { version: upd.version, reason: upd.reason ?? 'unknown', at: new Date().toISOString() };
  }
  state.update = null;
  await ctx.store.save(state);
  await rm(stagedEnvelopePath(ctx.dataDir, upd.sha256), { force: true });
  ctx.onChange();
  return end;
}

/**
 * The update path as explicit, persisted states (after Mender's client): each handler does one
 * step and returns the next state id, checked against the transition table; the record is saved
 * atomically before each step runs, so a crash resumes the step. A transient fault (network,
 * stall, full disk) goes to `retrying` and resumes the step after a jittered backoff; a verdict
 * (signature, hash, self-test, probation) rolls back. Commit is the single point of no return,
 * and the only place the anti-rollback floor rises.
 */
import { rm } from 'node:fs/promises';
import { RefusedError, errorMessage } from '@edgeml/core';
import { backoffMs, isTransient, sleep, type RetryPolicy } from './retry.js';
import { isAllowed, isRetryable, isUpdateState, type StepState, type UpdateStateId } from './states.js';
import { handlers, loadSlot, stagedEnvelopePath, UpdateFailure, type UpdateContext } from './steps.js';

export { UpdateFailure, loadSlot, downloadsDir, partPath, stagedEnvelopePath, slotArtifact, slotEnvelope, type UpdateContext, type UpdatePolicy } from './steps.js';

/** Steps of one update beyond its retries; past this it is abandoned: a loop ends in a report. */
export const MAX_TRANSITIONS = 24;

/** Save the state, waiting out a full or failing disk: the update is paused, never dropped. */
export async function saveState(ctx: Pick<UpdateContext, 'store' | 'state' | 'log' | 'signal' | 'onFault'> & { policy: RetryPolicy }): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await ctx.store.save(ctx.state);
      if (attempt > 1) ctx.onFault?.(null);
      return;
    } catch (e) {
      if (ctx.signal.aborted) throw e;
      const reason = `cannot save ${ctx.store.file}: ${errorMessage(e)}`;
      ctx.log.warn('state save failed; retrying', { error: reason, attempt });
      ctx.onFault?.(reason);
      await sleep(backoffMs(attempt, ctx.policy), ctx.signal);
    }
  }
}

function describe(e: unknown, state: UpdateStateId): string {
  if (e instanceof RefusedError || e instanceof UpdateFailure) return e.message;
  return `${state}: ${errorMessage(e)}`;
}

/** Run (or resume) the update in `ctx.state.update` to its end: committed or failed. */
export async function runUpdate(ctx: UpdateContext): Promise<'committed' | 'failed'> {
  const { state } = ctx;
  const limit = MAX_TRANSITIONS + 2 * ctx.policy.maxRetries;
  for (;;) {
    const upd = state.update!;
    // A state written by another build, or damaged, is not resumed: roll back.
    if (!isUpdateState(upd.state)) {
      upd.reason = `unknown update state "${String(upd.state)}"`;
      upd.state = 'rolling-back';
    }
    if (upd.transitions >= limit && upd.state !== 'rolling-back' && upd.state !== 'failed' && upd.state !== 'committed') {
      upd.reason = `gave up after ${upd.transitions} steps${upd.reason ? ` (last: ${upd.reason})` : ''}`;
      upd.state = 'rolling-back';
    }
    await saveState(ctx);
    ctx.onChange();
    if (upd.state === 'committed' || upd.state === 'failed') return finish(ctx, upd.state);
    if (ctx.stepDelayMs) await sleep(ctx.stepDelayMs, ctx.signal);
    const from: StepState = upd.state;
    let next: UpdateStateId;
    try {
      next = await (handlers[from] as (c: UpdateContext) => Promise<UpdateStateId>)(ctx);
      if (!isAllowed(from, next)) throw new Error(`bug: ${from} -> ${next} is not a declared transition`);
      if (from !== 'retrying' && from !== 'rolling-back') delete upd.reason;
    } catch (e) {
      if (ctx.signal.aborted) throw e;
      const reason = describe(e, from);
      const retries = upd.retries ?? 0;
      if (isTransient(e) && isRetryable(from) && retries < ctx.policy.maxRetries) {
        upd.retries = retries + 1;
        upd.resumeFrom = from;
        const wait = backoffMs(upd.retries, ctx.policy);
        upd.retryAt = new Date(ctx.now().getTime() + wait).toISOString();
        ctx.log.warn('update step met a transient fault; retrying', { state: from, version: upd.version, reason, retry: upd.retries, inMs: wait });
        next = 'retrying';
      } else {
        ctx.log.warn('update step failed', { state: from, version: upd.version, reason, transient: isTransient(e) });
        // Out of retries is no verdict on the version: it may be tried again when offered again.
        upd.verdict = !isTransient(e);
        next = from === 'rolling-back' ? 'failed' : 'rolling-back';
      }
      upd.reason = reason;
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
    // The floor rises only here: a version that failed for a transient reason stays acceptable.
    state.highestSeenVersion = Math.max(state.highestSeenVersion, upd.version);
    ctx.candidate = undefined;
    ctx.previous = undefined;
    if (previous && previous !== candidate) previous.runtime.dispose();
  } else {
    state.lastFailure = { version: upd.version, reason: upd.reason ?? 'unknown', at: ctx.now().toISOString() };
    if (upd.verdict !== false) state.rejectedVersion = Math.max(state.rejectedVersion ?? 0, upd.version);
  }
  if (end === 'committed') ctx.faults.reach('commit:before-save');
  state.update = null;
  await saveState(ctx);
  if (end === 'committed') ctx.faults.reach('commit:after-save');
  await rm(stagedEnvelopePath(ctx.dataDir, upd.sha256), { force: true });
  ctx.onChange();
  return end;
}

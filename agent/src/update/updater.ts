/**
 * One update at a time, and no release lost: a release that arrives while an update runs waits
 * (only the newest one), and pre-empts the running update if that one is still downloading or
 * waiting to retry. A release that cannot even be staged (a full disk) is kept and taken again
 * after a backoff; an update a crash interrupted is resumed before anything new is taken.
 */
import { readFile, rm } from 'node:fs/promises';
import { RefusedError, errorMessage, verifyRelease, writeFileAtomic, type Logger, type SignedRelease, type VerifiedRelease } from '@edgeml/core';
import type { Predictor } from '../serve/predictor.js';
import { otherSlot, type AgentState, type SlotRecord, type StateStore } from '../state/store.js';
import { backoffMs, isTransient, sleep, type RetryPolicy } from './retry.js';
import { partPath, runUpdate, saveState, stagedEnvelopePath, type UpdateContext } from './machine.js';

/** Steps a newer release may interrupt: nothing is installed or serving yet. */
const PREEMPTIBLE = new Set(['downloading', 'verifying', 'retrying']);

export interface UpdaterOptions {
  dataDir: string;
  model: string;
  channel: string;
  rootPublicKeyPem: string;
  state: AgentState;
  store: StateStore;
  predictor: Predictor;
  log: Logger;
  now: () => Date;
  policy: RetryPolicy;
  /** Aborted when the agent stops. */
  signal: AbortSignal;
  publishStatus: () => void;
  /** The highest release-key document version seen, and how a newer one is recorded. */
  keyVersion: { seen: () => number; record: (version: number) => Promise<void> };
  /** The context for running one update, given its envelope and its own abort signal. */
  contextFor: (envelope: SignedRelease, signal: AbortSignal) => UpdateContext;
  /** A fault outside the update steps (staging failed), or null once it clears. */
  onFault: (reason: string | null) => void;
}

export class Updater {
  private pending: unknown;
  private running: Promise<void> | undefined;
  private current: AbortController | undefined;
  /** A release that served before and was lost with its slot: taken again despite the floor. */
  lost: SlotRecord | null = null;

  constructor(private readonly o: UpdaterOptions) {}

  get busy(): boolean {
    return this.running !== undefined;
  }

  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Resume an update a crash interrupted; call before the first release can arrive. */
  resume(): void {
    const { state, log } = this.o;
    const upd = state.update;
    if (!upd) return;
    upd.attempt++;
    log.info('resuming update', { state: upd.state, version: upd.version, attempt: upd.attempt });
    this.run(async () => {
      let envelope: SignedRelease;
      try {
        envelope = JSON.parse(await readFile(stagedEnvelopePath(this.o.dataDir, upd.sha256), 'utf8')) as SignedRelease;
        verifyRelease(envelope, { rootPublicKeyPem: this.o.rootPublicKeyPem, now: new Date(0), model: this.o.model, channel: this.o.channel });
      } catch (e) {
        // Without its signed envelope the update cannot go on; the retained release brings it again.
        log.error('cannot resume the update; dropping it', { error: errorMessage(e) });
        state.lastFailure = { version: upd.version, reason: `resume: ${errorMessage(e)}`, at: this.o.now().toISOString() };
        state.update = null;
        await rm(stagedEnvelopePath(this.o.dataDir, upd.sha256), { force: true });
        await saveState(this.saveCtx());
        this.o.publishStatus();
        return;
      }
      await this.execute(envelope);
    });
  }

  /** A payload from a release topic (already JSON-parsed, or a marker for malformed input). */
  offer(input: unknown): void {
    this.pending = input;
    const upd = this.o.state.update;
    if (this.current && upd && PREEMPTIBLE.has(upd.state) && this.preempts(input, upd.version)) {
      this.o.log.info('a newer release pre-empts the update under way', { version: upd.version, state: upd.state });
      this.current.abort(new Error('pre-empted by a newer release'));
    }
    this.drain();
  }

  private preempts(input: unknown, version: number): boolean {
    try {
      const { release } = verifyRelease(input, { rootPublicKeyPem: this.o.rootPublicKeyPem, now: this.o.now(), model: this.o.model, channel: this.o.channel });
      return release.version > version || (release.rollback === true && release.version !== version);
    } catch {
      return false;
    }
  }

  private saveCtx() {
    return { store: this.o.store, state: this.o.state, log: this.o.log, policy: this.o.policy, signal: this.o.signal, onFault: this.o.onFault };
  }

  private run(fn: () => Promise<void>): void {
    this.running = (async () => {
      try {
        await fn();
      } catch (e) {
        if (!this.o.signal.aborted) this.o.log.error('update failed', { error: errorMessage(e) });
      }
    })().finally(() => {
      this.running = undefined;
      if (!this.o.signal.aborted) this.drain();
    });
  }

  private drain(): void {
    if (this.running || this.pending === undefined || this.o.signal.aborted) return;
    this.run(async () => {
      for (let attempt = 1; this.pending !== undefined && !this.o.signal.aborted; ) {
        const input = this.pending;
        this.pending = undefined;
        try {
          await this.accept(input);
          attempt = 1;
          this.o.onFault(null);
        } catch (e) {
          if (this.o.signal.aborted || !isTransient(e)) throw e;
          // Staging the release failed for a reason a later try can get past (a full disk): keep
          // it, unless something newer arrived meanwhile, and say so in the status.
          this.pending ??= input;
          const reason = `cannot take the release: ${errorMessage(e)}`;
          this.o.log.warn('taking the release failed; retrying', { error: reason, attempt });
          this.o.onFault(reason);
          await sleep(backoffMs(attempt++, this.o.policy), this.o.signal);
        }
      }
    });
  }

  private verify(input: unknown): VerifiedRelease | null {
    const { state, predictor } = this.o;
    const base = { rootPublicKeyPem: this.o.rootPublicKeyPem, now: this.o.now(), model: this.o.model, channel: this.o.channel, seenKeyVersion: this.o.keyVersion.seen() };
    try {
      const activeCreated = predictor.active?.release.created;
      return verifyRelease(input, { ...base, seenVersion: state.highestSeenVersion, ...(activeCreated ? { activeCreated } : {}) });
    } catch (e) {
      if (!(e instanceof RefusedError) || e.reason !== 'rollback') throw e;
      const v = (input as { signed?: { version?: unknown; artifact?: { sha256?: unknown } } })?.signed;
      // The release that served before and was lost with its slot: fetch it again.
      if (this.lost && v?.version === this.lost.version && v.artifact?.sha256 === this.lost.sha256) return verifyRelease(input, base);
      // Either slot: the channel's older release comes back while a rollout moved this device on.
      const known = [state.slots.a, state.slots.b, state.update].some((s) => s && s.version === v?.version && s.sha256 === v?.artifact?.sha256);
      // The retained release we run, or the one that just failed here, comes again after every
      // reconnect: not an attack, and not news.
      if (known || state.lastFailure?.version === v?.version) return null;
      throw e;
    }
  }

  private async accept(input: unknown): Promise<void> {
    const { state, log } = this.o;
    let verified: VerifiedRelease | null;
    try {
      verified = this.verify(input);
    } catch (e) {
      if (!(e instanceof RefusedError)) throw e;
      const v = (input as { signed?: { version?: unknown } })?.signed;
      log.warn('refused release', { reason: e.reason, detail: e.message });
      state.lastFailure = { version: typeof v?.version === 'number' ? v.version : 0, reason: `refused: ${e.message}`, at: this.o.now().toISOString() };
      await saveState(this.saveCtx());
      this.o.publishStatus();
      return;
    }
    if (!verified) return;
    const { release } = verified;
    await this.o.keyVersion.record(verified.releaseKey.version ?? 0);
    // A version judged bad here is not tried again; a newer one, or a rollback directive, is.
    if (!release.rollback && state.rejectedVersion !== undefined && release.version <= state.rejectedVersion && release.version !== this.lost?.version) return;
    const envelope = input as SignedRelease;
    await writeFileAtomic(stagedEnvelopePath(this.o.dataDir, release.artifact.sha256), JSON.stringify(envelope));
    state.update = { state: 'downloading', version: release.version, sha256: release.artifact.sha256, slot: otherSlot(state.active), attempt: 1, transitions: 0 };
    log.info('accepted release', { version: release.version, sha256: release.artifact.sha256 });
    await this.execute(envelope);
  }

  private async execute(envelope: SignedRelease): Promise<void> {
    const { state } = this.o;
    const upd = state.update!;
    const ctl = new AbortController();
    this.current = ctl;
    try {
      const end = await runUpdate(this.o.contextFor(envelope, AbortSignal.any([this.o.signal, ctl.signal])));
      if (end === 'committed' && this.lost?.version === upd.version) this.lost = null;
    } catch (e) {
      if (this.o.signal.aborted || !ctl.signal.aborted) throw e;
      // Pre-empted: nothing of it is installed; drop it and take the newer release next.
      state.update = null;
      await rm(partPath(this.o.dataDir, upd.sha256), { force: true });
      await rm(stagedEnvelopePath(this.o.dataDir, upd.sha256), { force: true });
      await saveState(this.saveCtx());
      this.o.publishStatus();
    } finally {
      this.current = undefined;
    }
  }
}

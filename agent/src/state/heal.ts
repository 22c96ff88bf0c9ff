/**
 * Self-healing storage, run at start: sweep the temp files of writes a crash cut short, rebuild
 * a damaged state file from the slots' signed envelopes, and pick a slot that really holds a
 * valid model to serve (the other one if the active slot is missing or damaged).
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage, isAtomicTempFile, verifyRelease, type Logger, type SignedRelease } from '@edgeml/core';
import type { RuntimeRegistry } from '@edgeml/runtime';
import type { LoadedModel } from '../serve/predictor.js';
import { hashFile, loadSlot, slotArtifact, slotEnvelope } from '../update/steps.js';
import { initialState, otherSlot, type AgentState, type SlotName, type SlotRecord } from './store.js';

/** Remove every `writeFileAtomic` leftover under the data dir; returns how many. */
export async function sweepTempFiles(dataDir: string): Promise<number> {
  let removed = 0;
  const entries = await readdir(dataDir, { withFileTypes: true, recursive: true }).catch(() => []);
  for (const e of entries) {
    if (!e.isFile() || !isAtomicTempFile(e.name)) continue;
    await rm(join(e.parentPath, e.name), { force: true });
    removed++;
  }
  return removed;
}

export interface SlotCheck {
  rootPublicKeyPem: string;
  model: string;
  channel: string;
  now: Date;
}

/** The signed release a slot holds, if its envelope verifies and its bytes match it. */
export async function readValidSlot(dataDir: string, slot: SlotName, check: SlotCheck): Promise<{ envelope: SignedRelease; record: SlotRecord } | null> {
  try {
    const envelope = JSON.parse(await readFile(slotEnvelope(dataDir, slot), 'utf8')) as unknown;
    // Expiry is for taking a release, not for serving one already installed.
    const { release } = verifyRelease(envelope, { rootPublicKeyPem: check.rootPublicKeyPem, now: new Date(0), model: check.model, channel: check.channel });
    await hashFile(slotArtifact(dataDir, slot), release.artifact);
    return { envelope: envelope as SignedRelease, record: { version: release.version, sha256: release.artifact.sha256 } };
  } catch {
    return null;
  }
}

/** A state from what the slots hold: the newest valid slot is active, its version the floor. */
export async function rebuildState(dataDir: string, check: SlotCheck): Promise<AgentState> {
  const state = initialState();
  for (const slot of ['a', 'b'] as const) state.slots[slot] = (await readValidSlot(dataDir, slot, check))?.record ?? null;
  const { a, b } = state.slots;
  state.active = a && (!b || a.version >= b.version) ? 'a' : b ? 'b' : null;
  state.highestSeenVersion = state.active ? state.slots[state.active]!.version : 0;
  return state;
}

export interface Restored {
  model: LoadedModel | null;
  /** The release that served before and could not be loaded: fetch it again when offered. */
  lost: SlotRecord | null;
  error: string | null;
}

/**
 * Load the active slot; if it is missing or damaged, fall back to the other slot when that one
 * is valid (and make it active). Never throws: a device with no loadable model still runs.
 */
export async function restoreActive(dataDir: string, state: AgentState, runtimes: RuntimeRegistry, check: SlotCheck, log: Logger): Promise<Restored> {
  if (!state.active) return { model: null, lost: null, error: null };
  const active = state.active;
  const record = state.slots[active];
  let error: string;
  try {
    const envelope = JSON.parse(await readFile(slotEnvelope(dataDir, active), 'utf8')) as SignedRelease;
    const model = await loadSlot(dataDir, active, envelope.signed, runtimes);
    if (record && model.release.artifact.sha256 !== record.sha256) throw new Error('the slot holds another release than the state file names');
    log.info('serving installed version', { version: model.release.version, slot: active });
    return { model, lost: null, error: null };
  } catch (e) {
    error = `cannot load the active slot ${active}: ${errorMessage(e)}`;
  }
  const other = otherSlot(active);
  const fallback = await readValidSlot(dataDir, other, check);
  if (fallback) {
    try {
      const model = await loadSlot(dataDir, other, fallback.envelope.signed, runtimes);
      log.error('active slot is damaged; serving the other slot until its release is fetched again', { error, slot: other, version: fallback.record.version });
      state.active = other;
      state.slots[other] = fallback.record;
      state.slots[active] = null;
      return { model, lost: record ?? null, error: null };
    } catch (e) {
      error += `; the other slot failed too: ${errorMessage(e)}`;
    }
  }
  log.error('no slot can serve; fetching the release again', { error, version: record?.version ?? null });
  state.slots[active] = null;
  state.active = null;
  return { model: null, lost: record ?? null, error };
}

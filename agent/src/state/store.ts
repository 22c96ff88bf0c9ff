/**
 * The agent's persisted state: one JSON file written atomically before every step, so a power
 * cut at any instant resumes from a known state. State ids are saved to disk: never rename one.
 * A second copy (`state.json.last-good`) is written after each save; a file that no longer
 * parses is replaced by that copy, or rebuilt from the slots' signed envelopes by the caller.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { errorMessage, writeFileAtomic, type Logger } from '@edgeml/core';
import { updateStates, type UpdateStateId } from '../update/states.js';

export { updateStates, type UpdateStateId };
export type SlotName = 'a' | 'b';

const slotName = z.enum(['a', 'b']);
const slotRecord = z.object({ version: z.number().int(), sha256: z.string().regex(/^[0-9a-f]{64}$/) });

const UpdateRecordSchema = z.object({
  // An id this build does not know (written by a newer one) is kept as is: it means roll back.
  state: z.string().max(64),
  version: z.number().int(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  slot: slotName,
  /** How many times this update has been started (a crash mid-step restarts the step). */
  attempt: z.number().int().min(0),
  /** Steps taken; past a limit the agent gives up instead of looping. */
  transitions: z.number().int().min(0),
  reason: z.string().optional(),
  /** Set once the new version serves traffic on probation. */
  activated: z.boolean().optional(),
  /** Transient faults met so far in this update. */
  retries: z.number().int().min(0).optional(),
  /** The step `retrying` resumes once its backoff has passed. */
  resumeFrom: z.string().max(64).optional(),
  /** When the backoff of `retrying` ends (ISO time), so a restart does not wait it out again. */
  retryAt: z.string().max(64).optional(),
  /** False when the update ended for transient faults only: no verdict on the version. */
  verdict: z.boolean().optional(),
  /** Times the process died while this version was on probation. */
  probationCrashes: z.number().int().min(0).optional(),
});

const AgentStateSchema = z.object({
  schema: z.literal(1),
  highestSeenVersion: z.number().int().min(0),
  active: slotName.nullable(),
  slots: z.object({ a: slotRecord.nullable(), b: slotRecord.nullable() }),
  update: UpdateRecordSchema.nullable(),
  /** The last update that failed or was rolled back, for the status. */
  lastFailure: z.object({ version: z.number().int(), reason: z.string(), at: z.string() }).nullable(),
  /** A version given a verdict here (rolled back): never tried again unless re-published newer. */
  rejectedVersion: z.number().int().min(0).optional(),
});

export type SlotRecord = z.infer<typeof slotRecord>;
export type UpdateRecord = Omit<z.infer<typeof UpdateRecordSchema>, 'state' | 'resumeFrom'> & { state: UpdateStateId; resumeFrom?: UpdateStateId };
export type AgentState = Omit<z.infer<typeof AgentStateSchema>, 'update'> & { update: UpdateRecord | null };

export const initialState = (): AgentState => ({
  schema: 1,
  highestSeenVersion: 0,
  active: null,
  slots: { a: null, b: null },
  update: null,
  lastFailure: null,
});

export function parseState(text: string, file: string): AgentState {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file} is not valid JSON (${errorMessage(e)})`);
  }
  const parsed = AgentStateSchema.safeParse(json);
  if (!parsed.success) throw new Error(`${file} does not hold an agent state: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data as AgentState;
}

export class StateStore {
  readonly file: string;
  readonly lastGood: string;

  constructor(
    readonly dataDir: string,
    private readonly log?: Logger,
  ) {
    this.file = join(dataDir, 'state.json');
    this.lastGood = join(dataDir, 'state.json.last-good');
  }

  /**
   * The saved state; if the file is damaged, its last good copy; else what `rebuild` makes of
   * the slots. Never throws for a damaged file: the device must come back by itself.
   */
  async load(rebuild: () => Promise<AgentState> = async () => initialState()): Promise<AgentState> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return initialState();
      throw e;
    }
    try {
      return parseState(text, this.file);
    } catch (e) {
      const damage = errorMessage(e);
      try {
        const state = parseState(await readFile(this.lastGood, 'utf8'), this.lastGood);
        this.log?.error('state file damaged; restored its last good copy', { file: this.file, damage });
        await this.save(state);
        return state;
      } catch {
        const state = await rebuild();
        this.log?.error('state file damaged and no good copy; rebuilt it from the slots', { file: this.file, damage, active: state.active, version: state.active ? state.slots[state.active]?.version : null });
        await this.save(state);
        return state;
      }
    }
  }

  async save(state: AgentState): Promise<void> {
    const text = JSON.stringify(state, null, 2) + '\n';
    await writeFileAtomic(this.file, text);
    // The copy is a convenience for recovery: failing to write it must not fail the step.
    await writeFileAtomic(this.lastGood, text).catch(() => undefined);
  }
}

export const slotDir = (dataDir: string, slot: SlotName) => join(dataDir, 'slots', slot);
export const otherSlot = (slot: SlotName | null): SlotName => (slot === 'a' ? 'b' : 'a');

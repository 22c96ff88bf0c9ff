/**
 * The agent's persisted state: one JSON file written atomically before every step, so a power
 * cut at any instant resumes from a known state. State ids are saved to disk: never rename one.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '@edgeml/core';

export type SlotName = 'a' | 'b';

export const updateStates = ['downloading', 'verifying', 'installing', 'probation', 'committed', 'rolling-back', 'failed'] as const;
export type UpdateStateId = (typeof updateStates)[number];

export interface SlotRecord {
  version: number;
  sha256: string;
}

export interface UpdateRecord {
  state: UpdateStateId;
  version: number;
  sha256: string;
  slot: SlotName;
  /** How many times this update has been started (a crash mid-step restarts the step). */
  attempt: number;
  /** Steps taken; past a limit the agent gives up instead of looping. */
  transitions: number;
  reason?: string;
  /** Set once the new version serves traffic on probation; a restart after that rolls back. */
  activated?: boolean;
}

export interface AgentState {
  schema: 1;
  highestSeenVersion: number;
  active: SlotName | null;
  slots: Record<SlotName, SlotRecord | null>;
  update: UpdateRecord | null;
  /** The last update that failed or was rolled back, for the status. */
  lastFailure: { version: number; reason: string; at: string } | null;
}

export const initialState = (): AgentState => ({
  schema: 1,
  highestSeenVersion: 0,
  active: null,
  slots: { a: null, b: null },
  update: null,
  lastFailure: null,
});

export class StateStore {
  readonly file: string;

  constructor(readonly dataDir: string) {
    this.file = join(dataDir, 'state.json');
  }

  async load(): Promise<AgentState> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return initialState();
      throw e;
    }
    const state = JSON.parse(text) as AgentState;
    if (state.schema !== 1) throw new Error(`${this.file}: unknown state schema ${String(state.schema)}`);
    return state;
  }

  async save(state: AgentState): Promise<void> {
    await writeFileAtomic(this.file, JSON.stringify(state, null, 2) + '\n');
  }
}

export const slotDir = (dataDir: string, slot: SlotName) => join(dataDir, 'slots', slot);
export const otherSlot = (slot: SlotName | null): SlotName => (slot === 'a' ? 'b' : 'a');

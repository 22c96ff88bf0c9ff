import { describe, expect, it } from 'vitest';
import { handlers } from './steps.js';
import { isAllowed, isRetryable, transitions, updateStates, type UpdateStateId } from './states.js';

describe('the update transition table', () => {
  it('names only declared states as targets', () => {
    for (const [from, tos] of Object.entries(transitions)) {
      for (const to of tos) expect(updateStates, `${from} -> ${to}`).toContain(to);
    }
  });

  it('has a handler for every state but the two ends, and none for them', () => {
    expect(Object.keys(handlers).sort()).toEqual(updateStates.filter((s) => s !== 'committed' && s !== 'failed').sort());
  });

  it('reaches committed or failed from every state', () => {
    const ends = new Set<UpdateStateId>(['committed', 'failed']);
    for (const start of updateStates) {
      const seen = new Set<UpdateStateId>([start]);
      const queue: UpdateStateId[] = [start];
      while (queue.length) for (const n of transitions[queue.shift()!]) if (!seen.has(n)) (seen.add(n), queue.push(n));
      expect([...seen].some((s) => ends.has(s)), start).toBe(true);
    }
  });

  it('lets every step before commit roll back, and rolls back only to failed', () => {
    for (const s of ['downloading', 'verifying', 'installing', 'probation', 'retrying'] as const) expect(isAllowed(s, 'rolling-back')).toBe(true);
    expect(transitions['rolling-back']).toEqual(['failed']);
    expect(isAllowed('rolling-back', 'committed')).toBe(false);
  });

  it('retries only steps that can resume, and commits only from probation', () => {
    expect(updateStates.filter(isRetryable).sort()).toEqual(['downloading', 'installing', 'probation', 'verifying']);
    expect(updateStates.filter((s) => isAllowed(s, 'committed'))).toEqual(['probation']);
  });
});

/**
 * The update path's states and the transitions allowed between them, in one place. Handlers are
 * typed against this table, so a handler returning a state its row does not list is a compile
 * error, and the runner checks every transition again at run time. State ids are saved to disk
 * in `state.json`: never rename one.
 */
export const transitions = {
  downloading: ['verifying', 'installing', 'retrying', 'rolling-back'],
  verifying: ['installing', 'retrying', 'rolling-back'],
  // Back to downloading when the bytes are gone (lost with the storage between two steps).
  installing: ['probation', 'downloading', 'retrying', 'rolling-back'],
  probation: ['committed', 'retrying', 'rolling-back'],
  // Waits out its backoff, then resumes the step that failed.
  retrying: ['downloading', 'verifying', 'installing', 'probation', 'rolling-back'],
  'rolling-back': ['failed'],
  committed: [],
  failed: [],
} as const satisfies Record<string, readonly string[]>;

export type UpdateStateId = keyof typeof transitions;
export const updateStates = Object.keys(transitions) as UpdateStateId[];
/** States with a handler: every one but the two ends. */
export type StepState = Exclude<UpdateStateId, 'committed' | 'failed'>;
/** The states a step may hand over to from `S`. */
export type NextOf<S extends UpdateStateId> = (typeof transitions)[S][number];
/** Steps a transient fault may send to `retrying`, and that `retrying` may resume. */
export type RetryableState = Extract<NextOf<'retrying'>, StepState>;

export const isUpdateState = (s: unknown): s is UpdateStateId => typeof s === 'string' && Object.hasOwn(transitions, s);

export function isAllowed(from: UpdateStateId, to: UpdateStateId): boolean {
  return (transitions[from] as readonly UpdateStateId[]).includes(to);
}

export const isRetryable = (s: UpdateStateId): s is RetryableState => isAllowed('retrying', s) && s !== 'rolling-back';

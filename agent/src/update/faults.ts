/**
 * Named kill points for fault injection: a test sets `faultPoint` in the agent's config (or
 * EDGEML_FAULT_POINT in its environment) and the agent kills itself with SIGKILL on reaching that
 * point, exactly as a power cut would stop it there. Unset, `reach` costs one comparison.
 */
export const faultPoints = [
  'downloading:mid',
  'verifying:before',
  'installing:before-rename',
  'installing:after-rename',
  'probation:after-activate',
  'commit:before-save',
  'commit:after-save',
  'rolling-back:mid',
] as const;
export type FaultPoint = (typeof faultPoints)[number];

export interface Faults {
  reach(point: FaultPoint): void;
}

export function createFaults(configured: string | undefined, log: { warn(msg: string, f?: Record<string, unknown>): void }): Faults {
  const armed = process.env.EDGEML_FAULT_POINT || configured;
  if (armed && !(faultPoints as readonly string[]).includes(armed)) log.warn('unknown fault point; ignoring it', { faultPoint: armed, known: faultPoints.join(', ') });
  return {
    reach(point) {
      if (point !== armed) return;
      log.warn('fault point reached: killing the agent', { faultPoint: point });
      process.kill(process.pid, 'SIGKILL');
    },
  };
}

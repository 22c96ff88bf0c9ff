/**
 * Named kill points in the hub's publish and rollback paths, for fault injection: with
 * EDGEML_HUB_FAULT_POINT set to one of them the hub kills itself with SIGKILL on reaching it,
 * as a power cut or an OOM kill would stop it there. Unset, `reach` costs one comparison.
 */
import type { Logger } from '@edgeml/core';

export const hubFaultPoints = [
  /** The artifact file is written; no version row yet. */
  'publish:after-artifact',
  /** Version, desired state (and rollout) committed; nothing told to the broker. */
  'publish:after-commit',
  /** The rollback directive and version statuses committed; not published. */
  'rollback:after-commit',
  /** The directive published; the operator has no answer yet. */
  'rollback:after-publish',
  /** A halted rollout's directive stored and published to its first device; the rollout not marked halted. */
  'halt:after-first-directive',
] as const;
export type HubFaultPoint = (typeof hubFaultPoints)[number];

export interface HubFaults {
  reach(point: HubFaultPoint): void;
}

export function createHubFaults(armed: string | undefined, log: Logger): HubFaults {
  if (armed && !(hubFaultPoints as readonly string[]).includes(armed)) log.warn('unknown hub fault point; ignoring it', { faultPoint: armed, known: hubFaultPoints.join(', ') });
  return {
    reach(point) {
      if (point !== armed) return;
      log.warn('fault point reached: killing the hub', { faultPoint: point });
      process.kill(process.pid, 'SIGKILL');
    },
  };
}

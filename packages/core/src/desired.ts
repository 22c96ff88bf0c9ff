/**
 * The fleet's desired state: which version the hub wants each device of a model's channel to
 * run. The hub keeps it in its registry and retains it on `fleet/desired/...`; the hub's fleet
 * view and `edgeml fleet status` compare each device's status against it the same way.
 */
import { z } from 'zod';
import { DeviceStatusSchema } from './schemas.js';

const name = DeviceStatusSchema.shape.deviceId;

/** Why the hub wants this version: a plain release, a rollout's assignment, or a rollback directive. */
export const desiredKinds = ['release', 'rollout', 'rollback'] as const;
export type DesiredKind = (typeof desiredKinds)[number];

export const DesiredStateSchema = z.object({
  model: name,
  channel: name,
  /** Null for the whole channel; a device id when one device is told apart (rollout, halted rollout). */
  deviceId: name.nullable(),
  version: z.number().int().positive(),
  kind: z.enum(desiredKinds),
  at: z.string().max(64),
});
export type DesiredState = z.infer<typeof DesiredStateSchema>;

export type Convergence = 'converged' | 'pending' | 'failed';

/** States in which a device runs its installed version and no update is under way. */
const SETTLED = new Set(['active', 'rolled-back', 'offline']);

/**
 * A device is converged when it runs the desired version with no update under way, failed when
 * its last failed update was the desired version and it runs another, pending otherwise.
 */
export function convergence(device: { version: number | null; state: string; failedVersion: number | null }, desiredVersion: number): Convergence {
  if (device.version === desiredVersion && SETTLED.has(device.state)) return 'converged';
  if (device.failedVersion === desiredVersion && device.version !== desiredVersion) return 'failed';
  return 'pending';
}

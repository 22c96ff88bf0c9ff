/**
 * The controller's per-tick work follows what changed, not the fleet's size: with 20,000 device
 * rows in a real SQLite registry, a tick where nothing changed reads no device row and no
 * rollout row, and a tick after ten devices reported reads those ten.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger, type DeviceStatus, type SignedRelease } from '@edgeml/core';
import { DesiredReleases } from '../desired/desired.js';
import { Registry } from '../registry/registry.js';
import { RolloutPlanSchema } from '../registry/rollout-store.js';
import { ArtifactStore } from '../store/artifacts.js';
import { RolloutController } from './controller.js';

const FLEET = 20_000;
const log = createLogger({ name: 'ticks-test', level: 'error' });

const envelope = (version: number) =>
  ({
    signed: { type: 'release', model: 'big', version, channel: 'stable', artifact: { sha256: 'a'.repeat(64), size: 1, chunkSize: 65_536 }, validation: {}, budgets: {} },
    signatures: [],
  }) as unknown as SignedRelease;

const status = (i: number, version: number, at = new Date().toISOString()): DeviceStatus => ({
  deviceId: `dev-${String(i).padStart(5, '0')}`,
  online: true,
  state: 'active',
  model: 'big',
  version,
  sha256: null,
  previousVersion: null,
  health: 'ok',
  lastError: null,
  failedVersion: null,
  tags: [],
  p95Ms: null,
  requests: 0,
  updatedAt: at,
});

let dir: string;
let registry: Registry;
let controller: RolloutController;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeml-ticks-'));
  registry = new Registry(join(dir, 'registry.sqlite'));
  for (const v of [1, 2]) {
    registry.addVersion({ model: 'big', version: v, channel: 'stable', sha256: 'a'.repeat(64), sizeBytes: 1, format: 'tfjs-layers', runtime: 'tfjs', metrics: {}, envelope: envelope(v), status: v === 1 ? 'published' : 'staged', task: 'classification' });
  }
  registry.upsertDevices(Array.from({ length: FLEET }, (_, i) => status(i, 1)));
  // Nothing is published in these ticks (every device was sent the version already); the
  // transport only has to exist.
  const desired = new DesiredReleases(registry, new ArtifactStore(join(dir, 'artifacts')), { publish: () => Promise.resolve() }, log);
  controller = new RolloutController({ registry, log, desired, sendBenchmark: () => Promise.resolve(), rollbackDirective: () => envelope(1) });
});
afterEach(async () => {
  await controller.stop();
  registry.close();
  await rm(dir, { recursive: true, force: true });
});

describe('rollout controller ticks', () => {
  it(`reads only what changed per tick, with ${FLEET} devices in the registry`, async () => {
    const ids = Array.from({ length: FLEET }, (_, i) => status(i, 1).deviceId);
    // In its last wave, every device already sent v2 and none reporting it yet.
    const r = registry.rollouts.create({ model: 'big', channel: 'stable', version: 2, fromVersion: 1, plan: RolloutPlanSchema.parse({ benchmark: false, soakMs: 600_000 }), devices: { order: ids, canary: ids.slice(0, 1), upgraded: ids } });
    registry.rollouts.update(r.id, { state: 'wave', wave: 1 });

    await controller.tick();
    const read = () => ({ ...registry.rowsRead });
    const quiet = read();
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      await controller.tick();
      times.push(performance.now() - t0);
    }
    expect(read()).toEqual(quiet);

    // Ten devices report v2: ten rows read, the rollout not re-read (it did not change).
    registry.upsertDevices(Array.from({ length: 10 }, (_, i) => status(i, 2)));
    await controller.tick();
    expect(read()).toEqual({ devices: quiet.devices + 10, rollouts: quiet.rollouts });
    expect(registry.rollouts.get(r.id)!.state).toBe('wave');

    // The rest report v2: the wave is done and the rollout soaks (re-read once, as it changed).
    registry.upsertDevices(Array.from({ length: FLEET - 10 }, (_, i) => status(i + 10, 2)));
    await controller.tick();
    expect(registry.rollouts.get(r.id)!.state).toBe('soaking');
    const soaking = read();
    await controller.tick();
    await controller.tick();
    expect(read().devices).toBe(soaking.devices);
    // One read of the changed rollout by the tick, plus the `get` just above.
    expect(read().rollouts - soaking.rollouts).toBeLessThanOrEqual(2);
    times.sort((a, b) => a - b);
    console.log(`median tick with ${FLEET} devices and nothing changed: ${times[2]!.toFixed(2)} ms`);
  });

  it('halts the wave when an upgraded device reports that it rolled the version back', async () => {
    const ids = Array.from({ length: FLEET }, (_, i) => status(i, 1).deviceId);
    const plan = RolloutPlanSchema.parse({ benchmark: false, soakMs: 600_000, waveTimeoutMs: 600_000 });
    const r = registry.rollouts.create({ model: 'big', channel: 'stable', version: 2, fromVersion: 1, plan, devices: { order: ids, canary: ids.slice(0, 1), upgraded: ids } });
    registry.rollouts.update(r.id, { state: 'wave', wave: 1 });
    await controller.tick();
    registry.upsertDevices([{ ...status(7, 1), failedVersion: 2, lastError: 'self-test failed' }]);
    await controller.tick();
    expect(registry.rollouts.get(r.id)).toMatchObject({ state: 'rolling-back', reason: 'dev-00007 rolled back v2: self-test failed' });
  });
});

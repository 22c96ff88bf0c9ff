/**
 * Health over a device list as large as a fleet: one bound parameter whatever its length (a
 * `?` per device overflows SQLite's limit of 32,766 bound parameters).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LATENCY_BUCKETS_MS, type Telemetry } from '@edgeml/core';
import { Registry } from './registry.js';

let dir: string;
let registry: Registry;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeml-health-'));
  registry = new Registry(join(dir, 'registry.sqlite'));
});
afterEach(async () => {
  registry.close();
  await rm(dir, { recursive: true, force: true });
});

const telemetry = (deviceId: string, requests: number): Telemetry => ({
  type: 'telemetry',
  id: '1',
  deviceId,
  model: 'big',
  version: 2,
  from: new Date().toISOString(),
  to: new Date().toISOString(),
  requests,
  rows: requests,
  errors: 0,
  rejected: 0,
  latencyBuckets: new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0),
  predictions: {},
  features: [],
  evicted: 0,
});

describe('fleet health', () => {
  it('merges the records of a 45,000-device list, and only of those devices', () => {
    const devices = Array.from({ length: 45_000 }, (_, i) => `dev-${i}`);
    registry.fleet.addTelemetry(telemetry('dev-0', 3));
    registry.fleet.addTelemetry(telemetry('dev-44999', 4));
    registry.fleet.addTelemetry(telemetry('not-in-the-rollout', 100));
    const h = registry.fleet.health({ model: 'big', version: 2, devices });
    expect(h).toMatchObject({ requests: 7, telemetryRecords: 2 });
    expect(registry.fleet.health({ model: 'big', version: 2, devices: [] })).toMatchObject({ requests: 0, telemetryRecords: 0 });
    expect(registry.fleet.health({ model: 'big', version: 2 })).toMatchObject({ requests: 107, telemetryRecords: 3 });
  });
});

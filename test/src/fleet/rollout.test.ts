/**
 * Staged rollouts on a fleet of ten agents (real agent code) on the hub's embedded broker.
 * The scenarios are shared with the Mosquitto run (scenarios.ts).
 */
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe } from 'vitest';
import type { Candidate } from '@edgeml/hub';
import { irisModel, startTestHub, type TestHub } from '../helpers/fleet.js';
import { onVersion, publishV, startFleet, type FleetAgent } from './fleet.js';
import { fleetScenarios } from './scenarios.js';

let t: TestHub;
let baseDir: string;
let port: number;
let c: Candidate;
let fleet: FleetAgent[];

beforeAll(async () => {
  t = await startTestHub();
  baseDir = t.dir;
  c = await irisModel();
  const v1 = await publishV(t, c);
  fleet = await startFleet(t, 10);
  await onVersion(t, fleet.map((a) => a.id), v1.version);
}, 180_000);

afterAll(async () => {
  await Promise.all(fleet?.map((a) => a.agent.close()) ?? []);
  await t?.hub.close();
  await rm(baseDir, { recursive: true, force: true });
});

describe('staged rollout across ten agents, embedded broker', () => {
  fleetScenarios({
    hub: () => t,
    fleet: () => fleet,
    candidate: () => c,
    // The embedded broker lives in the hub: the hub goes down with it, and resumes from SQLite.
    brokerDown: async () => {
      port = Number(new URL(t.hub.brokerUrl).port);
      await t.hub.close();
    },
    brokerUp: async () => {
      t = await startTestHub({ mqttPort: port }, baseDir);
    },
    fleetStatusArgs: () => ['--broker', t.hub.brokerUrl, '--username', t.hub.operator.username, '--password', t.hub.operator.password],
  });
});

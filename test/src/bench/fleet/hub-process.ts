/**
 * The hub under test, alone in its process: `startHub` from @edgeml/hub with its embedded aedes
 * broker and HTTP API on free ports, as `startTestHub` (test/src/helpers/fleet.ts) starts it.
 * Nothing else runs here, so this process's CPU time and RSS are the hub's (broker included).
 * Driven over IPC by the fleet section (see simulate.ts).
 */
import { writeFile } from 'node:fs/promises';
import { Session, type Profiler } from 'node:inspector';
import { join } from 'node:path';
import { silentLogger } from '@edgeml/core';
import { startHub, type Hub, type PublishInput } from '@edgeml/hub';
import { procStats, serve, wallMs, type ProcStats } from './ipc.js';
import { summariseProfile, type ProfileSummary } from './profile.js';

export type { ProfileSummary } from './profile.js';

export interface HubStarted {
  brokerUrl: string;
  httpUrl: string;
  registryFile: string;
  startMs: number;
}
export interface Published {
  version: number;
  sha256: string;
  chunks: number;
  sizeBytes: number;
  /** Wall clock just before `hub.publish(...)`, and when it resolved (chunks and release retained). */
  t0: number;
  tReturned: number;
  before: ProcStats;
}

let hub: Hub | undefined;
let session: Session | undefined;

const post = <T>(method: string, params?: object): Promise<T> =>
  new Promise((resolve, reject) => session!.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res as T))));

serve({
  async start(a: { dataDir: string }): Promise<HubStarted> {
    const t0 = wallMs();
    hub = await startHub({ dataDir: join(a.dataDir, 'hub'), mqttPort: 0, httpPort: 0, log: silentLogger });
    return { brokerUrl: hub.brokerUrl, httpUrl: hub.httpUrl!, registryFile: join(a.dataDir, 'hub', 'registry.sqlite'), startMs: wallMs() - t0 };
  },

  /** One-time enrolment tokens, as an operator hands them out (`hub.createEnrollToken()`). */
  tokens(a: { n: number }): string[] {
    return Array.from({ length: a.n }, () => hub!.createEnrollToken());
  },

  stats: () => procStats(),

  async publish(a: { input: PublishInput }): Promise<Published> {
    const before = procStats();
    const t0 = wallMs();
    const rec = await hub!.publish(a.input);
    const tReturned = wallMs();
    return { version: rec.version, sha256: rec.sha256, chunks: rec.envelope.signed.artifact.chunks.length, sizeBytes: rec.sizeBytes, t0, tReturned, before };
  },

  /** What the hub's registry says, through the hub's own API: the cross-check of the poller. */
  devices(a: { model: string; version: number }): { total: number; active: number; online: number } {
    const all = hub!.registry.listDevices();
    return {
      total: all.length,
      active: all.filter((d) => d.state === 'active' && d.model === a.model && d.version === a.version).length,
      online: all.filter((d) => d.online).length,
    };
  },

  async profileStart(): Promise<void> {
    session = new Session();
    session.connect();
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: 500 });
    await post('Profiler.start');
  },

  async profileStop(a: { file: string }): Promise<ProfileSummary> {
    const { profile } = await post<{ profile: Profiler.Profile }>('Profiler.stop');
    session!.disconnect();
    session = undefined;
    await writeFile(a.file, JSON.stringify(profile));
    return summariseProfile(profile, a.file);
  },

  async close(): Promise<{ ms: number }> {
    const t0 = wallMs();
    await hub?.close();
    hub = undefined;
    return { ms: wallMs() - t0 };
  },
});

/**
 * The simulated fleet, in its own process so the hub's CPU and memory figures are the hub's
 * alone (and each process stays under the open-file limit: one socket per device on each side).
 * Driven over IPC by the fleet section (see simulate.ts).
 */
import { procStats, serve, wallMs } from './ipc.js';
import { SimAgent, type SimDevice, type SimOptions, type SimTimes } from './sim-agent.js';

export interface EnrollArgs {
  hubUrl: string;
  ids: string[];
  tokens: string[];
  concurrency: number;
}
export interface EnrollResult {
  ms: number;
  enrolled: number;
  rootPublicKeyPem: string;
}
export interface ConnectArgs {
  sim: Omit<SimOptions, 'rootPublicKeyPem'>;
  concurrency: number;
  connectTimeoutMs: number;
}
export interface ConnectResult {
  ms: number;
  connected: number;
  /** Connections per second over the phase. */
  rate: number;
}
export const SIM_STEPS = ['release', 'verified', 'fetched', 'activeSent', 'activeAcked'] as const satisfies readonly (keyof SimTimes)[];
export type SimStep = (typeof SIM_STEPS)[number];

export interface SimReport {
  devices: number;
  /** Devices that verified, fetched and reported the release active. */
  active: number;
  refused: number;
  failed: number;
  disconnected: number;
  firstErrors: string[];
  /** ms after t0 (the hub's publish call) at which each step happened, one value per device that got there. */
  after: Record<SimStep, number[]>;
}

async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

let devices: SimDevice[] = [];
let agents: SimAgent[] = [];
let rootPublicKeyPem = '';


serve({
  async enroll(a: EnrollArgs): Promise<EnrollResult> {
    const t0 = wallMs();
    const out: SimDevice[] = new Array<SimDevice>(a.ids.length);
    const url = new URL('/v1/enroll', a.hubUrl);
    await pool(a.ids, a.concurrency, async (id, i) => {
      // The agent's enrolment request (agent/src/enroll.ts), without writing a config file.
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: a.tokens[i], deviceId: id }) });
      const body = (await res.json()) as { error?: string; username?: string; password?: string; brokerUrl?: string; rootKey?: string };
      if (!res.ok || !body.username || !body.password || !body.brokerUrl || !body.rootKey) throw new Error(`enrolment of ${id} refused (${res.status}): ${body.error ?? 'no credentials'}`);
      // Every device pins the root key it was given; they are all the hub's one root key.
      if (!rootPublicKeyPem) rootPublicKeyPem = body.rootKey;
      else if (body.rootKey !== rootPublicKeyPem) throw new Error(`device ${id} was given a different root key`);
      out[i] = { id, username: body.username, password: body.password, brokerUrl: body.brokerUrl };
    });
    devices = devices.concat(out);
    return { ms: wallMs() - t0, enrolled: out.length, rootPublicKeyPem };
  },

  async connect(a: ConnectArgs): Promise<ConnectResult> {
    const t0 = wallMs();
    const sim: SimOptions = { ...a.sim, rootPublicKeyPem };
    const fresh = devices.slice(agents.length).map((d) => new SimAgent(d, sim));
    agents = agents.concat(fresh);
    await pool(fresh, a.concurrency, (agent) => agent.start(a.connectTimeoutMs));
    const ms = wallMs() - t0;
    return { ms, connected: fresh.length, rate: fresh.length / (ms / 1000) };
  },

  stats: () => procStats(),

  report(a: { t0: number }): SimReport {
    const after = Object.fromEntries(SIM_STEPS.map((k) => [k, agents.flatMap((g) => (g.times[k] === undefined ? [] : [g.times[k]! - a.t0]))])) as SimReport['after'];
    return {
      devices: agents.length,
      active: agents.filter((g) => g.times.activeSent !== undefined).length,
      refused: agents.filter((g) => g.refused).length,
      failed: agents.filter((g) => g.error).length,
      disconnected: agents.filter((g) => g.disconnected).length,
      firstErrors: [...new Set(agents.flatMap((g) => (g.refused ?? g.error ? [g.refused ?? g.error!] : [])))].slice(0, 5),
      after,
    };
  },

  /** Every device loses its connection at once (no DISCONNECT: the last wills fire). */
  drop(): { at: number } {
    const at = wallMs();
    for (const g of agents) g.drop();
    return { at };
  },

  async close(): Promise<{ ms: number }> {
    const t0 = wallMs();
    await pool(agents, 500, (g) => g.stop());
    agents = [];
    devices = [];
    return { ms: wallMs() - t0 };
  },
});

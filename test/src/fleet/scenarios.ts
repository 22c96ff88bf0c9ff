/**
 * The fleet scenarios of issue 6, written once and run against each broker the hub can use
 * (the embedded one and Mosquitto): a good release goes canary -> waves -> everyone; a release
 * that is slow on the devices stops at the canary benchmark; a release whose live accuracy
 * falls is halted and its canaries rolled back; the broker goes away for 30 s mid-rollout and
 * no telemetry or feedback is lost; `fleet status` and the metrics match the registry.
 */
import { expect, it } from 'vitest';
import type { Candidate } from '@edgeml/hub';
import { edgeml } from '../helpers/cli.js';
import { waitFor, type TestHub } from '../helpers/fleet.js';
import { feedbackOn, onVersion, predictOn, publishV, type FleetAgent } from './fleet.js';

export interface FleetEnv {
  /** The hub now running (it may be replaced when the broker restarts with it). */
  hub(): TestHub;
  fleet(): FleetAgent[];
  candidate(): Candidate;
  /** Take the broker away, and bring it back on the same address. */
  brokerDown(): Promise<void>;
  brokerUp(): Promise<void>;
  /** `--broker ... --username ... --password ...` for `edgeml fleet status`. */
  fleetStatusArgs(): string[];
  /** Extra context for a delivery failure (a broker log). */
  diagnostics?(): string;
}

const rows = [
  [5.1, 3.5, 1.4, 0.2],
  [6.7, 3.0, 5.2, 2.3],
  [5.9, 3.0, 4.2, 1.5],
];

export function fleetScenarios(env: FleetEnv): void {
  const t = () => env.hub();
  const ids = () => env.fleet().map((a) => a.id);
  const hubFlags = () => ['--hub', t().hub.httpUrl!, '--token', t().hub.adminToken];
  const rolloutState = (id: number) => t().hub.registry.rollouts.get(id)!;
  const until = (id: number, states: string[]) => waitFor(`rollout ${id} in ${states.join('/')}`, () => (states.includes(rolloutState(id).state) ? rolloutState(id) : undefined), 90_000);
    it('takes a good release from the canaries through the waves to every device', async () => {
      const v2 = await publishV(t(), env.candidate(), { stage: true });
      const r = await edgeml(['rollout', 'iris', String(v2.version), '--canary-tags', 'canary', '--waves', '50%,100%', '--soak', '1s', '--max-error-rate', '0.01', '--json', ...hubFlags()]);
      expect(r.stderr).toBe('');
      const rollout = JSON.parse(r.stdout) as { id: number };
      // The canaries first, alone.
      await onVersion(t(), ['fleet-00', 'fleet-01'], v2.version);
      expect(t().hub.registry.listDevices().filter((d) => d.version === v2.version).length).toBeLessThan(10);
      const done = await until(rollout.id, ['completed', 'halted']);
      expect(done.state).toBe('completed');
      await onVersion(t(), ids(), v2.version);
      // The canaries benchmarked it in their own runtime first, and the figures are on record.
      const bench = t().hub.registry.fleet.benchmarks('iris', v2.version);
      expect(bench.map((b) => b.deviceId)).toEqual(['fleet-00', 'fleet-01']);
      expect(bench[0]!.result.p95Ms).toBeGreaterThan(0);
      expect(t().hub.registry.getVersion('iris', v2.version)!.status).toBe('published');
    });

    it('halts a release that is too slow on the devices at the canary benchmark', async () => {
      const before = t().hub.registry.listDevices().map((d) => [d.id, d.version]);
      const v3 = await publishV(t(), env.candidate(), { stage: true });
      const r = await edgeml(['rollout', 'iris', String(v3.version), '--canary', '2', '--bench-p95-ms', '0.000001', '--wait', '--json', ...hubFlags()]);
      expect(r.code).toBe(1);
      const out = JSON.parse(r.stdout) as { state: string; reason: string; devices: { upgraded: string[] } };
      expect(out.state).toBe('halted');
      expect(out.reason).toMatch(/device benchmark: p95 .* is above the budget/);
      expect(out.devices.upgraded).toEqual([]);
      expect(t().hub.registry.listDevices().map((d) => [d.id, d.version])).toEqual(before);
    });

    it('halts a release whose canaries report falling live accuracy, and rolls them back', async () => {
      const current = t().hub.registry.listDevices()[0]!.version!;
      const v4 = await publishV(t(), env.candidate(), { stage: true });
      const rollout = t().hub.rollouts.create('iris', v4.version, { canary: { tags: ['canary'] }, waves: [100], soakMs: 60_000, benchmark: false, gates: { minLiveAccuracy: 0.8, minLabels: 10 } });
      const canaries = env.fleet().slice(0, 2);
      await onVersion(t(), canaries.map((a) => a.id), v4.version);
      // Users tell the canaries their answers are wrong.
      for (let i = 0; i < 12; i++) {
        const a = canaries[i % 2]!;
        const p = await predictOn(a, rows[i % 3]!);
        expect(p.version).toBe(v4.version);
        await feedbackOn(a, p.id, p.label === 'setosa' ? 'virginica' : 'setosa');
      }
      const halted = await until(rollout.id, ['halted', 'completed']);
      expect(halted.state).toBe('halted');
      expect(halted.reason).toMatch(/live accuracy .* below 80\.0%/);
      // The signed rollback directive brings the canaries back; the rest never left.
      await onVersion(t(), ids(), current);
      const p = await predictOn(canaries[0]!, rows[0]!);
      expect(p.version).toBe(current);
    });

    it('loses no telemetry or feedback while the broker is down for 30 s mid-rollout', async () => {
      const current = t().hub.registry.listDevices()[0]!.version!;
      const v5 = await publishV(t(), env.candidate(), { stage: true });
      const rollout = t().hub.rollouts.create('iris', v5.version, { canary: { tags: ['canary'] }, waves: [100], soakMs: 2_000, benchmark: false });
      await onVersion(t(), ['fleet-00', 'fleet-01'], v5.version);
      const totals = () => new Map(t().hub.registry.fleet.telemetryTotals('iris').map((x) => [x.deviceId, x.requests]));
      // Let every agent report what it has, so the counts below start from a settled point.
      await new Promise((r) => setTimeout(r, 1000));
      const base = totals();
      const feedbackBase = t().hub.registry.fleet.counts().feedback;
      const sent = new Map<string, number>();
      let feedback = 0;
      const traffic = async (ms: number) => {
        const end = Date.now() + ms;
        for (let i = 0; Date.now() < end; i++) {
          const a = env.fleet()[i % env.fleet().length]!;
          const p = await predictOn(a, rows[i % 3]!);
          sent.set(a.id, (sent.get(a.id) ?? 0) + 1);
          if (i % 5 === 0) {
            await feedbackOn(a, p.id, p.label);
            feedback++;
          }
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      await traffic(1000);
      await env.brokerDown();
      await traffic(30_000);
      await env.brokerUp();
      await traffic(1000);
      const done = await until(rollout.id, ['completed', 'halted']);
      expect(done.state).toBe('completed');
      await onVersion(t(), ids(), v5.version);
      const want = new Map([...sent].map(([id, n]) => [id, (base.get(id) ?? 0) + n]));
      await waitFor('every record delivered', () => {
        const got = totals();
        return [...want].every(([id, n]) => got.get(id) === n) && t().hub.registry.fleet.counts().feedback === feedbackBase + feedback ? true : undefined;
      }, 30_000).catch(() => {
        throw new Error(`delivered ${JSON.stringify([...totals()])} vs expected ${JSON.stringify([...want])}; feedback ${t().hub.registry.fleet.counts().feedback} vs ${feedbackBase + feedback}\n${env.diagnostics?.() ?? ''}`);
      });
      expect(current).toBeLessThan(v5.version);
    }, 120_000);

    it('shows the same fleet in `edgeml fleet status --json` as the registry holds', async () => {
      await new Promise((r) => setTimeout(r, 800));
      const r = await edgeml(['fleet', 'status', ...env.fleetStatusArgs(), '--json']);
      expect(r.stderr).toBe('');
      const shown = JSON.parse(r.stdout) as { id: string; version: number; state: string; online: boolean; labels: number }[];
      const registry = t().hub.registry.listDevices();
      expect(shown.map((d) => [d.id, d.version, d.state, d.online])).toEqual(registry.map((d) => [d.id, d.version, d.state, d.online]));
      expect(shown.some((d) => d.labels > 0)).toBe(true);
    });

    it('exposes rollouts, devices by version and ingest counts as Prometheus metrics', async () => {
      const text = await (await fetch(`${t().hub.httpUrl}/metrics`)).text();
      expect(text).toMatch(/edgeml_devices\{model="iris",version="\d+",state="active",health="ok",online="true"\} 10/);
      expect(text).toMatch(/edgeml_rollouts\{model="iris",version="\d+",state="completed"\} 1/);
      expect(text).toMatch(/edgeml_rollouts\{model="iris",version="\d+",state="halted"\} 1/);
      expect(text).toMatch(/edgeml_hub_ingested_total\{kind="telemetry"\} \d+/);
    });
}

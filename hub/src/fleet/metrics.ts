import { Gauge, Registry as PromRegistry, collectDefaultMetrics, Counter } from 'prom-client';
import type { Registry } from '../registry/registry.js';

/** Prometheus figures of the hub: rollouts, devices by version and health, ingest counts. */
export function hubMetrics(registry: Registry) {
  const prom = new PromRegistry();
  collectDefaultMetrics({ register: prom });
  const ingested = new Counter({ name: 'edgeml_hub_ingested_total', help: 'Device messages stored, by kind', labelNames: ['kind'], registers: [prom] });
  const duplicates = new Counter({ name: 'edgeml_hub_duplicates_total', help: 'Telemetry and feedback records received again and ignored', labelNames: ['kind'], registers: [prom] });
  const events = new Counter({ name: 'edgeml_hub_events_total', help: 'Hub events (docs/EVENTS.md), by type', labelNames: ['type'], registers: [prom] });
  const rejected = new Counter({ name: 'edgeml_hub_rejected_total', help: 'Device messages dropped as malformed', registers: [prom] });
  // Labelled by device: only authenticated devices publish under their own id, so the label set
  // is bounded by the enrolled fleet.
  const violations = new Counter({
    name: 'edgeml_hub_device_violations_total',
    help: 'Device messages refused by the hub or its broker, by device and reason (docs/SECURITY.md)',
    labelNames: ['device', 'reason'],
    registers: [prom],
  });
  new Gauge({
    name: 'edgeml_devices',
    help: 'Devices by model, version, state and health',
    labelNames: ['model', 'version', 'state', 'health', 'online'],
    registers: [prom],
    collect() {
      this.reset();
      for (const d of registry.listDevices()) {
        this.inc({ model: d.model ?? '', version: String(d.version ?? ''), state: d.state, health: d.health, online: String(d.online) });
      }
    },
  });
  new Gauge({
    name: 'edgeml_rollouts',
    help: 'Rollouts by model, version and state',
    labelNames: ['model', 'version', 'state'],
    registers: [prom],
    collect() {
      this.reset();
      for (const r of registry.rollouts.list()) this.inc({ model: r.model, version: String(r.version), state: r.state });
    },
  });
  new Gauge({
    name: 'edgeml_rollout_wave',
    help: 'Current wave of each active rollout (0 is the canary)',
    labelNames: ['rollout', 'model', 'version'],
    registers: [prom],
    collect() {
      this.reset();
      for (const r of registry.rollouts.active()) this.set({ rollout: String(r.id), model: r.model, version: String(r.version) }, r.wave);
    },
  });
  return {
    ingested: (kind: string, fresh: boolean) => (fresh ? ingested.inc({ kind }) : duplicates.inc({ kind })),
    rejected: () => rejected.inc(),
    event: (type: string) => events.inc({ type }),
    violation: (device: string, reason: string) => violations.inc({ device, reason }),
    render: async () => ({ contentType: prom.contentType, body: await prom.metrics() }),
  };
}

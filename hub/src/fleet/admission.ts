/**
 * What a device may tell the hub. A schema-valid message is still only a claim: before it is
 * stored it is checked against what the hub itself knows about the device and its model (the
 * release the device says it runs, that release's feature count, drift bins and labels, and
 * the model, channel and tags the operator gave the device at enrolment). A message that fails
 * is dropped and counted against the device; it never reaches analysis, rollout gates or
 * retraining.
 */
import type { DeviceStatus, FeedbackRecord, Logger, Telemetry } from '@edgeml/core';
import type { Registry } from '../registry/registry.js';
import type { EnrolmentScope } from '../registry/scope-store.js';

/** Why a device message was refused; the label of the `/metrics` violation counter. */
export type Violation =
  | 'too-large'
  | 'not-json'
  | 'malformed'
  | 'wrong-device'
  | 'unknown-release'
  | 'feature-count'
  | 'histogram-bins'
  | 'unknown-label'
  | 'model-not-enrolled'
  | 'tags-not-enrolled'
  | 'rate-limited'
  | 'retain-refused'
  | 'packet-too-large'
  | 'client-id';

/** What the hub knows of one published version, as far as device reports are concerned. */
interface ReleaseFacts {
  features: number;
  /** Drift histogram size per feature, as the agent bins (edges + 1; 1 without a reference). */
  bins: number[];
  /** Class labels of a classifier; undefined for regression. */
  labels: ReadonlySet<string> | undefined;
}

export type Admitted<T> = { ok: true; value: T } | { ok: false; violation: Violation; detail: string };

const refuse = <T>(violation: Violation, detail: string): Admitted<T> => ({ ok: false, violation, detail });

export interface ViolationSink {
  violation(deviceId: string, reason: Violation): void;
}

/**
 * Counts every violation and logs at most once per device per `quietMs`, so a device sending
 * garbage at full speed cannot flood the log either.
 */
export class ViolationLog {
  private readonly lastLogged = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly log: Logger,
    private readonly sink: ViolationSink,
    private readonly quietMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  report(deviceId: string, violation: Violation, detail: string): void {
    this.sink.violation(deviceId, violation);
    const t = this.now();
    const last = this.lastLogged.get(deviceId);
    if (last && t - last.at < this.quietMs) {
      last.suppressed++;
      return;
    }
    // Bounded: the map holds one entry per device that misbehaved, and ids are enrolled ones.
    this.lastLogged.set(deviceId, { at: t, suppressed: 0 });
    this.log.warn('refused a device message', { deviceId, violation, detail: detail.slice(0, 300), suppressedSinceLastLog: last?.suppressed ?? 0 });
  }
}

export class Admission {
  /** Published versions never change, so what they say is cached for good. */
  private readonly facts = new Map<string, ReleaseFacts | null>();

  constructor(private readonly registry: Registry) {}

  private release(model: string, version: number): ReleaseFacts | undefined {
    const key = `${model}@${version}`;
    let f = this.facts.get(key);
    if (f === undefined) {
      const spec = this.registry.getVersion(model, version)?.envelope.signed;
      f = spec
        ? {
            features: spec.spec.features.length,
            bins: spec.spec.features.map((_, j) => (spec.reference?.edges[j]?.length ?? 0) + 1),
            labels: spec.spec.task === 'classification' ? new Set(spec.spec.labels ?? []) : undefined,
          }
        : null;
      // An unknown version is not cached: it may be published a moment later.
      if (f) this.facts.set(key, f);
    }
    return f ?? undefined;
  }

  private modelClaim(deviceId: string, model: string, scope: EnrolmentScope | undefined): Admitted<never> | undefined {
    if (scope?.model && scope.model !== model) return refuse('model-not-enrolled', `${deviceId} is enrolled for model "${scope.model}", not "${model}"`);
    return undefined;
  }

  telemetry(t: Telemetry, scope: EnrolmentScope | undefined): Admitted<Telemetry> {
    const claim = this.modelClaim(t.deviceId, t.model, scope);
    if (claim) return claim;
    if (t.version === null) {
      // Nothing serving: there is no model to describe inputs of.
      return t.features.length === 0 ? { ok: true, value: t } : refuse('feature-count', 'input statistics without a version');
    }
    const r = this.release(t.model, t.version);
    if (!r) return refuse('unknown-release', `no version ${t.version} of model "${t.model}" in the registry`);
    if (t.features.length !== r.features) return refuse('feature-count', `${t.features.length} feature statistics for a model of ${r.features} features`);
    const bad = t.features.findIndex((f, j) => f.histogram.length !== r.bins[j]);
    if (bad >= 0) return refuse('histogram-bins', `feature ${bad} has ${t.features[bad]!.histogram.length} drift bins, the release has ${r.bins[bad]}`);
    return { ok: true, value: t };
  }

  feedback(f: FeedbackRecord, scope: EnrolmentScope | undefined): Admitted<FeedbackRecord> {
    const claim = this.modelClaim(f.deviceId, f.model, scope);
    if (claim) return claim;
    const r = this.release(f.model, f.version);
    if (!r) return refuse('unknown-release', `no version ${f.version} of model "${f.model}" in the registry`);
    if (f.row.length !== r.features) return refuse('feature-count', `a row of ${f.row.length} values for a model of ${r.features} features`);
    if (r.labels) {
      for (const v of [f.label, f.predicted]) {
        if (typeof v !== 'string' || !r.labels.has(v)) return refuse('unknown-label', `${JSON.stringify(v).slice(0, 80)} is not a class of ${f.model} v${f.version}`);
      }
    } else if (typeof f.label !== 'number' || typeof f.predicted !== 'number') {
      return refuse('unknown-label', 'a regression model takes numeric labels');
    }
    return { ok: true, value: f };
  }

  /**
   * A status is stored with the tags the operator enrolled the device with: a device cannot
   * make itself a canary. Claiming another model than its enrolment refuses the status.
   */
  status(s: DeviceStatus, scope: EnrolmentScope | undefined): Admitted<DeviceStatus> & { claim?: Violation } {
    if (!scope) return { ok: true, value: s };
    if (s.model !== null) {
      const claim = this.modelClaim(s.deviceId, s.model, scope);
      if (claim) return claim;
    }
    const tags = scope.tags;
    if (!tags) return { ok: true, value: s };
    const same = s.tags.length === tags.length && s.tags.every((t) => tags.includes(t));
    const value = { ...s, tags: [...tags] };
    return same ? { ok: true, value } : { ok: true, value, claim: 'tags-not-enrolled' };
  }
}

/**
 * Publishing and rolling back: each decision is one registry transaction (version number,
 * signed envelope, desired state, rollout), then the broker is told. Version numbers are taken
 * inside the transaction, so concurrent publishes get consecutive versions, and a publish whose
 * rollout cannot start leaves no version behind for a retry to trip over.
 */
import { createRequire } from 'node:module';
import { sha256Hex, userError, validName, type Logger, type ReleaseSigner, type SignedRelease } from '@edgeml/core';
import type { DesiredReleases } from '../desired/desired.js';
import type { Lineage } from '../registry/lineage-store.js';
import type { Registry, VersionRecord } from '../registry/registry.js';
import type { Rollout } from '../registry/rollout-store.js';
import type { RolloutController } from '../rollout/controller.js';
import type { ArtifactStore, StoredArtifact } from '../store/artifacts.js';
import type { HubEvents } from '../events/bus.js';
import { createHubFaults, type HubFaults } from './faults.js';
import { DEFAULT_CHUNK_SIZE, buildRelease, signRelease, type ReleaseInput } from './manifest.js';

/**
 * A release to publish. The artifact comes as bytes, or already in the artifact store (the
 * release API decodes it there as the request arrives: release/upload.ts).
 */
export type PublishInput = Omit<ReleaseInput, 'version' | 'artifact'> & { artifact: Uint8Array | StoredArtifact; task: string; metrics?: Record<string, unknown> };

export interface PublishOptions {
  /** Keep it off the channel: a rollout (given here or started later) takes it to devices. */
  stage?: boolean;
  fingerprint?: string;
  /** A rollout plan to start in the same transaction (implies `stage`). */
  rollout?: unknown;
  /** Where the version came from; without it, a hand release naming the version it replaces. */
  lineage?: Omit<Lineage, 'model' | 'version' | 'createdAt'>;
  /** Who asked for it (an API token's public id), recorded in a hand release's lineage. */
  by?: string;
  /** Runs inside the publish transaction, after the version is added (a retraining run records its outcome). */
  inTransaction?: (rec: VersionRecord) => void;
}

export interface PublisherDeps {
  registry: Registry;
  store: ArtifactStore;
  desired: DesiredReleases;
  controller: RolloutController;
  /** The current release signer: a rotated key is picked up without a restart. */
  signer: () => ReleaseSigner;
  log: Logger;
  /** Base URL devices download artifacts from, when not MQTT chunks. */
  artifactBase: () => string | undefined;
  events?: HubEvents;
  /** Kill points for fault injection (default: EDGEML_HUB_FAULT_POINT). */
  faults?: HubFaults;
}

/** Recorded in each version's lineage: the hub package's version (src/ and dist/ sit at the same depth). */
export const EDGEML_VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

const DIRECTIVE_LIFETIME_MS = 365 * 86_400_000;

/** Model and channel names become topic levels: refuse a bad one before anything is stored. */
export function checkNames(model: string, channel: string): void {
  try {
    validName('model', model);
    validName('channel', channel);
  } catch (e) {
    throw userError('bad-name', (e as Error).message);
  }
}

export class Publisher {
  private readonly faults: HubFaults;

  constructor(private readonly d: PublisherDeps) {
    this.faults = d.faults ?? createHubFaults(process.env.EDGEML_HUB_FAULT_POINT, d.log);
  }

  async publish(input: PublishInput, o: PublishOptions = {}): Promise<{ rec: VersionRecord; rollout: Rollout | undefined }> {
    checkNames(input.model, input.channel);
    const { registry } = this.d;
    const base = this.d.artifactBase();
    // Content-addressed, so storing before the transaction is harmless if it rolls back.
    const a = input.artifact;
    const stored = a instanceof Uint8Array ? await this.d.store.put(a) : a;
    const sha = stored.sha256;
    // Hashed from the stored file: what devices will fetch, and no second copy in memory.
    const artifact = { ...stored, chunks: await this.d.store.chunkHashes(sha, input.chunkSize ?? DEFAULT_CHUNK_SIZE) };
    this.faults.reach('publish:after-artifact');
    const stage = o.stage === true || o.rollout !== undefined;
    const { rec, superseded, rollout } = registry.transaction(() => {
      const version = registry.nextVersion(input.model);
      const release = buildRelease({ ...input, artifact, version, ...(base ? { url: `${base.replace(/\/$/, '')}/v1/artifacts/${sha}` } : {}) });
      const envelope: SignedRelease = signRelease(release, this.d.signer());
      const added = registry.addVersion({
        model: release.model,
        version,
        channel: release.channel,
        sha256: release.artifact.sha256,
        sizeBytes: release.artifact.size,
        format: release.artifact.format,
        runtime: release.artifact.runtime,
        metrics: input.metrics ?? release.validation,
        envelope,
        status: stage ? 'staged' : 'published',
        task: input.task,
        ...(o.fingerprint ? { fingerprint: o.fingerprint } : {}),
      });
      // Read before the channel moves: the version this one replaces is its parent.
      const parent = registry.desired.channel(added.model, added.channel)?.version ?? null;
      registry.lineage.addLineage({
        model: added.model,
        version: added.version,
        ...(o.lineage ?? { runId: null, parentVersion: parent, trigger: { reason: 'release', ...(o.by ? { summary: `published over the API by ${o.by}` } : {}) }, baseSha256: null, feedbackSha256: null, config: null, edgemlVersion: EDGEML_VERSION, metrics: added.metrics, gates: [], challenge: null }),
      });
      o.inTransaction?.(added);
      const superseded = stage ? [] : registry.desired.setChannel(added.model, added.channel, 'release', envelope);
      return { rec: added, superseded, rollout: o.rollout !== undefined ? this.d.controller.create(added.model, added.version, o.rollout) : undefined };
    });
    this.faults.reach('publish:after-commit');
    // Stored first; a broker hiccup from here on is repaired by the republish on the next start.
    if (stage) await this.d.desired.ensureChunks(rec);
    else await this.d.desired.publishChannel(rec, 'release', rec.envelope, superseded);
    this.d.log.info('published release', { model: rec.model, version: rec.version, sha256: rec.sha256, staged: stage });
    const to = rollout ? `rollout ${rollout.id}` : stage ? 'staged for a rollout' : `channel ${rec.channel}`;
    this.d.events?.emit({ type: 'release.published', summary: `${rec.model} v${rec.version} published (${to})`, model: rec.model, version: rec.version, data: { channel: rec.channel, sha256: rec.sha256, sizeBytes: rec.sizeBytes, format: rec.format, staged: stage, rollout: rollout?.id ?? null, validation: rec.envelope.signed.validation } });
    return { rec, rollout };
  }

  /** The old release, signed anew as a directive: newer than anything the device runs. */
  rollbackDirective(model: string, version: number): SignedRelease {
    const prev = this.d.registry.getVersion(model, version);
    if (!prev) throw userError('not-found', `no version ${version} of model "${model}"`);
    const now = new Date();
    const signed = { ...prev.envelope.signed, created: now.toISOString(), expires: new Date(now.getTime() + DIRECTIVE_LIFETIME_MS).toISOString(), rollback: true };
    return signRelease(signed, this.d.signer());
  }

  /** Send every device of the model's channel back to `to` (default: the published version before the one desired now). */
  async rollback(model: string, to?: number): Promise<VersionRecord> {
    const { registry } = this.d;
    const versions = registry.listVersions(model);
    if (versions.length === 0) throw userError('not-found', `no model "${model}" in the registry`);
    const channel = (to === undefined ? versions[versions.length - 1] : versions.find((v) => v.version === to))?.channel;
    const current = channel === undefined ? undefined : registry.desired.channel(model, channel)?.version;
    const target = to ?? versions.filter((v) => v.channel === channel && v.version < (current ?? Infinity) && (v.status === 'published' || v.status === 'rolled-back')).pop()?.version;
    const rec = target === undefined ? undefined : registry.getVersion(model, target);
    if (!rec) throw userError('not-found', to === undefined ? `model "${model}" has no earlier published version to go back to` : `no version ${to} of model "${model}"`);
    if (registry.rollouts.active().some((r) => r.model === model && r.channel === rec.channel)) {
      throw userError('rollout-active', `a rollout of ${model} on ${rec.channel} is running: abort it first (edgeml rollout ${model} --abort), which rolls its devices back`);
    }
    const directive = this.rollbackDirective(model, rec.version);
    const superseded = registry.transaction(() => {
      const replaced = registry.desired.setChannel(model, rec.channel, 'rollback', directive);
      for (const v of versions) {
        if (v.channel !== rec.channel) continue;
        if (v.version > rec.version && v.status === 'published') registry.setVersionStatus(model, v.version, 'rolled-back');
        if (v.version === rec.version && v.status !== 'published') registry.setVersionStatus(model, v.version, 'published');
      }
      return replaced;
    });
    this.faults.reach('rollback:after-commit');
    await this.d.desired.publishChannel(rec, 'rollback', directive, superseded);
    this.faults.reach('rollback:after-publish');
    this.d.log.info('rolled back', { model, channel: rec.channel, to: rec.version });
    this.d.events?.emit({ type: 'release.rolled-back', summary: `${model} on ${rec.channel} rolled back to v${rec.version}`, model, version: rec.version, data: { channel: rec.channel, from: current ?? null } });
    return { ...rec, status: 'published' };
  }
}

/**
 * The fleet's desired state, kept and published: every decision (a release, a rollout's
 * assignment to a device, a rollback directive) is stored first, then its signed envelope is
 * retained on the broker with the artifact chunks it needs. On start the hub republishes what
 * is stored, so a device that comes back after the hub restarted gets the directive the
 * operator or a gate chose, not the original envelope of that version.
 */
import { topics, type DesiredKind, type DesiredState, type Logger, type SignedRelease } from '@edgeml/core';
import type { DesiredRecord } from '../registry/desired-store.js';
import type { Registry, VersionRecord } from '../registry/registry.js';
import type { ArtifactStore } from '../store/artifacts.js';

export interface Transport {
  publish(topic: string, payload: string | Buffer, opts: { qos: 0 | 1; retain: boolean }): Promise<void>;
}

export class DesiredReleases {
  /** Artifact chunkings this process retained on the broker (`sha256/chunkSize`), with their chunk counts. */
  private readonly retainedChunks = new Map<string, { sha256: string; chunkSize: number; count: number }>();

  constructor(
    private readonly registry: Registry,
    private readonly store: ArtifactStore,
    private readonly mqtt: Transport,
    private readonly log: Logger,
  ) {}

  /** The whole channel runs `envelope` (of `rec`); per-device entries of the channel end. */
  async setChannel(rec: VersionRecord, kind: DesiredKind, envelope: SignedRelease): Promise<void> {
    await this.publishChannel(rec, kind, envelope, this.registry.desired.setChannel(rec.model, rec.channel, kind, envelope));
  }

  /** Publish a channel decision already stored (in the caller's transaction); `superseded` are the device entries it replaced. */
  async publishChannel(rec: VersionRecord, kind: DesiredKind, envelope: SignedRelease, superseded: readonly string[]): Promise<void> {
    // The artifact the channel leaves goes before the new one comes: the broker holds one
    // artifact at a time, not two (a device still fetching the old one is told of the new
    // release a moment later, and fetches that instead).
    await this.clearUndesiredChunks();
    await this.ensureChunks(rec);
    await this.mqtt.publish(topics.release(rec.model, rec.channel), JSON.stringify(envelope), { qos: 1, retain: true });
    await this.publishSummary({ model: rec.model, channel: rec.channel, deviceId: null, version: rec.version, kind, at: new Date().toISOString() });
    // The channel's decision replaces what single devices were told: their retained topics go.
    for (const id of superseded) {
      await this.mqtt.publish(topics.deviceRelease(rec.model, rec.channel, id), '', { qos: 1, retain: true });
      await this.mqtt.publish(topics.desired(rec.model, rec.channel, id), '', { qos: 1, retain: true });
    }
    await this.clearUndesiredChunks();
  }

  async setDevice(rec: VersionRecord, deviceId: string, kind: DesiredKind, envelope: SignedRelease): Promise<void> {
    this.registry.desired.setDevice(rec.model, rec.channel, deviceId, kind, envelope);
    await this.ensureChunks(rec);
    await this.mqtt.publish(topics.deviceRelease(rec.model, rec.channel, deviceId), JSON.stringify(envelope), { qos: 1, retain: true });
    await this.publishSummary({ model: rec.model, channel: rec.channel, deviceId, version: rec.version, kind, at: new Date().toISOString() });
  }

  /**
   * Chunks are retained: the broker keeps one copy and serves every device from it, so the hub
   * uploads an artifact once however many devices fetch it, and once per wave at most.
   */
  async ensureChunks(rec: Pick<VersionRecord, 'sha256' | 'envelope'>): Promise<void> {
    const { chunkSize } = rec.envelope.signed.artifact;
    const key = `${rec.sha256}/${chunkSize}`;
    if (this.retainedChunks.has(key)) return;
    let n = 0;
    // Each chunk is acknowledged before the next is read into the same buffer: the broker keeps
    // its own copy, and the hub never holds the artifact whole.
    for await (const chunk of this.store.chunks(rec.sha256, chunkSize)) {
      await this.mqtt.publish(topics.artifactChunk(rec.sha256, chunkSize, n++), chunk, { qos: 1, retain: true });
    }
    this.retainedChunks.set(key, { sha256: rec.sha256, chunkSize, count: n });
  }

  /**
   * Drop the retained chunks of artifacts nothing wants any more (no desired entry, no active
   * rollout): the broker holds every retained payload in memory, one artifact per publish.
   */
  async clearUndesiredChunks(): Promise<void> {
    const wanted = this.registry.desired.desiredShas();
    for (const r of this.registry.rollouts.active()) {
      const v = this.registry.getVersion(r.model, r.version);
      if (v) wanted.add(v.sha256);
    }
    for (const [key, { sha256: sha, chunkSize, count: n }] of [...this.retainedChunks]) {
      if (wanted.has(sha)) continue;
      this.retainedChunks.delete(key);
      for (let i = 0; i < n; i++) await this.mqtt.publish(topics.artifactChunk(sha, chunkSize, i), Buffer.alloc(0), { qos: 1, retain: true });
      this.log.info('cleared retained chunks of an artifact no longer desired', { sha256: sha, chunkSize, chunks: n });
    }
  }

  /**
   * On start: publish every stored entry again (an embedded broker forgot its retained
   * messages). A registry from before desired state is seeded from what it had: the newest
   * published version per channel and the devices active rollouts had reached.
   */
  async republish(): Promise<void> {
    if (this.registry.desired.isEmpty()) this.seed();
    for (const d of this.registry.desired.all()) {
      try {
        await this.publishRecord(d);
      } catch (e) {
        // One bad entry (its artifact file gone or corrupt) must not keep the rest from devices.
        this.log.error('cannot republish a desired release; skipped', { model: d.model, channel: d.channel, device: d.deviceId, version: d.version, error: (e as Error).message });
      }
    }
  }

  private seed(): void {
    for (const rec of this.registry.latestPublished()) this.registry.desired.setChannel(rec.model, rec.channel, 'release', rec.envelope);
    for (const r of this.registry.rollouts.active()) {
      const rec = this.registry.getVersion(r.model, r.version);
      if (rec) for (const id of r.devices.upgraded) this.registry.desired.setDevice(r.model, r.channel, id, 'rollout', rec.envelope);
    }
  }

  private async publishRecord(d: DesiredRecord): Promise<void> {
    await this.ensureChunks(d);
    const topic = d.deviceId === null ? topics.release(d.model, d.channel) : topics.deviceRelease(d.model, d.channel, d.deviceId);
    await this.mqtt.publish(topic, JSON.stringify(d.envelope), { qos: 1, retain: true });
    await this.publishSummary({ model: d.model, channel: d.channel, deviceId: d.deviceId, version: d.version, kind: d.kind, at: d.updatedAt });
  }

  private publishSummary(s: DesiredState): Promise<void> {
    return this.mqtt.publish(topics.desired(s.model, s.channel, s.deviceId ?? undefined), JSON.stringify(s), { qos: 1, retain: true });
  }
}

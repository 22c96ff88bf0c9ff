/**
 * One simulated device: the agent's side of the real protocol, without a model runtime.
 *
 * It connects with its own enrolled credentials and a last will, publishes its retained status,
 * subscribes to its release topics, and on a release runs the real verification
 * (`verifyRelease` against the pinned root key), fetches the artifact chunks over MQTT (a
 * sliding window of 8 chunk subscriptions, each chunk checked against its signed hash, the
 * whole file against the signed sha256 and size with `checkArtifactBytes`), and reports the new
 * version active with the real `DeviceStatus` schema. What it leaves out is what makes it
 * light: no disk (the artifact stays in memory), no model loading, no self-test, no probation
 * window, no telemetry, no local API.
 */
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { RefusedError, checkArtifactBytes, sha256Hex, topics, verifyRelease, type DeviceStatus, type Release } from '@edgeml/core';
import { wallMs } from './ipc.js';

export interface SimDevice {
  id: string;
  username: string;
  password: string;
  brokerUrl: string;
}

export interface SimOptions {
  model: string;
  channel: string;
  rootPublicKeyPem: string;
  /**
   * `full`: the statuses the real agent publishes during an update (downloading, verifying,
   * installing, probation twice, active: see agent/src/update/machine.ts); `final`: only active.
   */
  statuses: 'full' | 'final';
  /** Chunk subscriptions in flight, as the agent's transfer (agent/src/update/transfer.ts). */
  window: number;
}

/** When things happened to this device, wall-clock ms (see `wallMs`). */
export interface SimTimes {
  release?: number;
  verified?: number;
  fetched?: number;
  activeSent?: number;
  activeAcked?: number;
}

const CHUNK_STALL_MS = 5000;

export class SimAgent {
  client: MqttClient | undefined;
  readonly times: SimTimes = {};
  refused: string | undefined;
  error: string | undefined;
  disconnected = false;
  private seenVersion = 0;
  private active: { version: number; sha256: string } | null = null;
  private previous: number | null = null;
  private state = 'idle';
  private busy = false;
  private pending: unknown;
  private closing = false;
  private readonly statusTopic: string;
  private readonly releaseTopic: string;
  private readonly ownReleaseTopic: string;
  private readonly commandTopic: string;
  private chunkPrefix: string | undefined;
  private onChunk: ((i: number, payload: Buffer) => void) | undefined;

  constructor(
    readonly device: SimDevice,
    private readonly opts: SimOptions,
  ) {
    this.statusTopic = topics.status(device.id);
    this.releaseTopic = topics.release(opts.model, opts.channel);
    this.ownReleaseTopic = topics.deviceRelease(opts.model, opts.channel, device.id);
    this.commandTopic = topics.command(device.id);
  }

  private status(online = true): DeviceStatus {
    return {
      deviceId: this.device.id,
      online,
      state: online ? this.state : 'offline',
      model: this.opts.model,
      version: this.active?.version ?? null,
      sha256: this.active?.sha256 ?? null,
      previousVersion: this.previous,
      health: this.active ? 'ok' : 'unknown',
      lastError: this.refused ?? this.error ?? null,
      failedVersion: null,
      tags: [],
      p95Ms: null,
      requests: 0,
      updatedAt: new Date().toISOString(),
    };
  }

  private publishStatus(onAck?: () => void): void {
    const c = this.client;
    if (!c?.connected) return;
    c.publish(this.statusTopic, JSON.stringify(this.status()), { qos: 1, retain: true }, (err) => {
      if (err) this.error ??= `status publish failed: ${err.message}`;
      else onAck?.();
    });
  }

  /** Connect, publish the retained status, subscribe; resolves once the broker acknowledged both. */
  start(connectTimeoutMs: number): Promise<void> {
    const d = this.device;
    const options: IClientOptions = {
      clientId: d.username,
      username: d.username,
      password: d.password,
      // One connection per device for the whole run: a reconnect would blur the figures.
      reconnectPeriod: 0,
      connectTimeout: connectTimeoutMs,
      will: { topic: this.statusTopic, payload: Buffer.from(JSON.stringify(this.status(false))), qos: 1, retain: true },
    };
    return new Promise<void>((resolve, reject) => {
      const client = connect(d.brokerUrl, options);
      this.client = client;
      let settled = false;
      const fail = (e: Error) => {
        if (settled) return;
        settled = true;
        client.end(true);
        reject(e);
      };
      client.on('error', (e) => fail(e));
      client.on('close', () => {
        if (!settled) fail(new Error('connection closed before the device was ready'));
        else if (!this.closing) this.disconnected = true;
      });
      client.on('message', (topic, payload) => this.onMessage(topic, payload));
      client.once('connect', () => {
        let acks = 0;
        const ready = () => {
          if (++acks < 2 || settled) return;
          settled = true;
          resolve();
        };
        client.publish(this.statusTopic, JSON.stringify(this.status()), { qos: 1, retain: true }, (err) => (err ? fail(err) : ready()));
        client.subscribe([this.releaseTopic, this.ownReleaseTopic, this.commandTopic], { qos: 1 }, (err, granted) => {
          if (err) return fail(err);
          const refused = granted?.find((g) => g.qos === 128);
          if (refused) return fail(new Error(`subscription to ${refused.topic} refused`));
          ready();
        });
      });
    });
  }

  private onMessage(topic: string, payload: Buffer): void {
    if (topic === this.releaseTopic || topic === this.ownReleaseTopic) {
      this.times.release ??= wallMs();
      let json: unknown;
      try {
        json = JSON.parse(payload.toString('utf8'));
      } catch {
        this.refused = 'malformed: not JSON';
        return;
      }
      // One update at a time; the newest release that arrives meanwhile waits.
      if (this.busy) this.pending = json;
      else this.startUpdate(json);
      return;
    }
    if (this.chunkPrefix && topic.startsWith(this.chunkPrefix)) {
      this.onChunk?.(Number(topic.slice(this.chunkPrefix.length)), payload);
      return;
    }
    if (topic === this.commandTopic) {
      const cmd = JSON.parse(payload.toString('utf8')) as { type?: string };
      if (cmd.type === 'resend-status') this.publishStatus();
    }
  }

  /** A simulated device that cannot update is a failed measurement, not a silent one. */
  private startUpdate(input: unknown): void {
    this.update(input).catch((e: unknown) => {
      process.stderr.write(`simulated update failed: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    });
  }

  private async update(input: unknown): Promise<void> {
    this.busy = true;
    try {
      let release: Release;
      try {
        ({ release } = verifyRelease(input, {
          rootPublicKeyPem: this.opts.rootPublicKeyPem,
          now: new Date(),
          seenVersion: this.seenVersion,
          model: this.opts.model,
          channel: this.opts.channel,
        }));
      } catch (e) {
        if (!(e instanceof RefusedError)) throw e;
        const v = (input as { signed?: { version?: unknown } })?.signed?.version;
        // The release this device runs, delivered again (both release topics): not news.
        if (e.reason === 'rollback' && v === this.active?.version) return;
        this.refused = e.message;
        this.publishStatus();
        return;
      }
      this.times.verified = wallMs();
      this.seenVersion = Math.max(this.seenVersion, release.version);
      const steps = this.opts.statuses === 'full';
      this.state = 'downloading';
      if (steps) this.publishStatus();
      const bytes = await this.fetch(release.artifact);
      this.state = 'verifying';
      if (steps) this.publishStatus();
      checkArtifactBytes(bytes, release.artifact);
      this.times.fetched = wallMs();
      // installing and probation: the real agent writes a slot, loads the model, runs the
      // self-test and hot-swaps; the simulated device only reports the steps.
      this.state = 'installing';
      if (steps) this.publishStatus();
      this.state = 'probation';
      if (steps) {
        this.publishStatus();
        this.publishStatus();
      }
      this.previous = this.active?.version ?? null;
      this.active = { version: release.version, sha256: release.artifact.sha256 };
      this.state = 'active';
      this.times.activeSent = wallMs();
      this.publishStatus(() => (this.times.activeAcked = wallMs()));
    } catch (e) {
      this.error = e instanceof Error ? e.message : String(e);
      this.state = 'failed';
      this.publishStatus();
    } finally {
      this.busy = false;
      const next = this.pending;
      this.pending = undefined;
      if (next !== undefined) this.startUpdate(next);
    }
  }

  /** The agent's chunk transfer, in memory: a sliding window of subscriptions to retained chunks. */
  private fetch(artifact: Release['artifact']): Promise<Uint8Array> {
    const client = this.client!;
    const total = artifact.chunks.length;
    const window = this.opts.window;
    const parts: Buffer[] = new Array<Buffer>(total);
    const subscribed = new Set<number>();
    let next = 0;
    let have = 0;
    let last = Date.now();
    this.chunkPrefix = topics.artifactChunks(artifact.sha256, artifact.chunkSize).slice(0, -1);
    const request = (i: number) => {
      if (i >= total || subscribed.has(i) || parts[i]) return;
      subscribed.add(i);
      client.subscribe(topics.artifactChunk(artifact.sha256, artifact.chunkSize, i), { qos: 1 });
    };
    const release = (i: number) => {
      if (!subscribed.delete(i)) return;
      client.unsubscribe(topics.artifactChunk(artifact.sha256, artifact.chunkSize, i));
    };
    return new Promise<Uint8Array>((resolve, reject) => {
      const stall = setInterval(() => {
        if (Date.now() - last < CHUNK_STALL_MS) return;
        last = Date.now();
        // Retained chunks come again on a fresh subscription.
        for (const i of [...subscribed]) release(i);
        for (let i = next; i < next + window; i++) request(i);
      }, 1000);
      const finish = (e?: Error) => {
        clearInterval(stall);
        this.onChunk = undefined;
        this.chunkPrefix = undefined;
        for (const i of [...subscribed]) release(i);
        if (e) reject(e);
        else resolve(total === 1 ? parts[0]! : Buffer.concat(parts));
      };
      this.onChunk = (i, payload) => {
        if (!Number.isInteger(i) || i < next || i >= total || parts[i]) return;
        if (payload.length > artifact.chunkSize) {
          return finish(new RefusedError('size-mismatch', `chunk ${i} is ${payload.length} bytes, above the signed chunk size ${artifact.chunkSize}`));
        }
        if (sha256Hex(payload) !== artifact.chunks[i]) {
          // The signed hash decides: ask for the chunk again.
          release(i);
          request(i);
          return;
        }
        parts[i] = payload;
        have++;
        last = Date.now();
        release(i);
        while (parts[next]) next++;
        for (let j = next; j < next + window; j++) request(j);
        if (have === total) finish();
      };
      for (let i = 0; i < window; i++) request(i);
    });
  }

  /** Drop the connection without DISCONNECT, as a device losing its network: the broker publishes the last will. */
  drop(): void {
    this.closing = true;
    this.client?.end(true);
  }

  /**
   * Disconnect cleanly: DISCONNECT, so the broker drops the last will. (A forced end closes the
   * socket without it and every will fires: ten thousand at once took the hub down, see
   * docs/BENCHMARKS.md.)
   */
  async stop(): Promise<void> {
    const c = this.client;
    // Already dropped (or stopping): nothing left to close.
    if (!c || this.closing) return;
    this.closing = true;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => c.end(true, {}, () => resolve()), 10_000);
      c.end(false, {}, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

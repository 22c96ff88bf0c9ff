/**
 * The hub: registry, artifact store, signing keys, an MQTT client (to its embedded broker or an
 * external one), the release publisher and the device-status ingest.
 */
import { access, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import {
  DeviceStatusSchema,
  createLogger,
  describeZodError,
  deviceIdOfTopic,
  generateKeyDir,
  loadReleaseSigner,
  topics,
  type Logger,
  type ReleaseSigner,
  type SignedRelease,
} from '@edgeml/core';
import { startEmbeddedBroker, type EmbeddedBroker } from './broker/embedded.js';
import { buildRelease, signRelease, type ReleaseInput } from './release/manifest.js';
import { Registry, type VersionRecord } from './registry/registry.js';
import { ArtifactStore } from './store/artifacts.js';

export interface HubOptions {
  dataDir: string;
  /** Port for the embedded broker (0 picks a free one). Ignored with `brokerUrl`. */
  mqttPort?: number;
  mqttHost?: string;
  /** Use this external broker instead of starting the embedded one. */
  brokerUrl?: string;
  brokerUsername?: string;
  brokerPassword?: string;
  /** Directory of signing keys; default `<dataDir>/keys`, generated on first start. */
  keysDir?: string;
  log?: Logger;
}

export interface Hub {
  readonly brokerUrl: string;
  readonly registry: Registry;
  readonly store: ArtifactStore;
  readonly keysDir: string;
  readonly rootPublicKeyPem: string;
  publish(input: Omit<ReleaseInput, 'version'> & { task: string; metrics?: Record<string, unknown> }): Promise<VersionRecord>;
  close(): Promise<void>;
}

const exists = (p: string) => access(p).then(() => true, () => false);

async function loadOrCreateKeys(dir: string, log: Logger): Promise<ReleaseSigner> {
  if (await exists(join(dir, 'release.key'))) return loadReleaseSigner(dir);
  log.info('generating signing keys', { dir });
  return generateKeyDir(dir);
}

export async function startHub(opts: HubOptions): Promise<Hub> {
  const log = opts.log ?? createLogger({ name: 'hub' });
  await mkdir(opts.dataDir, { recursive: true });
  const keysDir = opts.keysDir ?? join(opts.dataDir, 'keys');
  const signer = await loadOrCreateKeys(keysDir, log);
  const registry = new Registry(join(opts.dataDir, 'registry.sqlite'));
  const store = new ArtifactStore(join(opts.dataDir, 'artifacts'));
  let broker: EmbeddedBroker | undefined;
  let client: MqttClient | undefined;
  try {
    if (!opts.brokerUrl) broker = await startEmbeddedBroker({ port: opts.mqttPort ?? 1883, log, ...(opts.mqttHost ? { host: opts.mqttHost } : {}) });
    const brokerUrl = opts.brokerUrl ?? broker!.url;
    client = await connectAsync(brokerUrl, {
      clientId: `edgeml-hub-${process.pid}-${Date.now()}`,
      reconnectPeriod: 1000,
      ...(opts.brokerUsername ? { username: opts.brokerUsername, password: opts.brokerPassword } : {}),
    });
    const mqtt = client;

    mqtt.on('message', (topic, payload) => {
      const deviceId = deviceIdOfTopic(topic);
      if (!deviceId || !topic.endsWith('/status')) return;
      if (payload.length === 0) return; // a cleared retained status
      let json: unknown;
      try {
        json = JSON.parse(payload.toString('utf8'));
      } catch {
        log.warn('ignoring a status that is not JSON', { topic });
        return;
      }
      const parsed = DeviceStatusSchema.safeParse(json);
      if (!parsed.success || parsed.data.deviceId !== deviceId) {
        log.warn('ignoring a malformed status', { topic, error: parsed.success ? 'device id does not match the topic' : describeZodError(parsed.error) });
        return;
      }
      registry.upsertDevice(parsed.data);
    });
    await mqtt.subscribeAsync(topics.allStatuses(), { qos: 1 });

    const publishVersion = async (rec: VersionRecord): Promise<void> => {
      const bytes = await store.get(rec.sha256);
      const { chunkSize } = rec.envelope.signed.artifact;
      // Chunks are retained: the broker keeps one copy and serves every device from it, so the
      // hub uploads an artifact once however many devices fetch it (see docs/PROTOCOL.md).
      for (let i = 0, off = 0; off < bytes.length; i++, off += chunkSize) {
        await mqtt.publishAsync(topics.artifactChunk(rec.sha256, i), Buffer.from(bytes.subarray(off, off + chunkSize)), { qos: 1, retain: true });
      }
      await mqtt.publishAsync(topics.release(rec.model, rec.channel), JSON.stringify(rec.envelope), { qos: 1, retain: true });
    };

    // An embedded broker forgets retained messages on restart: publish what is live again.
    for (const rec of registry.latestPublished()) await publishVersion(rec);

    return {
      brokerUrl,
      registry,
      store,
      keysDir,
      rootPublicKeyPem: signer.rootPublicKeyPem,
      async publish(input) {
        const version = registry.nextVersion(input.model);
        const release = buildRelease({ ...input, version });
        const envelope: SignedRelease = signRelease(release, signer);
        await store.put(input.artifact);
        const rec = registry.addVersion({
          model: release.model,
          version,
          channel: release.channel,
          sha256: release.artifact.sha256,
          sizeBytes: release.artifact.size,
          format: release.artifact.format,
          runtime: release.artifact.runtime,
          metrics: input.metrics ?? release.validation,
          envelope,
          status: 'published',
          task: input.task,
        });
        await publishVersion(rec);
        log.info('published release', { model: rec.model, version, sha256: rec.sha256 });
        return rec;
      },
      async close() {
        await mqtt.endAsync();
        await broker?.close();
        registry.close();
      },
    };
  } catch (e) {
    await client?.endAsync(true);
    await broker?.close();
    registry.close();
    throw e;
  }
}

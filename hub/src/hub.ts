/**
 * The hub: registry, artifact store, signing keys, an MQTT client (to its embedded broker or an
 * external one), the release publisher, the device-status ingest and the enrolment API.
 */
import { access, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { createLogger, generateKeyDir, loadReleaseSigner, topics, type Logger, type ReleaseSigner, type SignedRelease } from '@edgeml/core';
import { startEmbeddedBroker, type EmbeddedBroker } from './broker/embedded.js';
import { ingestStatus } from './fleet/ingest.js';
import { buildRelease, signRelease, type ReleaseInput } from './release/manifest.js';
import { Registry, type VersionRecord } from './registry/registry.js';
import type { Identity } from './security/acl.js';
import { checkSecret, hashSecret, newSecret, sameSecret, tokenHash } from './security/credentials.js';
import { startHubApi, type EnrollResponse } from './security/http.js';
import { HUB_USER, OPERATOR_USER, loadOrCreateSecrets } from './security/secrets.js';
import { ArtifactStore } from './store/artifacts.js';

export interface HubOptions {
  dataDir: string;
  /** Port for the embedded broker (0 picks a free one). Ignored with `brokerUrl`. */
  mqttPort?: number;
  mqttHost?: string;
  /** Serve the embedded broker over TLS with this PEM certificate and key. */
  tls?: { cert: string; key: string };
  /** Use this external broker instead of starting the embedded one. */
  brokerUrl?: string;
  brokerUsername?: string;
  brokerPassword?: string;
  /** CA certificate (PEM) to trust for an mqtts:// broker. */
  brokerCa?: string;
  /** The broker URL devices are told at enrolment (default: the one the hub uses). */
  publicBrokerUrl?: string;
  /** HTTP API (enrolment); 0 picks a free port, undefined starts none. */
  httpPort?: number;
  httpHost?: string;
  /** Directory of signing keys; default `<dataDir>/keys`, generated on first start. */
  keysDir?: string;
  log?: Logger;
}

export interface Hub {
  readonly brokerUrl: string;
  readonly httpUrl: string | undefined;
  readonly registry: Registry;
  readonly store: ArtifactStore;
  readonly keysDir: string;
  readonly rootPublicKeyPem: string;
  /** Read-only MQTT credentials for operators (`edgeml fleet status`). */
  readonly operator: { username: string; password: string };
  /** The hub's own MQTT credentials, for tools that publish as the hub. */
  readonly hubCredentials: { username: string; password: string };
  publish(input: Omit<ReleaseInput, 'version'> & { task: string; metrics?: Record<string, unknown> }): Promise<VersionRecord>;
  /** A one-time enrolment token for one device. */
  createEnrollToken(ttlMs?: number): string;
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
  const secrets = await loadOrCreateSecrets(opts.dataDir);
  const registry = new Registry(join(opts.dataDir, 'registry.sqlite'));
  const store = new ArtifactStore(join(opts.dataDir, 'artifacts'));

  const authenticate = (username: string, password: string): Identity | undefined => {
    if (username === HUB_USER) return sameSecret(password, secrets.hub) ? { role: 'hub' } : undefined;
    if (username === OPERATOR_USER) return sameSecret(password, secrets.operator) ? { role: 'operator' } : undefined;
    const hash = registry.deviceSecretHash(username);
    return hash && checkSecret(password, hash) ? { role: 'device', deviceId: username } : undefined;
  };

  let broker: EmbeddedBroker | undefined;
  let client: MqttClient | undefined;
  let api: { url: string; close(): Promise<void> } | undefined;
  try {
    if (!opts.brokerUrl) {
      broker = await startEmbeddedBroker({ port: opts.mqttPort ?? 1883, log, authenticate, ...(opts.mqttHost ? { host: opts.mqttHost } : {}), ...(opts.tls ? { tls: opts.tls } : {}) });
    }
    const brokerUrl = opts.brokerUrl ?? broker!.url;
    client = await connectAsync(brokerUrl, {
      clientId: `edgeml-hub-${process.pid}-${Date.now()}`,
      reconnectPeriod: 1000,
      username: opts.brokerUrl ? opts.brokerUsername : HUB_USER,
      password: opts.brokerUrl ? opts.brokerPassword : secrets.hub,
      ...(opts.brokerCa ? { ca: opts.brokerCa } : {}),
      ...(opts.tls && !opts.brokerUrl ? { ca: opts.tls.cert } : {}),
    });
    const mqtt = client;
    mqtt.on('message', (topic, payload) => ingestStatus(registry, log, topic, payload));
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

    const publicBrokerUrl = opts.publicBrokerUrl ?? brokerUrl;
    if (opts.httpPort !== undefined) {
      api = await startHubApi({
        host: opts.httpHost ?? '127.0.0.1',
        port: opts.httpPort,
        log,
        enroll: (req) => {
          const password = newSecret();
          const outcome = registry.enrollDevice(tokenHash(req.token), req.deviceId, hashSecret(password), new Date());
          if (outcome === 'bad-token') return { status: 403, error: 'the enrolment token is unknown, used or expired' };
          if (outcome === 'device-exists') return { status: 409, error: `device "${req.deviceId}" is already enrolled` };
          log.info('device enrolled', { deviceId: req.deviceId });
          const res: EnrollResponse = { deviceId: req.deviceId, username: req.deviceId, password, brokerUrl: publicBrokerUrl, rootKey: signer.rootPublicKeyPem };
          return res;
        },
      });
      log.info('hub API listening', { url: api.url });
    }

    return {
      brokerUrl,
      httpUrl: api?.url,
      registry,
      store,
      keysDir,
      rootPublicKeyPem: signer.rootPublicKeyPem,
      operator: { username: OPERATOR_USER, password: secrets.operator },
      hubCredentials: { username: HUB_USER, password: secrets.hub },
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
      createEnrollToken(ttlMs = 3_600_000) {
        const token = newSecret(32);
        registry.addEnrollToken(tokenHash(token), new Date(Date.now() + ttlMs));
        return token;
      },
      async close() {
        await api?.close();
        await mqtt.endAsync();
        await broker?.close();
        registry.close();
      },
    };
  } catch (e) {
    await api?.close();
    await client?.endAsync(true);
    await broker?.close();
    registry.close();
    throw e;
  }
}

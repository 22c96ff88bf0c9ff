/**
 * The hub: registry, artifact store, signing keys, an MQTT client (to its embedded broker or an
 * external one), the release publisher, the device-status ingest and the enrolment API.
 */
import { access, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, type MqttClient } from 'mqtt';
import { createLogger, sha256Hex, userError, generateKeyDir, loadReleaseSigner, topics, type Logger, type ReleaseSigner, type SignedRelease } from '@edgeml/core';
import { hubRoutes } from './api/routes.js';
import { startEmbeddedBroker, type EmbeddedBroker } from './broker/embedded.js';
import type { BrokerLimits } from './broker/limits.js';
import { AnalysisPublisher, analyseDevice } from './fleet/analytics.js';
import { ViolationLog } from './fleet/admission.js';
import { DeviceIngest, StatusWriter } from './fleet/ingest.js';
import { hubMetrics } from './fleet/metrics.js';
import { RolloutController } from './rollout/controller.js';
import { buildRelease, signRelease, type ReleaseInput } from './release/manifest.js';
import { Registry, type VersionRecord } from './registry/registry.js';
import type { EnrolmentScope } from './registry/scope-store.js';
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
  /**
   * Base URL devices download artifacts from (`<base>/v1/artifacts/<sha256>`, served by this
   * hub's API or mirrored to any HTTP server or object store); `self` is this hub's API URL.
   * Unset: MQTT chunks.
   */
  artifactBaseUrl?: string;
  /** Size and rate limits of the embedded broker (docs/SECURITY.md); defaults in broker/limits.ts. */
  brokerLimits?: Partial<BrokerLimits>;
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
  /** Sign and publish the next version: to the whole channel, or staged for a rollout. */
  publish(input: PublishInput, opts?: { stage?: boolean; fingerprint?: string }): Promise<VersionRecord>;
  /** Send every device of the model back to `to` (default: the version before the newest) with a signed directive. */
  rollback(model: string, to?: number): Promise<VersionRecord>;
  readonly rollouts: RolloutController;
  /** Bearer token for the HTTP API's release and rollout routes. */
  readonly adminToken: string;
  /** A one-time enrolment token for one device. */
  createEnrollToken(ttlMs?: number, scope?: EnrolmentScope): string;
  close(): Promise<void>;
}

export type PublishInput = Omit<ReleaseInput, 'version'> & { task: string; metrics?: Record<string, unknown> };

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

  const metrics = hubMetrics(registry);
  // Everything a device is refused, by the broker or by ingest, is counted and logged in one place.
  const violations = new ViolationLog(log, metrics);
  let broker: EmbeddedBroker | undefined;
  let client: MqttClient | undefined;
  let api: { url: string; close(): Promise<void> } | undefined;
  try {
    if (!opts.brokerUrl) {
      broker = await startEmbeddedBroker({ port: opts.mqttPort ?? 1883, log, authenticate, onViolation: (id, v, detail) => violations.report(id, v, detail), ...(opts.brokerLimits ? { limits: opts.brokerLimits } : {}), ...(opts.mqttHost ? { host: opts.mqttHost } : {}), ...(opts.tls ? { tls: opts.tls } : {}) });
    }
    const brokerUrl = opts.brokerUrl ?? broker!.url;
    // An external broker outlives the hub: under a fixed client id with a persistent session it
    // keeps the hub's subscriptions and queues what devices send while the hub (or, with
    // persistence, the broker) restarts, so no telemetry or feedback is acknowledged into the void.
    const external = Boolean(opts.brokerUrl);
    client = connect(brokerUrl, {
      // The embedded broker takes `<user>:<anything>` as a second connection of one identity (acl.ts).
      clientId: external ? HUB_USER : `${HUB_USER}:${process.pid}-${Date.now()}`,
      clean: !external,
      reconnectPeriod: 1000,
      // After start-up, a refused CONNACK (say, a broker restarted before its password file was
      // readable) is retried like any other lost connection; at start-up it fails the start.
      reconnectOnConnackError: true,
      username: opts.brokerUrl ? opts.brokerUsername : HUB_USER,
      password: opts.brokerUrl ? opts.brokerPassword : secrets.hub,
      ...(opts.brokerCa ? { ca: opts.brokerCa } : {}),
      ...(opts.tls && !opts.brokerUrl ? { ca: opts.tls.cert } : {}),
    });
    const mqtt = client;
    const analysis = new AnalysisPublisher(registry, (a) => mqtt.publishAsync(topics.fleetDevice(a.deviceId), JSON.stringify(a), { qos: 1, retain: true }).then(() => undefined), 500, log);
    // Listen before the CONNACK: a resumed session's queued messages follow it at once.
    const statuses = new StatusWriter(registry, 20, log);
    const devices = new DeviceIngest(registry, violations, statuses);
    mqtt.on('message', (topic, payload) => {
      try {
        const got = devices.handle(topic, payload);
        if (!got) return metrics.rejected();
        metrics.ingested(got.kind, got.fresh);
        if (got.kind !== 'result') analysis.touch(got.deviceId);
      } catch (e) {
        // A storage error on one message must not take the hub down.
        log.error('ingest failed', { topic, error: (e as Error).message });
      }
    });
    await new Promise<void>((resolve, reject) => {
      const settle = (err?: Error) => {
        mqtt.off('connect', onConnect);
        mqtt.off('error', settle);
        if (err) reject(err);
        else resolve();
      };
      const onConnect = () => settle();
      mqtt.once('connect', onConnect);
      mqtt.once('error', settle);
    });
    await mqtt.subscribeAsync([topics.allStatuses(), topics.allTelemetry(), topics.allFeedback(), topics.allCommandResults()], { qos: 1 });
    broker?.open();

    const publishVersion = async (rec: VersionRecord): Promise<void> => {
      // Chunks are retained: the broker keeps one copy and serves every device from it, so the
      // hub uploads an artifact once however many devices fetch it (see docs/PROTOCOL.md).
      await publishChunks(rec);
      await mqtt.publishAsync(topics.release(rec.model, rec.channel), JSON.stringify(rec.envelope), { qos: 1, retain: true });
    };
    const publishChunks = async (rec: VersionRecord): Promise<void> => {
      const bytes = await store.get(rec.sha256);
      const { chunkSize } = rec.envelope.signed.artifact;
      for (let i = 0, off = 0; off < bytes.length; i++, off += chunkSize) {
        await mqtt.publishAsync(topics.artifactChunk(rec.sha256, i), Buffer.from(bytes.subarray(off, off + chunkSize)), { qos: 1, retain: true });
      }
    };
    const rollbackDirective = (model: string, version: number): SignedRelease => {
      const prev = registry.getVersion(model, version);
      if (!prev) throw new Error(`no version ${version} of ${model}`);
      const now = new Date();
      // The old release, signed anew as a directive: newer than anything the device runs.
      const signed = { ...prev.envelope.signed, created: now.toISOString(), expires: new Date(now.getTime() + 365 * 86_400_000).toISOString(), rollback: true };
      return signRelease(signed, signer);
    };
    const controller = new RolloutController({
      registry,
      log,
      publishToDevice: async (rec, deviceId, envelope) => {
        await publishChunks(rec);
        await mqtt.publishAsync(topics.deviceRelease(rec.model, rec.channel, deviceId), JSON.stringify(envelope), { qos: 1, retain: true });
      },
      completeOnChannel: async (rec) => publishVersion(rec),
      sendBenchmark: async (deviceId, requestId, envelope) => {
        await mqtt.publishAsync(topics.command(deviceId), JSON.stringify({ type: 'benchmark', requestId, envelope }), { qos: 1 });
      },
      rollbackDirective,
    });

    // An embedded broker forgets retained messages on restart: publish what is live again.
    for (const rec of registry.latestPublished()) await publishVersion(rec);
    await controller.republish();
    controller.start();

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
          const scope = registry.scopes.of(req.deviceId);
          const res: EnrollResponse = { deviceId: req.deviceId, username: req.deviceId, password, brokerUrl: publicBrokerUrl, rootKey: signer.rootPublicKeyPem, ...(scope ? { scope } : {}) };
          return res;
        },
        handle: hubRoutes({
          registry,
          controller,
          adminToken: secrets.admin,
          publish: (input, o) => hub.publish(input, o),
          rollback: (model, to) => hub.rollback(model, to),
          fleet: () => registry.listDevices().map((d) => ({ ...d, analysis: analyseDevice(registry, d.id) })),
          metrics: () => metrics.render(),
          artifactPath: async (sha) => ((await store.has(sha)) ? store.pathOf(sha) : undefined),
        }),
      });
      log.info('hub API listening', { url: api.url });
    }

    const hub: Hub = {
      brokerUrl,
      get httpUrl() {
        return api?.url;
      },
      registry,
      store,
      keysDir,
      rootPublicKeyPem: signer.rootPublicKeyPem,
      operator: { username: OPERATOR_USER, password: secrets.operator },
      hubCredentials: { username: HUB_USER, password: secrets.hub },
      rollouts: controller,
      adminToken: secrets.admin,
      async rollback(model, to) {
        const published = registry.listVersions(model).filter((v) => v.status === 'published');
        const target = to ?? published[published.length - 2]?.version;
        const rec = target === undefined ? undefined : registry.getVersion(model, target);
        if (!rec) throw userError('not-found', to === undefined ? `model "${model}" has no earlier published version to go back to` : `no version ${to} of model "${model}"`);
        const directive = rollbackDirective(model, rec.version);
        await publishChunks(rec);
        await mqtt.publishAsync(topics.release(model, rec.channel), JSON.stringify(directive), { qos: 1, retain: true });
        for (const v of registry.listVersions(model)) if (v.version > rec.version && v.status === 'published') registry.setVersionStatus(model, v.version, 'rolled-back');
        log.info('rolled back', { model, to: rec.version });
        return rec;
      },
      async publish(input, o = {}) {
        const version = registry.nextVersion(input.model);
        const sha = sha256Hex(input.artifact);
        const base = opts.artifactBaseUrl === 'self' ? api?.url : opts.artifactBaseUrl;
        const release = buildRelease({ ...input, version, ...(base ? { url: `${base.replace(/\/$/, '')}/v1/artifacts/${sha}` } : {}) });
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
          status: o.stage ? 'staged' : 'published',
          task: input.task,
          ...(o.fingerprint ? { fingerprint: o.fingerprint } : {}),
        });
        if (o.stage) await publishChunks(rec);
        else await publishVersion(rec);
        log.info('published release', { model: rec.model, version, sha256: rec.sha256 });
        return rec;
      },
      createEnrollToken(ttlMs = 3_600_000, scope) {
        const token = newSecret(32);
        registry.addEnrollToken(tokenHash(token), new Date(Date.now() + ttlMs), scope);
        return token;
      },
      async close() {
        await controller.stop();
        analysis.stop();
        await api?.close();
        await mqtt.endAsync();
        await broker?.close();
        statuses.flush();
        registry.close();
      },
    };
    return hub;
  } catch (e) {
    await api?.close();
    await client?.endAsync(true);
    await broker?.close();
    registry.close();
    throw e;
  }
}

/**
 * The hub: registry, artifact store, signing keys, an MQTT client (to its embedded broker or an
 * external one), the release publisher, the device-status ingest and the enrolment API.
 */
import { access } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { connect, type MqttClient } from 'mqtt';
import { convergence, createLogger, generateKeyDir, joinEnrollToken, loadReleaseSigner, rootFingerprint, topics, writeFileAtomic, type Logger, type ReleaseSigner } from '@edgeml/core';
import { hubRoutes } from './api/routes.js';
import { startEmbeddedBroker, type EmbeddedBroker } from './broker/embedded.js';
import type { BrokerLimits } from './broker/limits.js';
import { AnalysisPublisher, analyseDevice, type DeviceAnalysis } from './fleet/analytics.js';
import { ViolationLog } from './fleet/admission.js';
import { DeviceIngest, StatusWriter } from './fleet/ingest.js';
import { hubMetrics } from './fleet/metrics.js';
import { PresenceTracker } from './fleet/presence.js';
import { DesiredReleases } from './desired/desired.js';
import type { AlarmLimits } from './events/alarms.js';
import { startEventDelivery } from './events/delivery.js';
import { HubEvents } from './events/bus.js';
import { RolloutController } from './rollout/controller.js';
import { loadRetrainTargets } from './retrain/load.js';
import { Retrainer } from './retrain/retrainer.js';
import { retrainRoutes } from './retrain/routes.js';
import { Publisher, type PublishInput, type PublishOptions } from './release/publisher.js';
import { Registry, type VersionRecord } from './registry/registry.js';
import type { EnrolmentScope } from './registry/scope-store.js';
import type { Identity } from './security/acl.js';
import { actionsOf, authorizeRequest, tokenKind } from './security/api-auth.js';
import { chainRoutes, deviceRoutes } from './security/device-routes.js';
import { LiveSigner } from './security/signer.js';
import { checkSecret, newSecret, sameSecret, tokenHash } from './security/credentials.js';
import { lockRegistryFiles, makeDataDir } from './security/data-dir.js';
import { enrollHandler } from './security/enroll.js';
import { startHubApi } from './security/http.js';
import { HUB_USER, OPERATOR_USER, loadOrCreateSecrets } from './security/secrets.js';
import { ArtifactStore } from './store/artifacts.js';
import { webRoutes } from './web/routes.js';
import type { RetryPolicy } from './webhooks/deliver.js';
import { checkTargets, type WebhookTargetInput } from './webhooks/targets.js';

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
  /** Serve the HTTP API over HTTPS with this PEM certificate and key. */
  httpsTls?: { cert: string; key: string };
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
  /** Where hub events are sent (docs/EVENTS.md); checked at start. */
  webhooks?: WebhookTargetInput[];
  webhookRetry?: Partial<RetryPolicy>;
  /** When a device's drift or live accuracy raises an alarm event. */
  alarms?: Partial<AlarmLimits>;
  /** The dashboard's built files (default hub/ui-dist). */
  uiDir?: string;
  /** Release configs (edgeml.json) of the models the hub retrains by itself (docs/ARCHITECTURE.md, continuous training). */
  retrainConfigs?: string[];
  log?: Logger;
}

export interface Hub {
  readonly brokerUrl: string;
  readonly httpUrl: string | undefined;
  /** The web dashboard (the HTTP API's root), when the API runs. */
  readonly dashboardUrl: string | undefined;
  readonly registry: Registry;
  readonly store: ArtifactStore;
  readonly keysDir: string;
  readonly rootPublicKeyPem: string;
  /** Read-only MQTT credentials for operators (`edgeml fleet status`). */
  readonly operator: { username: string; password: string };
  /** The hub's own MQTT credentials, for tools that publish as the hub. */
  readonly hubCredentials: { username: string; password: string };
  /** Sign and publish the next version: to the whole channel, or staged for a rollout. */
  publish(input: PublishInput, opts?: PublishOptions): Promise<VersionRecord>;
  /** Send every device of the model back to `to` (default: the version before the newest) with a signed directive. */
  rollback(model: string, to?: number): Promise<VersionRecord>;
  readonly rollouts: RolloutController;
  /** The continuous-training loop: triggers, runs, lineage. */
  readonly retrainer: Retrainer;
  /** Release, rollout, device and alarm events (events/bus.ts), for webhooks and the dashboard. */
  readonly events: HubEvents;
  /** Bearer token for the HTTP API's release and rollout routes. */
  readonly adminToken: string;
  /** A one-time enrolment token for one device: `<secret>.<root key fingerprint>`, bound to `scope`. */
  createEnrollToken(ttlMs?: number, scope?: EnrolmentScope): string;
  /** sha256 of the root public key: what enrolment tokens pin. */
  readonly rootFingerprint: string;
  /** Remove a device's credentials, drop its connection (embedded broker) and block its id. */
  revokeDevice(deviceId: string): Promise<{ existed: boolean; disconnected: number }>;
  close(): Promise<void>;
}

export type { PublishInput } from './release/publisher.js';

/** Written to the data dir on start: how tools on this machine (`edgeml fleet status`) find the hub. */
export const HUB_INFO_FILE = 'hub.json';

const exists = (p: string) => access(p).then(() => true, () => false);

async function loadOrCreateKeys(dir: string, log: Logger): Promise<ReleaseSigner> {
  if (await exists(join(dir, 'release.key'))) return loadReleaseSigner(dir);
  log.info('generating signing keys', { dir });
  return generateKeyDir(dir);
}

export async function startHub(opts: HubOptions): Promise<Hub> {
  const log = opts.log ?? createLogger({ name: 'hub' });
  const webhookTargets = checkTargets(opts.webhooks ?? []);
  await makeDataDir(opts.dataDir);
  const keysDir = opts.keysDir ?? join(opts.dataDir, 'keys');
  const events = new HubEvents(log);
  // Checked before every signature: a `keys rotate` reaches a running hub.
  const keys = new LiveSigner(keysDir, await loadOrCreateKeys(keysDir, log), log, undefined, (warning, expires) =>
    events.emit({ type: 'key.expiring', summary: warning, data: { expires, keysDir } }),
  );
  const signer = keys.current();
  const secrets = await loadOrCreateSecrets(opts.dataDir);
  const registry = new Registry(join(opts.dataDir, 'registry.sqlite'));
  registry.onCorrupt = (what, error) => log.error('skipping a registry row that cannot be read', { what, error });
  await lockRegistryFiles(opts.dataDir);
  const store = new ArtifactStore(join(opts.dataDir, 'artifacts'));

  const authenticate = (username: string, password: string): Identity | undefined => {
    if (username === HUB_USER) return sameSecret(password, secrets.hub) ? { role: 'hub' } : undefined;
    if (username === OPERATOR_USER) return sameSecret(password, secrets.operator) ? { role: 'operator' } : undefined;
    const hash = registry.deviceSecretHash(username);
    return hash && checkSecret(password, hash) ? { role: 'device', deviceId: username } : undefined;
  };

  // What to undo, newest first, on a failed start and on close: no timer outlives the hub.
  const undo: { name: string; run: () => Promise<void> | void }[] = [];
  const unwind = async () => {
    for (const u of undo.splice(0).reverse()) {
      try {
        await u.run();
      } catch (e) {
        log.warn('error while stopping', { part: u.name, error: (e as Error).message });
      }
    }
  };
  undo.push({ name: 'registry', run: () => registry.close() });
  // Every event is stored with its webhook deliveries first, then streamed to open dashboards.
  const { live, webhooks, alarms, deviceFailed } = startEventDelivery({ registry, events, log, targets: webhookTargets, ...(opts.webhookRetry ? { retry: opts.webhookRetry } : {}), ...(opts.alarms ? { alarms: opts.alarms } : {}) });
  undo.push({ name: 'dashboard streams', run: () => live.close() });
  undo.push({ name: 'webhooks', run: () => webhooks.stop() });
  // Written last of all, after the hub's client has handled its last message.
  const statuses = new StatusWriter(registry, 20, log, deviceFailed);
  undo.push({ name: 'statuses', run: () => statuses.close() });
  const presence = new PresenceTracker(registry, log);
  undo.push({ name: 'presence', run: () => presence.stop() });

  const metrics = hubMetrics(registry);
  events.on((e) => metrics.event(e.type));
  // Everything a device is refused, by the broker or by ingest, is counted and logged in one place.
  const violations = new ViolationLog(log, metrics);

  try {
    let broker: EmbeddedBroker | undefined;
    // Set once ingest is ready; devices are refused until broker.open() below.
    let storeRecord: ((topic: string, payload: Buffer) => void) | undefined;
    if (!opts.brokerUrl) {
      broker = await startEmbeddedBroker({ port: opts.mqttPort ?? 1883, log, authenticate, beforeAck: (topic, payload) => storeRecord?.(topic, payload), onViolation: (id, v, detail) => violations.report(id, v, detail), ...(opts.brokerLimits ? { limits: opts.brokerLimits } : {}), ...(opts.mqttHost ? { host: opts.mqttHost } : {}), ...(opts.tls ? { tls: opts.tls } : {}) });
    }
    const brokerUrl = opts.brokerUrl ?? broker!.url;
    // An external broker outlives the hub: under a fixed client id with a persistent session it
    // keeps the hub's subscriptions and queues what devices send while the hub (or, with
    // persistence, the broker) restarts, so no telemetry or feedback is acknowledged into the void.
    const external = Boolean(opts.brokerUrl);
    const mqtt: MqttClient = connect(brokerUrl, {
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
    // Stop order (reverse of this list): stop taking device messages (the embedded broker and
    // its device connections go first; what a device sent and had no answer for it sends
    // again), then the hub's own client once its last messages are handled, then the registry.
    undo.push({
      name: 'mqtt client',
      run: async () => {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), 5000)));
        // Drain: with the embedded broker already closed, the connection ends once the hub has
        // read everything the broker sent it; ending it sooner would drop records the broker has
        // acknowledged. An external broker gets a clean DISCONNECT (its session keeps the rest).
        const drained = external ? mqtt.endAsync(!mqtt.connected) : mqtt.connected ? new Promise<void>((r) => mqtt.once('close', () => r())) : Promise.resolve();
        const done = await Promise.race([drained.then(() => 'done' as const), late]);
        clearTimeout(timer);
        if (done === 'late') log.warn('the MQTT connection did not end in time; closing it');
        await mqtt.endAsync(true);
      },
    });
    mqtt.on('error', (e) => log.warn('mqtt error', { error: e.message }));
    const publishAnalysis = (a: DeviceAnalysis) => {
      try {
        alarms.check(a);
      } catch (e) {
        log.warn('checking alarms failed', { deviceId: a.deviceId, error: (e as Error).message });
      }
      return mqtt.publishAsync(topics.fleetDevice(a.deviceId), JSON.stringify(a), { qos: 1, retain: true }).then(() => undefined);
    };
    const analysis = new AnalysisPublisher(registry, publishAnalysis, 500, log);
    undo.push({ name: 'analysis', run: () => analysis.stop() });
    const devices = new DeviceIngest(registry, violations, statuses);
    const ingest = (topic: string, payload: Buffer) => {
      const got = devices.handle(topic, payload);
      if (!got) return metrics.rejected();
      metrics.ingested(got.kind, got.fresh);
      if (got.kind === 'status') live.nudge('fleet');
      if (got.kind !== 'result') analysis.touch(got.deviceId);
    };
    // With the embedded broker, telemetry and feedback are stored before the device's PUBACK
    // (a storage error refuses the publish, and the device sends it again); the hub's client
    // does not take them a second time.
    const isRecord = (topic: string) => topic.endsWith('/telemetry') || topic.endsWith('/feedback');
    storeRecord = (topic, payload) => {
      if (!isRecord(topic)) return;
      try {
        presence.observe(topic, payload, false);
        ingest(topic, payload);
      } catch (e) {
        log.error('ingest failed; the device will send the record again', { topic, error: (e as Error).message });
        throw e;
      }
    };
    // Listen before the CONNACK: a resumed session's queued messages follow it at once.
    mqtt.on('message', (topic, payload, packet) => {
      try {
        const seen = presence.observe(topic, payload, packet.retain);
        if (seen === 'presence') return;
        if (broker && isRecord(topic)) return;
        ingest(topic, payload);
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
    const records = broker ? [] : [topics.allTelemetry(), topics.allFeedback()];
    await mqtt.subscribeAsync([topics.allStatuses(), topics.allPresence(), ...records, topics.allCommandResults()], { qos: 1 });
    if (broker) {
      const b = broker;
      undo.push({ name: 'broker', run: () => b.close() });
    }

    const desired = new DesiredReleases(registry, store, { publish: (topic, payload, o) => mqtt.publishAsync(topic, payload, o).then(() => undefined) }, log);
    let publisher: Publisher | undefined;
    const controller = new RolloutController({
      registry,
      log,
      desired,
      sendBenchmark: async (deviceId, requestId, envelope) => {
        await mqtt.publishAsync(topics.command(deviceId), JSON.stringify({ type: 'benchmark', requestId, envelope }), { qos: 1 });
      },
      rollbackDirective: (model, version) => publisher!.rollbackDirective(model, version),
      events,
    });
    let api: { url: string; close(): Promise<void> } | undefined;
    publisher = new Publisher({ registry, store, desired, controller, signer: () => keys.current(), log, events, artifactBase: () => (opts.artifactBaseUrl === 'self' ? api?.url : opts.artifactBaseUrl) });
    const pub = publisher;

    // An embedded broker forgot its retained messages: publish the desired state again.
    await desired.republish();
    // Devices are refused (CONNACK 3, they retry) until the hub has subscribed and republished:
    // nothing they send may be acknowledged into the void.
    broker?.open();
    controller.start();
    undo.push({ name: 'rollouts', run: () => controller.stop() });
    const retrainer = new Retrainer({ registry, store, events, log, dataDir: opts.dataDir, targets: await loadRetrainTargets(opts.retrainConfigs ?? []), publish: (input, o) => pub.publish(input, o) });
    retrainer.start();
    undo.push({ name: 'retraining', run: () => retrainer.stop() });

    const publicBrokerUrl = opts.publicBrokerUrl ?? brokerUrl;
    const authorize = (req: IncomingMessage, path: string) => authorizeRequest(req, path, { adminSecret: secrets.admin, tokens: registry.tokens });
    if (opts.httpPort !== undefined) {
      api = await startHubApi({
        host: opts.httpHost ?? '127.0.0.1',
        port: opts.httpPort,
        log,
        ...(opts.httpsTls ? { tls: opts.httpsTls } : {}),
        warnings: () => [keys.warning()].filter((w): w is string => w !== undefined),
        enroll: enrollHandler({ registry, signer: () => keys.current(), brokerUrl: publicBrokerUrl, log }),
        handle: chainRoutes(
          webRoutes({
            registry,
            live,
            authorize,
            ...(opts.uiDir ? { uiDir: opts.uiDir } : {}),
            whoami: (req) => {
              const bearer = (req.headers.authorization ?? '').replace(/^Bearer /, '').trim();
              const kind = bearer ? tokenKind(bearer, { adminSecret: secrets.admin, tokens: registry.tokens }) : undefined;
              return kind ? { kind, actions: actionsOf(kind) } : undefined;
            },
          }),
          deviceRoutes({ registry, authorize, revoke: (id) => hub.revokeDevice(id) }),
          retrainRoutes({ registry, retrainer, authorize }),
          hubRoutes({
          registry,
          controller,
          authorize,
          log,
          release: (input, o) => pub.publish(input, o),
          rollback: (model, to) => pub.rollback(model, to),
          fleet: () =>
            registry.listDevices().map((d) => {
              const want = d.model ? registry.desired.forModelDevice(d.model, d.id) : undefined;
              return {
                ...d,
                desiredVersion: want?.version ?? null,
                convergence: want ? convergence({ version: d.version, state: d.state, failedVersion: d.status.failedVersion }, want.version) : null,
                analysis: analyseDevice(registry, d.id),
              };
            }),
          metrics: async () => {
            const m = await metrics.render();
            return { ...m, body: m.body + keys.metrics() + (await retrainer.metrics()) };
          },
          artifactPath: async (sha) => ((await store.has(sha)) ? store.pathOf(sha) : undefined),
          store,
          events,
          }),
        ),
      });
      const server = api;
      undo.push({ name: 'api', run: () => server.close() });
      // Open dashboard streams never end by themselves: they go first, or the server's close would wait for them.
      undo.push({ name: 'dashboard streams', run: () => live.close() });
      log.info('hub API listening', { url: api.url });
    }
    await writeFileAtomic(join(opts.dataDir, HUB_INFO_FILE), JSON.stringify({ brokerUrl, httpUrl: api?.url ?? null, pid: process.pid }) + '\n');

    const hub: Hub = {
      brokerUrl,
      get httpUrl() {
        return api?.url;
      },
      get dashboardUrl() {
        return api ? `${api.url}/` : undefined;
      },
      registry,
      store,
      keysDir,
      rootPublicKeyPem: signer.rootPublicKeyPem,
      operator: { username: OPERATOR_USER, password: secrets.operator },
      hubCredentials: { username: HUB_USER, password: secrets.hub },
      rollouts: controller,
      retrainer,
      events,
      adminToken: secrets.admin,
      rollback: (model, to) => pub.rollback(model, to),
      publish: async (input, o) => (await pub.publish(input, o)).rec,
      createEnrollToken(ttlMs = 3_600_000, scope) {
        const token = newSecret(32);
        registry.addEnrollToken(tokenHash(token), new Date(Date.now() + ttlMs), scope);
        return joinEnrollToken(token, rootFingerprint(signer.rootPublicKeyPem));
      },
      rootFingerprint: rootFingerprint(signer.rootPublicKeyPem),
      async revokeDevice(deviceId) {
        // Cut it off first (its last will suppressed), write what it said before, then forget it.
        const disconnected = broker?.disconnectDevice(deviceId) ?? 0;
        statuses.flush();
        const { existed } = registry.tokens.revokeDevice(deviceId, new Date());
        // An empty retained message clears its last status, so no fleet view keeps showing it.
        await mqtt.publishAsync(topics.status(deviceId), '', { qos: 1, retain: true });
        log.warn('device revoked', { deviceId, existed, disconnected });
        return { existed, disconnected };
      },
      close: unwind,
    };
    return hub;
  } catch (e) {
    await unwind();
    throw e;
  }
}

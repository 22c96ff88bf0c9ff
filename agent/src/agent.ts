/**
 * The agent daemon: restores its state (healing damaged storage), serves the active slot,
 * listens for signed releases on its model's topic, runs one update at a time, keeps a retained
 * status and a retained presence on the broker. Every handler is attached before the MQTT client
 * connects, so a retained release delivered at once on subscribe is never missed.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { createLogger, errorMessage, topics, writeFileAtomic, type AgentConfig, type DeviceStatus, type Logger, type Presence } from '@edgeml/core';
import type { RuntimeRegistry } from '@edgeml/runtime';
import { handleCommand } from './commands.js';
import { startApi } from './serve/http.js';
import { IdleGc } from './idle-gc.js';
import { Reporter } from './telemetry/reporter.js';
import { Predictor } from './serve/predictor.js';
import { StateStore, otherSlot, type AgentState } from './state/store.js';
import { rebuildState, restoreActive, sweepTempFiles } from './state/heal.js';
import { createFaults } from './update/faults.js';
import { backoffMs } from './update/retry.js';
import { downloadsDir, type UpdateContext } from './update/machine.js';
import { Updater } from './update/updater.js';
import { readdir, rm } from 'node:fs/promises';
import { readSeenKeyVersion, recordKeyVersion } from './state/key-version.js';

export interface AgentOptions {
  config: AgentConfig;
  runtimes: RuntimeRegistry;
  log?: Logger;
  now?: () => Date;
}

export interface Agent {
  readonly apiUrl: string;
  readonly predictor: Predictor;
  status(): DeviceStatus;
  /** Resolves when no update is running. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

/** Reconnect backoff: quick at first, then spread out, so a fleet does not return in one wave. */
const RECONNECT = { retryBaseMs: 500, retryMaxMs: 30_000 };

export async function startAgent(opts: AgentOptions): Promise<Agent> {
  const { config, runtimes } = opts;
  const log = opts.log ?? createLogger({ name: `agent:${config.deviceId}` });
  const now = opts.now ?? (() => new Date());
  const rootPublicKeyPem = await readFile(config.rootKey, 'utf8');
  const check = { rootPublicKeyPem, model: config.model, channel: config.channel, now: now() };
  const swept = await sweepTempFiles(config.dataDir);
  if (swept) log.info('removed temp files of interrupted writes', { count: swept });
  const store = new StateStore(config.dataDir, log);
  const state: AgentState = await store.load(() => rebuildState(config.dataDir, check));
  let seenKeyVersion = await readSeenKeyVersion(config.dataDir);
  const predictor = new Predictor();
  const aborter = new AbortController();
  const faults = createFaults(config.faultPoint, log);
  const policy = { ...config.update };
  let fault: string | null = null;

  const restored = await restoreActive(config.dataDir, state, runtimes, check, log);
  if (restored.model) predictor.swap(restored.model);
  const loadError = restored.error;
  if (restored.lost || restored.error) await store.save(state).catch((e: unknown) => log.warn('cannot save the healed state', { error: errorMessage(e) }));

  const status = (online = true): DeviceStatus => {
    const active = state.active ? state.slots[state.active] : null;
    const previous = state.active ? state.slots[otherSlot(state.active)] : null;
    const upd = state.update;
    let s: string = active ? 'active' : 'idle';
    if (upd) s = upd.state;
    else if (fault) s = 'retrying';
    else if (state.lastFailure) s = active ? 'rolled-back' : 'failed';
    if (!online) s = 'offline';
    let lastError: string | null = state.lastFailure ? `version ${state.lastFailure.version}: ${state.lastFailure.reason}` : loadError;
    if (upd?.state === 'retrying' && upd.reason) lastError = `version ${upd.version}: ${upd.reason} (retry ${upd.retries ?? 0} of ${policy.maxRetries})`;
    if (fault) lastError = fault;
    return {
      deviceId: config.deviceId,
      online,
      state: s,
      model: config.model,
      version: active?.version ?? null,
      sha256: active?.sha256 ?? null,
      previousVersion: previous?.version ?? null,
      health: predictor.active ? 'ok' : state.lastFailure || loadError ? 'failed' : 'unknown',
      lastError,
      failedVersion: state.lastFailure?.version ?? null,
      tags: config.tags,
      p95Ms: reporter.lastP95Ms,
      requests: reporter.lastRequests,
      updatedAt: now().toISOString(),
    };
  };

  const statusTopic = topics.status(config.deviceId);
  const presenceTopic = topics.presence(config.deviceId);
  const presence = (online: boolean): string => JSON.stringify({ deviceId: config.deviceId, online, at: now().toISOString() } satisfies Presence);
  const mqttOptions: IClientOptions = {
    // The broker takes only the user name as client id (docs/PROTOCOL.md): no one takes over another's session.
    clientId: config.broker.username ?? config.deviceId,
    // Reconnects are scheduled below, with jittered backoff; mqtt.js would retry every period in step.
    reconnectPeriod: 0,
    manualConnect: true,
    connectTimeout: 10_000,
    // mqtt-packet otherwise pre-builds a 2-byte Buffer for each of the 65,536 packet ids on the
    // first write: ~7 MB of the agent's heap, for a client that sends a few packets a second.
    writeCache: false,
    // The retained status keeps the last known state and version; presence says whether it is live.
    will: { topic: presenceTopic, payload: Buffer.from(presence(false)), qos: 1, retain: true },
    ...(config.broker.username ? { username: config.broker.username, password: config.broker.password } : {}),
    ...(config.broker.ca ? { ca: await readFile(config.broker.ca, 'utf8') } : {}),
  };
  const client: MqttClient = connect(config.broker.url, mqttOptions);
  client.on('error', (e) => log.warn('mqtt error', { error: e.message }));
  // Counting starts before the API answers: every prediction served can receive feedback.
  const reporter = await Reporter.start({
    deviceId: config.deviceId,
    model: config.model,
    dataDir: config.dataDir,
    predictor,
    client,
    log,
    periodMs: config.telemetry.periodMs,
    maxQueued: config.telemetry.maxQueued,
  });

  // After a burst of requests, memory goes back to the system (idle-gc.ts says why).
  const idleGc = new IdleGc({ onError: (e) => log.warn('garbage collection after a burst failed', { error: errorMessage(e) }) });
  const stopIdleGc = predictor.observe(() => idleGc.activity());

  const api = await startApi({
    host: config.api.host,
    port: config.api.port,
    predictor,
    log,
    health: () => ({ status: predictor.active ? 'ok' : 'no-model', ...status() }),
    onFeedback: (fb) => reporter.feedback(fb),
    ...(config.api.token ? { token: config.api.token } : {}),
    ...(config.api.allowedHosts ? { allowedHosts: config.api.allowedHosts } : {}),
  });
  await writeFileAtomic(join(config.dataDir, 'api.json'), JSON.stringify({ url: api.url, pid: process.pid }) + '\n');

  const publishStatus = () => {
    if (!client.connected) return;
    client.publish(statusTopic, JSON.stringify(status()), { qos: 1, retain: true }, (err) => {
      if (err) log.warn('status publish failed', { error: err.message });
    });
  };

  const updater = new Updater({
    dataDir: config.dataDir,
    model: config.model,
    channel: config.channel,
    rootPublicKeyPem,
    state,
    store,
    predictor,
    log,
    now,
    policy,
    signal: aborter.signal,
    publishStatus,
    keyVersion: {
      seen: () => seenKeyVersion,
      // Once a rotated key has been seen, releases signed by the key it replaced are refused for good.
      record: async (v) => {
        if (v <= seenKeyVersion) return;
        await recordKeyVersion(config.dataDir, v);
        seenKeyVersion = v;
      },
    },
    onFault: (reason) => {
      if (fault === reason) return;
      fault = reason;
      publishStatus();
    },
    contextFor: (envelope, signal): UpdateContext => ({
      dataDir: config.dataDir,
      state,
      store,
      client,
      log,
      predictor,
      runtimes,
      envelope,
      signal,
      onChange: publishStatus,
      onFault: (reason) => {
        fault = reason;
        publishStatus();
      },
      probation: config.probation,
      policy,
      faults,
      now,
      stepDelayMs: config.stepDelayMs,
    }),
  });
  updater.lost = restored.lost;

  const releaseTopic = topics.release(config.model, config.channel);
  // A staged rollout reaches this device alone on its own release topic.
  const ownReleaseTopic = topics.deviceRelease(config.model, config.channel, config.deviceId);
  const commandTopic = topics.command(config.deviceId);
  let reconnects = 0;
  let reconnectTimer: NodeJS.Timeout | undefined;
  client.on('connect', () => {
    reconnects = 0;
    client.publish(presenceTopic, presence(true), { qos: 1, retain: true }, (err) => {
      if (err) log.warn('presence publish failed', { error: err.message });
    });
    publishStatus();
    client.subscribe([releaseTopic, ownReleaseTopic, commandTopic], { qos: 1 }, (err) => {
      if (err) log.warn('subscribe failed', { error: err.message });
    });
  });
  client.on('close', () => {
    if (aborter.signal.aborted || reconnectTimer) return;
    const wait = backoffMs(++reconnects, RECONNECT);
    log.debug('broker connection closed; reconnecting', { inMs: wait });
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      if (!aborter.signal.aborted && !client.connected) client.reconnect();
    }, wait);
  });
  client.on('message', (topic, payload) => {
    if (topic === commandTopic) {
      handleCommand(
        { deviceId: config.deviceId, model: config.model, channel: config.channel, dataDir: config.dataDir, rootPublicKeyPem, client, runtimes, log, signal: aborter.signal, resendStatus: publishStatus },
        payload,
      ).catch((e: unknown) => log.warn('command failed', { error: errorMessage(e) }));
      return;
    }
    if ((topic !== releaseTopic && topic !== ownReleaseTopic) || payload.length === 0) return;
    let input: unknown;
    try {
      input = JSON.parse(payload.toString('utf8'));
    } catch {
      input = { malformed: true };
    }
    updater.offer(input);
  });

  // Leftovers of an update that ended while a step was cut short belong to nothing now.
  const keep = state.update ? [`${state.update.sha256}.part`, `${state.update.sha256}.release.json`] : [];
  for (const f of await readdir(downloadsDir(config.dataDir)).catch(() => [] as string[])) {
    if (!keep.includes(f)) await rm(join(downloadsDir(config.dataDir), f), { force: true });
  }

  // Resume an update a crash interrupted before anything new is taken; then go online.
  updater.resume();
  client.connect();

  return {
    apiUrl: api.url,
    predictor,
    status: () => status(),
    idle: () => updater.idle(),
    async close() {
      aborter.abort(new Error('agent stopping'));
      clearTimeout(reconnectTimer);
      await updater.idle().catch(() => undefined);
      // The open telemetry window goes to the outbox (and out, if connected) before the client closes.
      await reporter.stop();
      // A clean stop says so; the last will covers the unclean ones.
      if (client.connected) {
        await client.publishAsync(statusTopic, JSON.stringify(status()), { qos: 1, retain: true }).catch(() => undefined);
        await client.publishAsync(presenceTopic, presence(false), { qos: 1, retain: true }).catch(() => undefined);
      }
      await client.endAsync(!client.connected);
      await api.close();
      stopIdleGc();
      idleGc.stop();
      predictor.swap(null)?.runtime.dispose();
    },
  };
}

/**
 * The agent daemon: restores its state, serves the active slot, listens for signed releases on
 * its model's topic, runs one update at a time, and keeps a retained status on the broker.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import {
  RefusedError,
  createLogger,
  errorMessage,
  topics,
  verifyRelease,
  writeFileAtomic,
  type AgentConfig,
  type DeviceStatus,
  type Logger,
  type SignedRelease,
} from '@edgeml/core';
import type { RuntimeRegistry } from '@edgeml/ml';
import { handleCommand } from './commands.js';
import { startApi } from './serve/http.js';
import { Reporter } from './telemetry/reporter.js';
import { Predictor } from './serve/predictor.js';
import { StateStore, otherSlot, type AgentState } from './state/store.js';
import { readSeenKeyVersion, recordKeyVersion } from './state/key-version.js';
import { downloadsDir, loadSlot, runUpdate, slotEnvelope, stagedEnvelopePath, type UpdateContext } from './update/machine.js';

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

export async function startAgent(opts: AgentOptions): Promise<Agent> {
  const { config, runtimes } = opts;
  const log = opts.log ?? createLogger({ name: `agent:${config.deviceId}` });
  const now = opts.now ?? (() => new Date());
  const rootPublicKeyPem = await readFile(config.rootKey, 'utf8');
  const store = new StateStore(config.dataDir);
  const state: AgentState = await store.load();
  let seenKeyVersion = await readSeenKeyVersion(config.dataDir);
  const predictor = new Predictor();
  const aborter = new AbortController();
  let health: DeviceStatus['health'] = 'unknown';
  let lastError: string | null = null;

  if (state.active) {
    const slot = state.active;
    try {
      const envelope = JSON.parse(await readFile(slotEnvelope(config.dataDir, slot), 'utf8')) as SignedRelease;
      predictor.swap(await loadSlot(config.dataDir, slot, envelope.signed, runtimes));
      health = 'ok';
      log.info('serving installed version', { version: envelope.signed.version, slot });
    } catch (e) {
      health = 'failed';
      lastError = `cannot load the active slot: ${errorMessage(e)}`;
      log.error('active slot failed to load', { error: lastError });
    }
  }

  const status = (online = true): DeviceStatus => {
    const active = state.active ? state.slots[state.active] : null;
    const previous = state.active ? state.slots[otherSlot(state.active)] : null;
    let s: string = active ? 'active' : 'idle';
    if (state.update) s = state.update.state;
    else if (state.lastFailure) s = active ? 'rolled-back' : 'failed';
    if (!online) s = 'offline';
    return {
      deviceId: config.deviceId,
      online,
      state: s,
      model: config.model,
      version: active?.version ?? null,
      sha256: active?.sha256 ?? null,
      previousVersion: previous?.version ?? null,
      health: state.lastFailure && !active ? 'failed' : predictor.active ? 'ok' : health,
      lastError: state.lastFailure ? `version ${state.lastFailure.version}: ${state.lastFailure.reason}` : lastError,
      failedVersion: state.lastFailure?.version ?? null,
      tags: config.tags,
      p95Ms: reporter?.lastP95Ms ?? null,
      requests: reporter?.lastRequests ?? 0,
      updatedAt: now().toISOString(),
    };
  };

  let reporter: Reporter | undefined;
  const api = await startApi({
    host: config.api.host,
    port: config.api.port,
    predictor,
    log,
    health: () => ({ status: predictor.active ? 'ok' : 'no-model', ...status() }),
    onFeedback: (fb) => {
      if (!reporter) throw new Error('the agent is starting');
      return reporter.feedback(fb);
    },
    ...(config.api.token ? { token: config.api.token } : {}),
    ...(config.api.allowedHosts ? { allowedHosts: config.api.allowedHosts } : {}),
  });
  await writeFileAtomic(join(config.dataDir, 'api.json'), JSON.stringify({ url: api.url, pid: process.pid }) + '\n');

  const statusTopic = topics.status(config.deviceId);
  const mqttOptions: IClientOptions = {
    clientId: `edgeml-agent-${config.deviceId}`,
    reconnectPeriod: 1000,
    // Keep trying after a refused CONNACK too: on an external broker a device's credentials may
    // reach the broker's password file after the device has started (docs/EXTERNAL-BROKER.md).
    reconnectOnConnackError: true,
    connectTimeout: 10_000,
    will: { topic: statusTopic, payload: Buffer.from(JSON.stringify(status(false))), qos: 1, retain: true },
    ...(config.broker.username ? { username: config.broker.username, password: config.broker.password } : {}),
    ...(config.broker.ca ? { ca: await readFile(config.broker.ca, 'utf8') } : {}),
  };
  // Connect in the background: a device must serve its installed model while the broker is away.
  const client: MqttClient = connect(config.broker.url, mqttOptions);
  client.on('error', (e) => log.warn('mqtt error', { error: e.message }));
  const publishStatus = () => {
    if (!client.connected) return;
    client.publish(statusTopic, JSON.stringify(status()), { qos: 1, retain: true }, (err) => {
      if (err) log.warn('status publish failed', { error: err.message });
    });
  };
  const releaseTopic = topics.release(config.model, config.channel);
  // A staged rollout reaches this device alone on its own release topic.
  const ownReleaseTopic = topics.deviceRelease(config.model, config.channel, config.deviceId);
  const commandTopic = topics.command(config.deviceId);
  client.on('connect', () => {
    publishStatus();
    client.subscribe([releaseTopic, ownReleaseTopic, commandTopic], { qos: 1 }, (err) => {
      if (err) log.warn('subscribe failed', { error: err.message });
    });
  });
  reporter = await Reporter.start({
    deviceId: config.deviceId,
    model: config.model,
    dataDir: config.dataDir,
    predictor,
    client,
    log,
    periodMs: config.telemetry.periodMs,
    maxQueued: config.telemetry.maxQueued,
  });

  // One update at a time; a release arriving meanwhile waits, and only the newest one waits.
  let pending: unknown;
  let running: Promise<void> | undefined;
  const ctxFor = (envelope: SignedRelease): UpdateContext => ({
    dataDir: config.dataDir,
    state,
    store,
    client,
    log,
    predictor,
    runtimes,
    envelope,
    signal: aborter.signal,
    onChange: publishStatus,
    probation: config.probation,
    stepDelayMs: config.stepDelayMs,
  });

  const accept = async (input: unknown): Promise<void> => {
    let verified;
    try {
      const activeCreated = predictor.active?.release.created;
      verified = verifyRelease(input, {
        rootPublicKeyPem,
        now: now(),
        seenVersion: state.highestSeenVersion,
        seenKeyVersion,
        model: config.model,
        channel: config.channel,
        ...(activeCreated ? { activeCreated } : {}),
      });
    } catch (e) {
      if (!(e instanceof RefusedError)) throw e;
      const v = (input as { signed?: { version?: unknown; artifact?: { sha256?: unknown } } })?.signed;
      // Either slot: the channel's older release comes back while a rollout moved this device on.
      const known = [state.slots.a, state.slots.b, state.update].some((s) => s && s.version === v?.version && s.sha256 === v?.artifact?.sha256);
      // The retained release we run, or the one that just failed here, comes again after every
      // reconnect: not an attack, and not news.
      if (e.reason === 'rollback' && (known || state.lastFailure?.version === v?.version)) return;
      log.warn('refused release', { reason: e.reason, detail: e.message });
      state.lastFailure = { version: typeof v?.version === 'number' ? v.version : 0, reason: `refused: ${e.message}`, at: now().toISOString() };
      await store.save(state);
      publishStatus();
      return;
    }
    const { release } = verified;
    const envelope = input as SignedRelease;
    const keyVersion = verified.releaseKey.version ?? 0;
    if (keyVersion > seenKeyVersion) {
      await recordKeyVersion(config.dataDir, keyVersion);
      seenKeyVersion = keyVersion;
    }
    // A rollback directive goes back to an older version; the highest seen stays where it is.
    state.highestSeenVersion = Math.max(state.highestSeenVersion, release.version);
    await writeFileAtomic(stagedEnvelopePath(config.dataDir, release.artifact.sha256), JSON.stringify(envelope));
    state.update = { state: 'downloading', version: release.version, sha256: release.artifact.sha256, slot: otherSlot(state.active), attempt: 1, transitions: 0 };
    log.info('accepted release', { version: release.version, sha256: release.artifact.sha256 });
    await runUpdate(ctxFor(envelope));
  };

  const drain = () => {
    if (running) return;
    running = (async () => {
      while (pending !== undefined && !aborter.signal.aborted) {
        const input = pending;
        pending = undefined;
        try {
          await accept(input);
        } catch (e) {
          if (!aborter.signal.aborted) log.error('update failed', { error: errorMessage(e) });
        }
      }
    })().finally(() => {
      running = undefined;
    });
  };

  client.on('message', (topic, payload) => {
    if (topic === commandTopic) {
      void handleCommand(
        { deviceId: config.deviceId, model: config.model, channel: config.channel, dataDir: config.dataDir, rootPublicKeyPem, client, runtimes, log, signal: aborter.signal, resendStatus: publishStatus },
        payload,
      );
      return;
    }
    if ((topic !== releaseTopic && topic !== ownReleaseTopic) || payload.length === 0) return;
    try {
      pending = JSON.parse(payload.toString('utf8'));
    } catch {
      pending = { malformed: true };
    }
    drain();
  });

  // Leftovers of an update that ended while a step was cut short belong to nothing now.
  const keep = state.update ? [`${state.update.sha256}.part`, `${state.update.sha256}.release.json`] : [];
  for (const f of await readdir(downloadsDir(config.dataDir)).catch(() => [] as string[])) {
    if (!keep.includes(f)) await rm(join(downloadsDir(config.dataDir), f), { force: true });
  }

  // Resume an update a crash interrupted, before taking new releases.
  if (state.update) {
    const upd = state.update;
    upd.attempt++;
    log.info('resuming update', { state: upd.state, version: upd.version, attempt: upd.attempt });
    running = (async () => {
      try {
        const envelope = JSON.parse(await readFile(stagedEnvelopePath(config.dataDir, upd.sha256), 'utf8')) as SignedRelease;
        verifyRelease(envelope, { rootPublicKeyPem, now: now(), model: config.model, channel: config.channel });
        await runUpdate(ctxFor(envelope));
      } catch (e) {
        if (aborter.signal.aborted) return;
        log.error('cannot resume the update; dropping it', { error: errorMessage(e) });
        state.lastFailure = { version: upd.version, reason: `resume: ${errorMessage(e)}`, at: now().toISOString() };
        state.update = null;
        await rm(stagedEnvelopePath(config.dataDir, upd.sha256), { force: true });
        await store.save(state);
      }
    })().finally(() => {
      running = undefined;
      drain();
    });
  }


  return {
    apiUrl: api.url,
    predictor,
    status: () => status(),
    async idle() {
      while (running) await running;
    },
    async close() {
      aborter.abort(new Error('agent stopping'));
      await reporter?.stop();
      await running?.catch(() => undefined);
      // A clean stop says so; the last will covers the unclean ones.
      if (client.connected) await client.publishAsync(statusTopic, JSON.stringify(status(false)), { qos: 1, retain: true }).catch(() => undefined);
      await client.endAsync(!client.connected);
      await api.close();
      predictor.swap(null)?.runtime.dispose();
    },
  };
}

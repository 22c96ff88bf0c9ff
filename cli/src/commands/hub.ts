import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createLogger, joinEnrollToken, keyFiles, rootFingerprint, splitEnrollToken, userError, validName } from '@edgeml/core';
import { Registry, apiTokenId, parseWebhookSpec, apiTokenKinds, newApiToken, startHub, tokenHash, newSecret, type ApiTokenKind } from '@edgeml/hub';
import { access } from 'node:fs/promises';
import { parseDuration } from './sign.js';
import { printJson } from './options.js';
import { untilSignal } from './signals.js';

export interface HubStartFlags {
  dataDir: string;
  mqttPort: number;
  mqttHost: string;
  httpPort: number;
  httpHost: string;
  tlsCert?: string;
  tlsKey?: string;
  httpsCert?: string;
  httpsKey?: string;
  broker?: string;
  brokerUsername?: string;
  brokerPassword?: string;
  brokerCa?: string;
  publicBrokerUrl?: string;
  artifactBaseUrl?: string;
  keys?: string;
  webhook?: string[];
  slackWebhook?: string[];
  retrainConfig?: string[];
}

const readPem = (file: string, what: string) =>
  readFile(resolve(file), 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw userError('file-missing', `cannot read ${what} ${file}: ${e.code ?? e.message}`);
  });

export async function hubStart(o: HubStartFlags): Promise<void> {
  if (Boolean(o.tlsCert) !== Boolean(o.tlsKey)) throw userError('bad-usage', '--tls-cert and --tls-key go together');
  if (Boolean(o.httpsCert) !== Boolean(o.httpsKey)) throw userError('bad-usage', '--https-cert and --https-key go together');
  const webhooks = [...(o.webhook ?? []).map((w) => parseWebhookSpec(w)), ...(o.slackWebhook ?? []).map((w) => parseWebhookSpec(w, 'slack'))];
  const log = createLogger({ name: 'hub' });
  const password = o.brokerPassword ?? process.env.EDGEML_BROKER_PASSWORD;
  const hub = await startHub({
    dataDir: resolve(o.dataDir),
    mqttPort: o.mqttPort,
    mqttHost: o.mqttHost,
    httpPort: o.httpPort,
    httpHost: o.httpHost,
    log,
    ...(o.tlsCert && o.tlsKey ? { tls: { cert: await readPem(o.tlsCert, 'certificate'), key: await readPem(o.tlsKey, 'key') } } : {}),
    ...(o.httpsCert && o.httpsKey ? { httpsTls: { cert: await readPem(o.httpsCert, 'certificate'), key: await readPem(o.httpsKey, 'key') } } : {}),
    ...(o.broker ? { brokerUrl: o.broker } : {}),
    ...(o.brokerUsername ? { brokerUsername: o.brokerUsername } : {}),
    ...(password ? { brokerPassword: password } : {}),
    ...(o.brokerCa ? { brokerCa: await readPem(o.brokerCa, 'CA certificate') } : {}),
    ...(o.publicBrokerUrl ? { publicBrokerUrl: o.publicBrokerUrl } : {}),
    ...(o.artifactBaseUrl ? { artifactBaseUrl: o.artifactBaseUrl } : {}),
    ...(o.keys ? { keysDir: resolve(o.keys) } : {}),
    ...(webhooks.length ? { webhooks } : {}),
    ...(o.retrainConfig ? { retrainConfigs: o.retrainConfig.map((f) => resolve(f)) } : {}),
  });
  process.stdout.write(`hub running: broker ${hub.brokerUrl}, API ${hub.httpUrl}, data ${resolve(o.dataDir)}, root key ${resolve(hub.keysDir, 'root.pub')} (sha256:${hub.rootFingerprint})\n`);
  process.stdout.write(`dashboard ${hub.dashboardUrl} (sign in with an API token: edgeml hub token --kind operator to watch, --kind admin to act)${webhooks.length ? `; events go to ${webhooks.length} webhook(s)` : ''}\n`);
  await untilSignal();
  log.info('stopping');
  await hub.close();
}

/** A name flag, or a usage error naming it (not a stack trace). */
function nameFlag(kind: string, value: string): string {
  try {
    return validName(kind, value);
  } catch (e) {
    throw userError('bad-usage', (e as Error).message);
  }
}

export interface HubTokenFlags {
  dataDir: string;
  ttl: string;
  kind?: string;
  keys?: string;
  label?: string;
  revoke?: string;
  list?: boolean;
  json?: boolean;
  model?: string;
  channel?: string;
  tags?: string;
}

const tokenKinds = ['device', ...apiTokenKinds] as const;

/**
 * `device` tokens enrol one device and carry the root key's fingerprint (the device pins it);
 * `ci`, `operator` and `admin` tokens are bearer tokens of the HTTP API. Only hashes are stored.
 */
export async function hubToken(o: HubTokenFlags): Promise<void> {
  const kind = o.kind ?? 'device';
  if (!(tokenKinds as readonly string[]).includes(kind)) throw userError('bad-usage', `--kind must be one of ${tokenKinds.join(', ')}, not "${kind}"`);
  if (kind !== 'device' && (o.model ?? o.channel ?? o.tags) !== undefined) throw userError('bad-usage', '--model, --channel and --tags bind a device: use them with --kind device');
  const scope = {
    model: o.model === undefined ? null : nameFlag('model', o.model),
    channel: o.channel === undefined ? null : nameFlag('channel', o.channel),
    tags: o.tags === undefined ? null : o.tags.split(',').map((t) => t.trim()).filter(Boolean).map((t) => nameFlag('tag', t)),
  };
  const file = resolve(o.dataDir, 'registry.sqlite');
  await access(file).catch(() => {
    throw userError('no-registry', `no hub registry at ${file}; start the hub once or pass --data-dir`);
  });
  const ttlMs = parseDuration(o.ttl);
  const rootPub = kind === 'device' && !o.revoke && !o.list ? await readPem(join(resolve(o.keys ?? join(o.dataDir, 'keys')), keyFiles.rootPublic), 'root public key (pass --keys DIR)') : '';
  const registry = new Registry(file);
  try {
    if (o.revoke) return revokeToken(registry, o.revoke, o.json);
    if (o.list) {
      const rows = registry.tokens.listApiTokens().map(({ secretHash: _s, ...t }) => t);
      if (o.json) printJson(rows);
      else for (const t of rows) process.stdout.write(`${t.id}\t${t.kind}\t${t.revokedAt ? `revoked ${t.revokedAt}` : `valid until ${t.expiresAt}`}${t.label ? `\t${t.label}` : ''}\n`);
      return;
    }
    const now = new Date();
    const expires = new Date(now.getTime() + ttlMs);
    if (kind === 'device') {
      const secret = newSecret(32);
      registry.addEnrollToken(tokenHash(secret), expires, scope);
      const fingerprint = rootFingerprint(rootPub);
      const token = joinEnrollToken(secret, fingerprint);
      if (o.json) printJson({ kind, token, rootFingerprint: `sha256:${fingerprint}`, expires: expires.toISOString(), scope });
      else process.stdout.write(`${token}\n(one device, valid until ${expires.toISOString()}; it pins root key sha256:${fingerprint})\n`);
      return;
    }
    const t = newApiToken(kind as ApiTokenKind);
    registry.tokens.addApiToken({ id: t.id, kind: kind as ApiTokenKind, secretHash: t.secretHash, ...(o.label ? { label: o.label } : {}), expiresAt: expires, now });
    if (o.json) printJson({ kind, id: t.id, token: t.token, expires: expires.toISOString() });
    else process.stdout.write(`${t.token}\n(${kind} token ${t.id}, valid until ${expires.toISOString()}; revoke with: edgeml hub token --revoke ${t.id})\n`);
  } finally {
    registry.close();
  }
}

function revokeToken(registry: Registry, value: string, json?: boolean): void {
  const id = apiTokenId(value);
  const revoked = id ? registry.tokens.revokeApiToken(id, new Date()) : registry.tokens.revokeEnrollToken(tokenHash(splitEnrollToken(value).secret));
  if (!revoked) throw userError('not-found', id ? `no live API token ${id}` : 'no unused enrolment token matches (pass the token as printed)');
  if (json) printJson({ revoked: id ?? 'enrolment token' });
  else process.stdout.write(`revoked ${id ?? 'the enrolment token'}\n`);
}

import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createLogger, userError, validName } from '@edgeml/core';
import { Registry, startHub, tokenHash, newSecret } from '@edgeml/hub';
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
  broker?: string;
  brokerUsername?: string;
  brokerPassword?: string;
  brokerCa?: string;
  publicBrokerUrl?: string;
  artifactBaseUrl?: string;
  keys?: string;
}

const readPem = (file: string, what: string) =>
  readFile(resolve(file), 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw userError('file-missing', `cannot read ${what} ${file}: ${e.code ?? e.message}`);
  });

export async function hubStart(o: HubStartFlags): Promise<void> {
  if (Boolean(o.tlsCert) !== Boolean(o.tlsKey)) throw userError('bad-usage', '--tls-cert and --tls-key go together');
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
    ...(o.broker ? { brokerUrl: o.broker } : {}),
    ...(o.brokerUsername ? { brokerUsername: o.brokerUsername } : {}),
    ...(password ? { brokerPassword: password } : {}),
    ...(o.brokerCa ? { brokerCa: await readPem(o.brokerCa, 'CA certificate') } : {}),
    ...(o.publicBrokerUrl ? { publicBrokerUrl: o.publicBrokerUrl } : {}),
    ...(o.artifactBaseUrl ? { artifactBaseUrl: o.artifactBaseUrl } : {}),
    ...(o.keys ? { keysDir: resolve(o.keys) } : {}),
  });
  process.stdout.write(`hub running: broker ${hub.brokerUrl}, API ${hub.httpUrl}, data ${resolve(o.dataDir)}, root key ${resolve(hub.keysDir, 'root.pub')}\n`);
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

export async function hubToken(o: { dataDir: string; ttl: string; json?: boolean; model?: string; channel?: string; tags?: string }): Promise<void> {
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
  const registry = new Registry(file);
  try {
    const token = newSecret(32);
    const expires = new Date(Date.now() + ttlMs);
    registry.addEnrollToken(tokenHash(token), expires, scope);
    if (o.json) printJson({ token, expires: expires.toISOString(), scope });
    else process.stdout.write(`${token}\n(one device, valid until ${expires.toISOString()})\n`);
  } finally {
    registry.close();
  }
}

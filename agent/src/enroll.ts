/**
 * Enrolment: a one-time token from the operator is exchanged at the hub for this device's own
 * MQTT credentials and the root key to pin. The token carries the root key's fingerprint, and
 * the hub signs the broker URL it hands out, so the answer is checked against something that
 * never crossed the network before anything is written. The result is written as the agent's
 * config file (mode 0600: it holds the device's password) next to the pinned root key.
 */
import { randomBytes } from 'node:crypto';
import { readFile, mkdir } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { dirname, join, resolve } from 'node:path';
import {
  AgentConfigSchema,
  EdgemlError,
  isReservedDeviceId,
  normalizeFingerprint,
  parseHubUrl,
  splitEnrollToken,
  userError,
  validName,
  verifyEnrollResponse,
  writeFileAtomic,
  type AgentConfig,
} from '@edgeml/core';

export interface EnrollOptions {
  hubUrl: string;
  /** As `edgeml hub token` prints it: `<secret>.<root fingerprint>`. */
  token: string;
  /** The root key fingerprint, when the token does not carry it (`sha256:<hex>`). */
  rootFingerprint?: string;
  deviceId: string;
  model: string;
  channel?: string;
  dataDir: string;
  /** Where to write the agent config. */
  configPath: string;
  /** CA certificate file to trust for an mqtts:// broker. */
  brokerCa?: string;
  /** CA certificate file to trust for an https:// hub. */
  hubCa?: string;
  api?: { host?: string; port?: number };
  /** More config fields (probation, stepDelayMs, ...). */
  extra?: Record<string, unknown>;
}

const MAX_ANSWER_BYTES = 64 * 1024;

/** POST JSON with node's own client: it takes a CA file, and bounds the answer it reads. */
function postJson(url: URL, body: unknown, ca: string | undefined): Promise<{ status: number; body: unknown }> {
  const text = JSON.stringify(body);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolvePost, reject) => {
    const req = send(
      url,
      { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }, timeout: 30_000, ...(ca ? { ca } : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_ANSWER_BYTES) res.destroy(new Error(`the answer is over ${MAX_ANSWER_BYTES} bytes`));
          else chunks.push(c);
        });
        res.on('error', reject);
        res.on('end', () => {
          let parsed: unknown = {};
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            // A non-JSON answer is reported by its status below.
          }
          resolvePost({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 30 s')));
    req.on('error', reject);
    req.end(text);
  });
}

export async function enrollDevice(o: EnrollOptions): Promise<AgentConfig> {
  validName('device id', o.deviceId);
  if (isReservedDeviceId(o.deviceId)) throw userError('reserved-id', `device id "${o.deviceId}" is reserved: ids starting "edgeml-" belong to the hub's own roles`);
  const hubUrl = parseHubUrl(o.hubUrl);
  const { secret, fingerprint: inToken } = splitEnrollToken(o.token);
  const flag = o.rootFingerprint === undefined ? undefined : normalizeFingerprint(o.rootFingerprint);
  if (flag && inToken && flag !== inToken) throw userError('bad-fingerprint', '--root-fingerprint differs from the fingerprint inside the token');
  const fingerprint = flag ?? inToken;
  if (!fingerprint) {
    throw userError('no-fingerprint', 'the token carries no root key fingerprint: pass the token exactly as `edgeml hub token` printed it (<secret>.<fingerprint>), or --root-fingerprint sha256:<hex>');
  }
  const ca = o.hubCa ? await readFile(resolve(o.hubCa), 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw userError('file-missing', `cannot read CA certificate ${o.hubCa}: ${e.code ?? e.message}`);
  }) : undefined;
  const nonce = randomBytes(24).toString('base64url');
  let res: { status: number; body: unknown };
  try {
    res = await postJson(new URL('/v1/enroll', hubUrl), { token: secret, deviceId: o.deviceId, nonce }, ca);
  } catch (e) {
    throw new EdgemlError('hub-unreachable', `cannot reach the hub at ${o.hubUrl}: ${(e as Error).message}`, { transient: true });
  }
  if (res.status !== 200) {
    const reason = (res.body as { error?: unknown }).error;
    throw userError('enroll-refused', `the hub refused enrolment (${res.status}): ${typeof reason === 'string' ? reason.slice(0, 500) : 'no reason given'}`);
  }
  // Everything the hub said is checked before the first byte is written.
  const body = verifyEnrollResponse(res.body, { fingerprint, deviceId: o.deviceId, nonce });
  const dataDir = resolve(o.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const rootKey = join(dataDir, 'root.pub');
  const config: AgentConfig = AgentConfigSchema.parse({
    deviceId: o.deviceId,
    dataDir,
    // What the operator bound the device to at the hub wins over what was asked for here.
    model: body.scope?.model ?? o.model,
    channel: body.scope?.channel ?? o.channel ?? 'stable',
    broker: { url: body.brokerUrl, username: body.username, password: body.password, ...(o.brokerCa ? { ca: resolve(o.brokerCa) } : {}) },
    rootKey,
    api: { host: o.api?.host ?? '127.0.0.1', port: o.api?.port ?? 0 },
    ...o.extra,
    ...(body.scope?.tags ? { tags: body.scope.tags } : {}),
  });
  await writeFileAtomic(rootKey, body.rootKey, 0o644);
  await mkdir(dirname(resolve(o.configPath)), { recursive: true });
  await writeFileAtomic(resolve(o.configPath), JSON.stringify(config, null, 2) + '\n', 0o600);
  return config;
}

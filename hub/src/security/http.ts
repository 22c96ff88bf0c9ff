/**
 * The hub's HTTP API: device enrolment (a one-time token for per-device MQTT credentials and
 * the pinned root key). Later routes (metrics, releases) join here. Served over HTTPS when given
 * a certificate: bearer tokens and device passwords cross it.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { describeZodError, isReservedDeviceId, userError, validName, type EnrollResponse, type Logger } from '@edgeml/core';

export const EnrollRequestSchema = z.object({
  token: z.string().min(16).max(256),
  deviceId: z.string().max(128),
  /** Echoed in the hub's signed answer, so an old answer cannot be replayed to this request. */
  nonce: z.string().min(16).max(128).optional(),
});
export type EnrollRequest = z.infer<typeof EnrollRequestSchema>;
export type { EnrollResponse };

export interface HubApiOptions {
  host: string;
  port: number;
  log: Logger;
  /** Said on every answer (header `x-edgeml-warning`), e.g. a release key about to expire. */
  warnings?: () => string[];
  /** PEM certificate and key: serve HTTPS instead of HTTP. */
  tls?: { cert: string; key: string };
  enroll: (req: EnrollRequest) => EnrollResponse | { error: string; status: number };
  /** Further routes; resolves false when the path is not theirs. */
  handle?: (req: IncomingMessage, res: ServerResponse, path: string) => Promise<boolean>;
}

export function send(res: ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export async function readJson(req: IncomingMessage, limit = 64 * 1024): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > limit) throw Object.assign(new Error('body too large'), { status: 413 });
    chunks.push(c as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw Object.assign(new Error('body is not valid JSON'), { status: 400 });
  }
}

export async function startHubApi(opts: HubApiOptions): Promise<{ url: string; close(): Promise<void> }> {
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0]!;
    const warnings = opts.warnings?.() ?? [];
    if (warnings.length) res.setHeader('x-edgeml-warning', warnings);
    void (async () => {
      if (req.method === 'POST' && path === '/v1/enroll') {
        const parsed = EnrollRequestSchema.safeParse(await readJson(req));
        if (!parsed.success) return send(res, 400, { error: describeZodError(parsed.error) });
        try {
          validName('device id', parsed.data.deviceId);
        } catch (e) {
          return send(res, 400, { error: (e as Error).message });
        }
        if (isReservedDeviceId(parsed.data.deviceId)) {
          return send(res, 400, { error: `device id "${parsed.data.deviceId}" is reserved: ids starting "edgeml-" belong to the hub's own roles` });
        }
        const result = opts.enroll(parsed.data);
        return 'error' in result ? send(res, result.status, { error: result.error }) : send(res, 200, result);
      }
      if (opts.handle && (await opts.handle(req, res, path))) return;
      send(res, 404, { error: `no route ${req.method} ${path}` });
    })().catch((e: Error & { status?: number }) => {
      if (e.status) return send(res, e.status, { error: e.message });
      opts.log.error('hub API request failed', { error: e.stack });
      if (!res.headersSent) send(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  };
  const server = opts.tls ? createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key }, onRequest) : createServer(onRequest);
  // A failed TLS handshake or a reset socket is the client's problem, never the hub's.
  server.on('clientError', (_e, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'EADDRINUSE' ? userError('port-in-use', `HTTP port ${opts.port} on ${opts.host} is already in use; pick another with --http-port`) : e),
    );
    server.listen(opts.port, opts.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return { url: `${opts.tls ? 'https' : 'http'}://${opts.host}:${port}`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

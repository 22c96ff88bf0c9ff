/**
 * The agent's local HTTP API (loopback by default). Bad input gets a 4xx naming the problem;
 * nothing a client sends can take the agent down.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { InputError } from '@edgeml/ml';
import type { Logger } from '@edgeml/core';
import { NoModelError, type Predictor } from './predictor.js';

export interface ApiOptions {
  host: string;
  port: number;
  token?: string;
  predictor: Predictor;
  log: Logger;
  health: () => Record<string, unknown>;
  maxBodyBytes?: number;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new HttpError(413, `request body exceeds ${limit} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** `{"rows": [...]}` for a batch, `{"row": ...}` for one; a row is an array or named features. */
function rowsOf(body: unknown): unknown[] {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'body must be a JSON object with "row" or "rows"');
  const b = body as Record<string, unknown>;
  if ('rows' in b) {
    if (!Array.isArray(b.rows) || b.rows.length === 0) throw new HttpError(400, '"rows" must be a non-empty array');
    return b.rows;
  }
  if ('row' in b) return [b.row];
  throw new HttpError(400, 'body must have "row" (one row) or "rows" (a batch)');
}

export async function startApi(opts: ApiOptions): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const limit = opts.maxBodyBytes ?? 1 << 20;
  const token = opts.token ? Buffer.from(`Bearer ${opts.token}`) : undefined;
  const authorized = (req: IncomingMessage) => {
    if (!token) return true;
    const got = Buffer.from(req.headers.authorization ?? '');
    return got.length === token.length && timingSafeEqual(got, token);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (!authorized(req)) throw new HttpError(401, 'missing or wrong bearer token');
    if (req.method === 'GET' && path === '/v1/health') return send(res, 200, opts.health());
    if (req.method === 'GET' && path === '/v1/model') {
      const m = opts.predictor.active;
      if (!m) throw new HttpError(503, 'no model is installed yet');
      const r = m.release;
      return send(res, 200, { model: r.model, version: r.version, format: r.artifact.format, runtime: m.runtime.info.runtime, spec: r.spec, budgets: r.budgets, validation: r.validation });
    }
    if (req.method === 'POST' && path === '/v1/predict') {
      const raw = await readBody(req, limit);
      let body: unknown;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch (e) {
        throw new HttpError(400, `body is not valid JSON: ${(e as Error).message}`);
      }
      return send(res, 200, opts.predictor.predict(rowsOf(body)));
    }
    throw new HttpError(404, `no route ${req.method} ${path}`);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (e instanceof HttpError) return send(res, e.status, { error: e.message });
      if (e instanceof InputError) return send(res, 422, { error: e.message });
      if (e instanceof NoModelError) return send(res, 503, { error: e.message });
      opts.log.error('request failed', { error: (e as Error).stack });
      send(res, 500, { error: 'internal error' });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://${opts.host}:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * The agent's local HTTP API (loopback by default). Bad input gets a 4xx naming the problem;
 * nothing a client sends can take the agent down. Plain node:http: on a small board every
 * microsecond of framework on the hot path is paid on every request. Routes, bodies and status
 * codes are documented in docs/DEVICE.md.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { InputError } from '@edgeml/runtime';
import type { Logger } from '@edgeml/core';
import { Batcher } from './batcher.js';
import { BodyError, readBody } from './body.js';
import { answerBuffer, checkCompactHeaders, COMPACT_TYPE, CompactError, compactRows, encodeOutputs, isCompact, notFinite, OUTPUTS_HEADER, ROWS_HEADER } from './compact.js';
import { checkFeedback, type Feedback } from './feedback.js';
import { createApiMetrics } from './metrics.js';
import { NoModelError, type Predictor } from './predictor.js';

export interface ApiOptions {
  host: string;
  port: number;
  token?: string;
  /** Host names accepted in Host and Origin besides loopback and `host`; "*" accepts any. */
  allowedHosts?: readonly string[];
  predictor: Predictor;
  log: Logger;
  health: () => Record<string, unknown>;
  /** Largest request body accepted (default 1 MiB); more gets 413. */
  maxBodyBytes?: number;
  /** Merge concurrent predict requests into one runtime call (default on, up to 256 rows). */
  batching?: { maxRows?: number } | false;
  /** Receives each valid feedback; a rejection makes the request fail with 503. */
  onFeedback?: (feedback: Feedback) => void | Promise<void>;
  /** Process metrics (CPU, memory, event loop, GC) on /metrics; default on. */
  processMetrics?: boolean;
  /**
   * Predict requests being read or waiting at once (default 64); more get 503 with Retry-After.
   * Each holds its body in memory: this, times the body limit, bounds what load can pin.
   */
  maxInFlight?: number;
}

export interface Api {
  server: Server;
  url: string;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

type Method = 'GET' | 'POST';
/** `t0` is when the request arrived (performance.now()), for the duration histogram. */
type Handler = (req: IncomingMessage, res: ServerResponse, route: string, t0: number) => Promise<void> | void;

async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const raw = await readBody(req, limit);
  if (raw.length === 0) throw new HttpError(400, 'the request has no body; send a JSON object');
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (e) {
    // JSON has no NaN or Infinity: a body holding them lands here.
    throw new HttpError(400, `body is not valid JSON: ${(e as Error).message}`);
  }
}

/** `{"rows": [...]}` for a batch, `{"row": ...}` for one; a row is an array or named features. */
function rowsOf(body: unknown): unknown[] {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new HttpError(400, 'body must be a JSON object with "row" (one row) or "rows" (a batch)');
  }
  const b = body as Record<string, unknown>;
  const extra = Object.keys(b).filter((k) => k !== 'row' && k !== 'rows');
  if (extra.length) throw new HttpError(400, `unknown field${extra.length > 1 ? 's' : ''} ${extra.map((k) => `"${k.slice(0, 40)}"`).join(', ')}; send "row" or "rows"`);
  if ('rows' in b) {
    if ('row' in b) throw new HttpError(400, 'send either "row" or "rows", not both');
    if (!Array.isArray(b.rows)) throw new HttpError(400, '"rows" must be an array of rows');
    if (b.rows.length === 0) throw new HttpError(400, '"rows" is empty');
    return b.rows;
  }
  if ('row' in b) return [b.row];
  throw new HttpError(400, 'body must have "row" (one row) or "rows" (a batch)');
}

const LOOPBACK = ['localhost', '127.0.0.1', '::1'];

/** The host name of a Host header or an origin's authority, lower case, without port or brackets. */
function hostName(authority: string): string {
  const a = authority.trim().toLowerCase();
  if (a.startsWith('[')) return a.slice(1, a.indexOf(']') < 0 ? undefined : a.indexOf(']'));
  const colon = a.lastIndexOf(':');
  return colon < 0 ? a : a.slice(0, colon);
}

/**
 * The API is for programs on the device. A browser on the device will send requests for any
 * page it shows, but it names that page in Origin, and a DNS-rebinding page in Host: both must
 * be a loopback name, the listening address, or a configured name. Returns why a request is
 * refused, or undefined.
 */
function hostCheck(bind: string, extra: readonly string[] = []): (req: IncomingMessage) => string | undefined {
  if (extra.includes('*')) return () => undefined;
  const allowed = new Set([...LOOPBACK, ...extra.map((h) => hostName(h))]);
  if (bind !== '0.0.0.0' && bind !== '::') allowed.add(hostName(bind.includes(':') && !bind.startsWith('[') ? `[${bind}]` : bind));
  const hint = 'add it to "api.allowedHosts" in the agent config if it should reach the API';
  return (req) => {
    const host = req.headers.host;
    if (host !== undefined && !allowed.has(hostName(host))) return `Host "${host.slice(0, 100)}" is not one this API answers to; ${hint}`;
    const origin = req.headers.origin;
    if (origin === undefined) return undefined;
    let name: string;
    try {
      name = hostName(new URL(origin).host);
    } catch {
      return `Origin "${origin.slice(0, 100)}" is not allowed; ${hint}`;
    }
    return allowed.has(name) ? undefined : `Origin "${origin.slice(0, 100)}" is not allowed; ${hint}`;
  };
}

export async function startApi(opts: ApiOptions): Promise<Api> {
  const { predictor, log } = opts;
  const limit = opts.maxBodyBytes ?? 1 << 20;
  const token = opts.token ? Buffer.from(`Bearer ${opts.token}`) : undefined;
  const authorized = (req: IncomingMessage) => {
    if (!token) return true;
    const got = Buffer.from(req.headers.authorization ?? '');
    return got.length === token.length && timingSafeEqual(got, token);
  };
  const metrics = createApiMetrics(predictor, { defaultMetrics: opts.processMetrics !== false });
  const batcher = opts.batching === false ? undefined : new Batcher(predictor, { maxRows: opts.batching?.maxRows ?? 256, onFlush: (n, rows) => metrics.merged(n, rows) });

  const send = (res: ServerResponse, route: string, t0: number, status: number, body: unknown, headers: Record<string, string> = {}) => {
    // Encoded once: the length is the bytes', and the socket gets bytes, not a string to encode again.
    const bytes = Buffer.from(JSON.stringify(body), 'utf8');
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': bytes.length, ...headers });
    res.end(bytes);
    metrics.request(route, status, (performance.now() - t0) / 1000);
  };

  const maxInFlight = opts.maxInFlight ?? 64;
  let inFlight = 0;
  /**
   * A compact body in, float32 outputs out, with no JSON and no object per row (compact.ts): the
   * body is read into one buffer (or kept as the one chunk it came in), viewed as float32 rows,
   * checked and standardised in place in one pass, and the runtime writes its outputs straight
   * into the answer's bytes, sent with one end() and a content-length.
   */
  const predictCompact = async (req: IncomingMessage, res: ServerResponse, route: string, t0: number) => {
    const m = predictor.active;
    if (!m) throw new NoModelError();
    const width = m.release.spec.features.length;
    checkCompactHeaders(req, width, limit);
    const body = await readBody(req, limit);
    // The model may have changed while the body arrived: check against the one that runs it.
    const now = predictor.active;
    if (!now) throw new NoModelError();
    if (now.release.spec.features.length !== width) throw new CompactError(409, 'model-changed', 'the model changed while the request was read; ask /v1/model and send again');
    const { x, n } = compactRows(body, width);
    // From here to the answer nothing awaits, so `now` is the model that runs these rows.
    const k = now.runtime.info.outputSize;
    const values = n * k;
    const answer = answerBuffer(values);
    const done = predictor.predictValues(x, n, answer.view);
    if (!done.ok) throw notFinite(x, done.notFinite, width);
    const { model, outputs } = done;
    const out = answer.view ?? outputs;
    // A runtime that does not take `out` returns its own array.
    if (answer.view && (outputs.buffer !== answer.view.buffer || outputs.byteOffset !== 0)) answer.view.set(outputs.subarray(0, values));
    const target = model.release.spec.task === 'classification' ? undefined : model.release.spec.preprocessing.target;
    // Regression values go out in the target's units, as the JSON path writes them.
    if (target) for (let i = 0; i < values; i++) out[i] = out[i]! * target.std + target.mean;
    if (!answer.view) encodeOutputs(out, values, answer.bytes);
    res.writeHead(200, {
      'content-type': COMPACT_TYPE,
      'content-length': answer.bytes.length,
      [OUTPUTS_HEADER]: String(k),
      [ROWS_HEADER]: String(n),
      'x-edgeml-model': model.release.model,
      'x-edgeml-version': String(model.release.version),
    });
    res.end(answer.bytes);
    metrics.request(route, 200, (performance.now() - t0) / 1000);
  };

  const routes: Record<string, Partial<Record<Method, Handler>>> = {
    '/v1/predict': {
      async POST(req, res, route, t0) {
        if (inFlight >= maxInFlight) throw new HttpError(503, `${maxInFlight} predict requests are already in progress; retry shortly`, { 'retry-after': '1' });
        inFlight++;
        try {
          if (isCompact(req)) return await predictCompact(req, res, route, t0);
          const rows = rowsOf(await readJson(req, limit));
          // Awaited on both paths: the telemetry journal writes its record in a microtask queued
          // while the prediction was served, so it is on disk before this answer (journal.ts).
          const result = await (batcher ? batcher.submit(rows) : predictor.predict(rows));
          send(res, route, t0, 200, result);
        } finally {
          inFlight--;
        }
      },
    },
    '/v1/feedback': {
      async POST(req, res, route, t0) {
        const body = await readJson(req, limit);
        const m = predictor.active;
        if (!m) throw new NoModelError();
        const checked = checkFeedback(body, m.release.spec);
        if (!checked.ok) throw new HttpError(checked.status, checked.error);
        const feedback: Feedback = { ...checked.value, model: m.release.model, version: m.release.version, receivedAt: new Date().toISOString() };
        try {
          await opts.onFeedback?.(feedback);
        } catch (e) {
          // The recorder may say what is wrong with the feedback itself (an unknown prediction id).
          const status = (e as { status?: unknown }).status;
          if (status === 404 || status === 409) throw new HttpError(status, (e as Error).message);
          log.warn('feedback not recorded', { error: (e as Error).message });
          throw new HttpError(503, `feedback could not be recorded: ${(e as Error).message}`);
        }
        metrics.feedback();
        send(res, route, t0, 202, { accepted: true, predictionId: feedback.predictionId });
      },
    },
    '/v1/health': {
      GET(_req, res, route, t0) {
        send(res, route, t0, 200, opts.health());
      },
    },
    '/v1/model': {
      GET(_req, res, route, t0) {
        const m = predictor.active;
        if (!m) throw new NoModelError();
        const r = m.release;
        send(res, route, t0, 200, {
          model: r.model,
          version: r.version,
          channel: r.channel,
          created: r.created,
          sha256: r.artifact.sha256,
          format: r.artifact.format,
          runtime: m.runtime.info.runtime,
          spec: r.spec,
          budgets: r.budgets,
          validation: r.validation,
        });
      },
    },
    '/metrics': {
      async GET(_req, res, route, t0) {
        const text = await metrics.text();
        res.writeHead(200, { 'content-type': metrics.contentType, 'content-length': Buffer.byteLength(text) });
        res.end(text);
        metrics.request(route, 200, (performance.now() - t0) / 1000);
      },
    },
  };

  const sameSite = hostCheck(opts.host, opts.allowedHosts);
  const dispatch = async (req: IncomingMessage, res: ServerResponse, path: string, methods: Partial<Record<Method, Handler>> | undefined, route: string, t0: number) => {
    const foreign = sameSite(req);
    if (foreign) throw new HttpError(403, foreign);
    if (!authorized(req)) throw new HttpError(401, 'missing or wrong bearer token', { 'www-authenticate': 'Bearer' });
    if (!methods) throw new HttpError(404, `no route ${path.slice(0, 100)}; the API has ${Object.keys(routes).join(', ')}`);
    // HEAD is GET without the body (node drops it).
    const handler = methods[(req.method === 'HEAD' ? 'GET' : req.method) as Method];
    if (!handler) {
      const allow = Object.keys(methods).join(', ');
      throw new HttpError(405, `${path} takes ${allow}, not ${req.method}`, { allow });
    }
    await handler(req, res, route, t0);
  };

  const fail = (req: IncomingMessage, res: ServerResponse, route: string, t0: number, e: unknown) => {
    // Nothing can be answered on a response already begun or a connection already gone.
    if (res.headersSent || res.destroyed || req.socket.destroyed) {
      res.destroy();
      return;
    }
    if (e instanceof HttpError || e instanceof BodyError) {
      // After a refused oversized body the rest of the stream is not worth keeping open for.
      const given = e instanceof HttpError ? e.headers : {};
      const headers = e.status === 413 ? { ...given, connection: 'close' } : given;
      return send(res, route, t0, e.status, { error: e.message }, headers);
    }
    if (e instanceof CompactError) {
      // Past a refused body's headers, the rest of its bytes are not worth reading.
      return send(res, route, t0, e.status, { error: e.message, code: e.code }, e.status === 413 ? { connection: 'close' } : {});
    }
    if (e instanceof InputError) return send(res, route, t0, 422, { error: e.message });
    if (e instanceof NoModelError) return send(res, route, t0, 503, { error: e.message });
    log.error('request failed', { method: req.method, route, error: (e as Error)?.stack ?? String(e) });
    send(res, route, t0, 500, { error: 'internal error' });
  };

  const server = createServer((req, res) => {
    const t0 = performance.now();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const methods = Object.hasOwn(routes, path) ? routes[path] : undefined;
    // Metrics label by known route only: arbitrary paths must not grow the label set.
    const route = methods ? path : 'other';
    dispatch(req, res, path, methods, route, t0).catch((e: unknown) => fail(req, res, route, t0, e));
  });
  // A client that trickles its request in cannot hold a connection for long.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  server.on('clientError', (err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy(err);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    server,
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        metrics.stop();
        batcher?.flush();
        server.close(() => resolve());
        // Idle keep-alive connections would otherwise hold close() open until they time out.
        server.closeIdleConnections();
      }),
  };
}

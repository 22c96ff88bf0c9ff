/**
 * The dashboard's side of the HTTP API: the page itself (static files built by hub/ui/build.mjs,
 * public: they hold no data), and the read routes it needs beyond /v1/fleet and /v1/rollouts:
 * who the token is, the event feed, its live stream, and per-version series for the charts.
 * Every /v1/ route here takes a bearer token like the rest of the API (security/api-auth.ts).
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { describeZodError } from '@edgeml/core';
import type { Registry } from '../registry/registry.js';
import { send } from '../security/http.js';
import type { LiveFeed } from './live.js';
import { SeriesQuerySchema } from './series.js';

/** Where `npm run build` puts the bundle: hub/ui-dist, beside this package's dist. */
export const DEFAULT_UI_DIR = fileURLToPath(new URL('../../ui-dist/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

// The page loads nothing but its own files and talks only to this hub.
const PAGE_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

export interface WebDeps {
  registry: Registry;
  live: LiveFeed;
  uiDir?: string;
  authorize(req: IncomingMessage, path: string): { status: number; error: string } | undefined;
  /** The kind of the request's token and the API actions it may take. */
  whoami(req: IncomingMessage): { kind: string; actions: string[] } | undefined;
}

const FeedQuerySchema = z.object({ limit: z.coerce.number().int().min(1).max(500).default(100) });

const query = (req: IncomingMessage) => Object.fromEntries(new URL(req.url ?? '/', 'http://hub').searchParams);

async function serveStatic(dir: string, file: string, res: ServerResponse): Promise<void> {
  let body: Buffer;
  try {
    body = await readFile(join(dir, file));
  } catch {
    if (file === 'index.html') {
      return send(res, 503, 'The dashboard is not built: run `npm run build` in the edgeml repository (it bundles hub/ui into hub/ui-dist).\n', 'text/plain; charset=utf-8');
    }
    return send(res, 404, { error: `no file ${file}` });
  }
  res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': body.length, 'cache-control': file === 'index.html' ? 'no-cache' : 'public, max-age=300', ...PAGE_HEADERS });
  res.end(body);
}

export function webRoutes(d: WebDeps): (req: IncomingMessage, res: ServerResponse, path: string) => Promise<boolean> {
  const dir = d.uiDir ?? DEFAULT_UI_DIR;
  return async (req, res, path) => {
    if (req.method === 'GET' && (path === '/' || path === '/index.html')) {
      await serveStatic(dir, 'index.html', res);
      return true;
    }
    const asset = /^\/assets\/([A-Za-z0-9._-]{1,100})$/.exec(path);
    if (req.method === 'GET' && asset) {
      await serveStatic(dir, asset[1]!, res);
      return true;
    }
    const series = /^\/v1\/models\/([^/]+)\/series$/.exec(path);
    const mine = req.method === 'GET' && (path === '/v1/whoami' || path === '/v1/events' || path === '/v1/events/stream' || path === '/v1/models' || series);
    if (!mine) return false;
    const denied = d.authorize(req, path);
    if (denied) {
      send(res, denied.status, { error: denied.error });
      return true;
    }
    if (path === '/v1/whoami') send(res, 200, d.whoami(req));
    else if (path === '/v1/models') send(res, 200, modelList(d.registry));
    else if (path === '/v1/events/stream') {
      if (!d.live.open(res)) send(res, 503, { error: 'too many dashboard streams open; try again later' });
    } else if (path === '/v1/events') {
      const q = FeedQuerySchema.safeParse(query(req));
      if (!q.success) send(res, 400, { error: describeZodError(q.error) });
      else send(res, 200, d.registry.events.recent(q.data.limit));
    } else if (series) {
      const model = decodeURIComponent(series[1]!);
      const q = SeriesQuerySchema.safeParse(query(req));
      if (!q.success) send(res, 400, { error: describeZodError(q.error) });
      else send(res, 200, d.registry.series.series(model, q.data, (v) => d.registry.getVersion(model, v)?.envelope.signed.reference));
    }
    return true;
  };
}

/** Each model, with how many versions it has and its newest. */
function modelList(registry: Registry): { model: string; versions: number; latest: number | null }[] {
  const by = new Map<string, { model: string; versions: number; latest: number | null }>();
  for (const v of registry.listVersions()) {
    const m = by.get(v.model) ?? { model: v.model, versions: 0, latest: null };
    m.versions++;
    m.latest = Math.max(m.latest ?? 0, v.version);
    by.set(v.model, m);
  }
  return [...by.values()].sort((a, b) => a.model.localeCompare(b.model));
}

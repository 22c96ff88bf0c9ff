/**
 * HTTP routes of retraining: start a run by hand, read runs and a version's lineage.
 * `POST /v1/models/{model}/retrain` needs a token that may publish (a run may end in a release).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isEdgemlError } from '@edgeml/core';
import type { Registry } from '../registry/registry.js';
import { send } from '../security/http.js';
import type { Retrainer } from './retrainer.js';

export interface RetrainRoutesDeps {
  registry: Registry;
  retrainer: Retrainer;
  authorize(req: IncomingMessage, path: string): { status: number; error: string } | undefined;
}

export function retrainRoutes(d: RetrainRoutesDeps): (req: IncomingMessage, res: ServerResponse, path: string) => Promise<boolean> {
  return (req, res, path) => {
    const m = /^\/v1\/models\/([^/]+)\/(retrain|retrain-runs|retrain-runs\/(\d+)|lineage\/(\d+))$/.exec(path);
    if (!m) return Promise.resolve(false);
    const post = m[2] === 'retrain';
    if ((post && req.method !== 'POST') || (!post && req.method !== 'GET')) return Promise.resolve(false);
    const denied = d.authorize(req, path);
    if (denied) {
      send(res, denied.status, { error: denied.error });
      return Promise.resolve(true);
    }
    const model = decodeURIComponent(m[1]!);
    try {
      if (post) send(res, 202, d.retrainer.request(model));
      else if (m[3] !== undefined) {
        const run = d.registry.lineage.run(Number(m[3]));
        if (run && run.model === model) send(res, 200, run);
        else send(res, 404, { error: `no retraining run ${m[3]} of ${model}` });
      } else if (m[4] !== undefined) {
        const l = d.registry.lineage.lineage(model, Number(m[4]));
        if (l) send(res, 200, l);
        else send(res, 404, { error: `no lineage of ${model} v${m[4]}` });
      } else send(res, 200, d.registry.lineage.runs(model));
    } catch (e) {
      if (!isEdgemlError(e)) throw e;
      send(res, e.code === 'not-found' ? 404 : 409, { error: e.message, code: e.code });
    }
    return Promise.resolve(true);
  };
}

/**
 * The hub's HTTP API for people and CI: publish a release, run and steer rollouts, roll back,
 * read the fleet. Everything but /metrics and artifacts needs a bearer token of a kind that
 * may do it (security/api-auth.ts).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { ArtifactFormatSchema, BudgetsSchema, DriftReferenceSchema, ModelSpecSchema, ReleaseSchema, describeZodError, isEdgemlError, type Logger } from '@edgeml/core';
import type { HubEvents } from '../events/bus.js';
import type { RolloutController } from '../rollout/controller.js';
import type { Registry, VersionRecord } from '../registry/registry.js';
import type { Rollout } from '../registry/rollout-store.js';
import type { PublishInput, PublishOptions } from '../release/publisher.js';
import { readReleaseBody } from '../release/upload.js';
import { callerOf } from '../security/api-auth.js';
import { readJson, send } from '../security/http.js';
import type { ArtifactStore } from '../store/artifacts.js';

const name = z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, "letters, digits, '.', '_' or '-' (it becomes an MQTT topic level)");

export const PublishRequestSchema = z.object({
  model: name,
  channel: name.default('stable'),
  task: z.string(),
  format: ArtifactFormatSchema,
  runtime: z.string(),
  spec: ModelSpecSchema,
  validation: z.record(z.string(), z.number()),
  budgets: BudgetsSchema.default({}),
  selfTest: ReleaseSchema.shape.selfTest,
  reference: DriftReferenceSchema.optional(),
  metrics: z.record(z.string(), z.unknown()).optional(),
  /** The artifact, base64: decoded into the store as the body arrives (release/upload.ts), and blank here. */
  artifact: z.literal('', { message: 'artifact: give it once, as a plain base64 string' }),
  /** A digest of the inputs (data, config): the same inputs never publish a second version. */
  fingerprint: z.string().optional(),
  /** Start a staged rollout instead of publishing to the whole channel at once. */
  rollout: z.unknown().optional(),
});

export interface HubOps {
  registry: Registry;
  controller: RolloutController;
  /** undefined when the request may go on, else the refusal to send. */
  authorize(req: IncomingMessage, path: string): { status: number; error: string } | undefined;
  /** Publish, and start the rollout in the same transaction when `opts.rollout` is given. */
  release(input: PublishInput, opts: PublishOptions): Promise<{ rec: VersionRecord; rollout: Rollout | undefined }>;
  rollback(model: string, to?: number): Promise<VersionRecord>;
  fleet(): unknown;
  metrics(): Promise<{ contentType: string; body: string }>;
  artifactPath(sha256: string): Promise<string | undefined>;
  /** Where a release request's artifact is decoded to as it arrives. */
  store: ArtifactStore;
  /** Where a gate failure CI reports is told to the team (webhooks, the dashboard). */
  events?: HubEvents;
  log?: Logger;
}

/** What `edgeml release` reports when a gate refused a candidate: bounded, never trusted further. */
const GateFailureSchema = z.object({
  model: name,
  fingerprint: z.string().max(128).optional(),
  gates: z
    .array(z.object({ gate: z.string().max(64), measured: z.number().nullable(), limit: z.number(), message: z.string().max(300) }))
    .min(1)
    .max(32),
});

/** Artifacts are public: they are signed, and devices fetch them with nothing but the URL. */
async function serveArtifact(ops: HubOps, req: IncomingMessage, res: ServerResponse, sha: string): Promise<void> {
  const path = await ops.artifactPath(sha);
  if (!path) return send(res, 404, { error: `no artifact ${sha}` });
  const size = (await stat(path)).size;
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const start = m ? Number(m[1]) : 0;
  if (start >= size && size > 0) return send(res, 416, { error: 'range not satisfiable' });
  res.writeHead(m ? 206 : 200, {
    'content-type': 'application/octet-stream',
    'content-length': size - start,
    'accept-ranges': 'bytes',
    ...(m ? { 'content-range': `bytes ${start}-${size - 1}/${size}` } : {}),
  });
  // A file that vanishes or fails mid-read must end this response, not the hub.
  const file = createReadStream(path, { start });
  file.on('error', (e) => {
    ops.log?.warn('artifact read failed', { sha256: sha, error: e.message });
    res.destroy(e);
  });
  file.pipe(res);
}

const versionView = ({ envelope, ...v }: VersionRecord) => ({ ...v, expires: envelope.signed.expires });

export function hubRoutes(ops: HubOps): (req: IncomingMessage, res: ServerResponse, path: string) => Promise<boolean> {
  return async (req, res, path) => {
    if (req.method === 'GET' && path === '/metrics') {
      const m = await ops.metrics();
      send(res, 200, m.body, m.contentType);
      return true;
    }
    const artifact = /^\/v1\/artifacts\/([0-9a-f]{64})$/.exec(path);
    if (req.method === 'GET' && artifact) {
      await serveArtifact(ops, req, res, artifact[1]!);
      return true;
    }
    if (!path.startsWith('/v1/') || path === '/v1/enroll') return false;
    const denied = ops.authorize(req, path);
    if (denied) {
      send(res, denied.status, { error: denied.error });
      return true;
    }
    try {
      await route(ops, req, res, path);
    } catch (e) {
      if (isEdgemlError(e)) send(res, e.exitCode === 2 ? 400 : 409, { error: e.message, code: e.code });
      else if (e instanceof z.ZodError) send(res, 400, { error: describeZodError(e) });
      else throw e;
    }
    return true;
  };
}

async function route(ops: HubOps, req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  const { registry, controller } = ops;
  const m = /^\/v1\/rollouts\/(\d+)\/(pause|resume|abort)$/.exec(path);
  if (req.method === 'POST' && m) return send(res, 200, controller.request(Number(m[1]), m[2] as 'pause' | 'resume' | 'abort'));
  if (req.method === 'POST' && path === '/v1/releases') {
    const upload = await readReleaseBody(req, ops.store, 64 << 20);
    const body = PublishRequestSchema.parse(upload.body);
    if (!upload.artifact) return send(res, 400, { error: 'artifact: required, as a base64 string' });
    const existing = body.fingerprint ? registry.versionByFingerprint(body.model, body.fingerprint) : undefined;
    // A retry after a hub that died mid-publish gets the version and the rollout it started.
    if (existing) return send(res, 200, { duplicate: true, version: versionView(existing), rollout: registry.rollouts.list(existing.model).find((r) => r.version === existing.version) ?? null });
    const { artifact: _blank, fingerprint, rollout, ...rest } = body;
    const { rec, rollout: started } = await ops.release({ ...rest, artifact: upload.artifact }, { ...(rollout !== undefined ? { rollout } : {}), ...(fingerprint ? { fingerprint } : {}), by: callerOf(req) });
    return send(res, 201, { duplicate: false, version: versionView(rec), rollout: started ?? null });
  }
  if (req.method === 'POST' && path === '/v1/releases/gate-failed') {
    const body = GateFailureSchema.parse(await readJson(req));
    const by = callerOf(req);
    ops.events?.emit({
      type: 'gate.failed',
      summary: `${body.model}: a release candidate failed ${body.gates.map((g) => g.gate).join(', ')} in CI (${by})`,
      model: body.model,
      data: { stage: 'release', by, fingerprint: body.fingerprint ?? null, gates: body.gates },
    });
    return send(res, 202, { reported: true });
  }
  if (req.method === 'POST' && path === '/v1/rollouts') {
    const body = z.object({ model: z.string(), version: z.number().int(), plan: z.unknown().optional() }).parse(await readJson(req));
    return send(res, 201, controller.create(body.model, body.version, body.plan ?? {}));
  }
  if (req.method === 'GET' && path === '/v1/rollouts') return send(res, 200, registry.rollouts.list());
  const one = /^\/v1\/rollouts\/(\d+)$/.exec(path);
  if (req.method === 'GET' && one) {
    const r = registry.rollouts.get(Number(one[1]));
    return r ? send(res, 200, r) : send(res, 404, { error: `no rollout ${one[1]}` });
  }
  if (req.method === 'POST' && path === '/v1/rollback') {
    const body = z.object({ model: z.string(), to: z.number().int().positive().optional() }).parse(await readJson(req));
    return send(res, 200, versionView(await ops.rollback(body.model, body.to)));
  }
  const feedback = /^\/v1\/models\/([^/]+)\/feedback$/.exec(path);
  if (req.method === 'GET' && feedback) return send(res, 200, registry.fleet.labelledRows(decodeURIComponent(feedback[1]!)));
  const versions = /^\/v1\/models\/([^/]+)\/versions$/.exec(path);
  if (req.method === 'GET' && versions) {
    const model = decodeURIComponent(versions[1]!);
    // Each version with where it came from: a release (and who published it) or a retraining run.
    return send(res, 200, registry.listVersions(model).map((v) => {
      const l = registry.lineage.lineage(model, v.version);
      return { ...versionView(v), origin: l ? { trigger: l.trigger, parentVersion: l.parentVersion, runId: l.runId } : null };
    }));
  }
  if (req.method === 'GET' && path === '/v1/fleet') return send(res, 200, ops.fleet());
  send(res, 404, { error: `no route ${req.method} ${path}` });
}

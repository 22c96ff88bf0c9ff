/**
 * Who may call which HTTP API route. Tokens come in kinds: `ci` publishes and starts rollouts,
 * `operator` reads and steers (pause, resume, abort) rollouts, `admin` does everything. The
 * hub's own admin secret (secrets.json) is an admin token. Every route names one action; a
 * route nobody mapped is admin-only, so a new route is closed until someone opens it.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { apiTokenKinds, type ApiTokenKind, type TokenStore } from '../registry/token-store.js';
import { checkSecret, hashSecret, newSecret, sameSecret } from './credentials.js';

export type ApiAction = 'read' | 'read-feedback' | 'publish' | 'start-rollout' | 'steer-rollout' | 'rollback' | 'manage-devices';

const grants: Record<ApiTokenKind, ReadonlySet<ApiAction>> = {
  ci: new Set<ApiAction>(['read', 'read-feedback', 'publish', 'start-rollout']),
  operator: new Set<ApiAction>(['read', 'steer-rollout']),
  admin: new Set<ApiAction>(['read', 'read-feedback', 'publish', 'start-rollout', 'steer-rollout', 'rollback', 'manage-devices']),
};

/** What a token of this kind may do (the dashboard shows only these actions). */
export const actionsOf = (kind: ApiTokenKind): ApiAction[] => [...grants[kind]];

/** The action a request performs; `manage-devices` (admin only) for anything unlisted. */
export function actionOf(method: string, path: string): ApiAction {
  if (method === 'GET') {
    if (/^\/v1\/models\/[^/]+\/feedback$/.test(path)) return 'read-feedback';
    if (path === '/v1/devices' || path.startsWith('/v1/devices/')) return 'manage-devices';
    return 'read';
  }
  if (method === 'POST') {
    if (path === '/v1/releases') return 'publish';
    // What CI found wrong with a release it did not publish: said by whoever may publish.
    if (path === '/v1/releases/gate-failed') return 'publish';
    // A retrain may end in a release: the same right as publishing one.
    if (/^\/v1\/models\/[^/]+\/retrain$/.test(path)) return 'publish';
    if (path === '/v1/rollouts') return 'start-rollout';
    if (/^\/v1\/rollouts\/\d+\/(pause|resume|abort)$/.test(path)) return 'steer-rollout';
    if (path === '/v1/rollback') return 'rollback';
  }
  return 'manage-devices';
}

/** `<kind>-<12 hex>.<secret>`: the id before the dot is public (lists, revocation), the secret is not. */
export function newApiToken(kind: ApiTokenKind): { id: string; token: string; secretHash: string } {
  const id = `${kind}-${randomBytes(6).toString('hex')}`;
  const secret = newSecret(32);
  return { id, token: `${id}.${secret}`, secretHash: hashSecret(secret) };
}

/** The id of an API token, given the token itself or its id. */
export function apiTokenId(tokenOrId: string): string | undefined {
  const id = tokenOrId.split('.')[0]!;
  return /^(ci|operator|admin)-[0-9a-f]{12}$/.test(id) ? id : undefined;
}

export interface ApiAuthDeps {
  adminSecret: string;
  tokens: TokenStore;
  now?: () => Date;
}

/**
 * Who made an authorised request, as the registry records it: an API token's public id (never
 * its secret), or the hub's own admin secret.
 */
export function callerOf(req: IncomingMessage): string {
  const header = req.headers.authorization ?? '';
  const bearer = header.startsWith('Bearer ') ? header.slice(7).trim() : '';
  return (bearer.includes('.') ? apiTokenId(bearer) : undefined) ?? 'the admin secret';
}

/** The kind of a bearer token, or undefined when it is unknown, revoked or expired. */
export function tokenKind(bearer: string, d: ApiAuthDeps): ApiTokenKind | undefined {
  if (sameSecret(bearer, d.adminSecret)) return 'admin';
  const dot = bearer.indexOf('.');
  const id = dot > 0 ? apiTokenId(bearer) : undefined;
  if (!id) return undefined;
  const rec = d.tokens.apiToken(id);
  if (!rec || rec.revokedAt !== null || !apiTokenKinds.includes(rec.kind)) return undefined;
  if (!(Date.parse(rec.expiresAt) > (d.now?.() ?? new Date()).getTime())) return undefined;
  return checkSecret(bearer.slice(dot + 1), rec.secretHash) ? rec.kind : undefined;
}

/** undefined when the request may go on; otherwise the status and error to answer with. */
export function authorizeRequest(req: IncomingMessage, path: string, d: ApiAuthDeps): { status: 401 | 403; error: string } | undefined {
  const header = req.headers.authorization ?? '';
  const bearer = header.startsWith('Bearer ') ? header.slice(7).trim() : '';
  const kind = bearer ? tokenKind(bearer, d) : undefined;
  if (!kind) return { status: 401, error: 'missing, unknown, revoked or expired token (Authorization: Bearer ...)' };
  const action = actionOf(req.method ?? 'GET', path);
  if (!grants[kind].has(action)) return { status: 403, error: `a ${kind} token may not ${action.replace('-', ' ')}; ask for a token of a kind that may` };
  return undefined;
}

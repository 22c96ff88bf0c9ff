/**
 * Device identities over the HTTP API (admin tokens only, see api-auth.ts): list them, revoke
 * one (credentials gone, connection dropped, id blocked), and unblock a revoked id so it can
 * enrol again.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { validName } from '@edgeml/core';
import type { Registry } from '../registry/registry.js';
import { send } from './http.js';

export interface DeviceRoutesDeps {
  registry: Registry;
  authorize(req: IncomingMessage, path: string): { status: number; error: string } | undefined;
  revoke(deviceId: string): Promise<{ existed: boolean; disconnected: number }>;
}

export interface DeviceListEntry {
  id: string;
  enrolledAt: string | null;
  revokedAt: string | null;
  online: boolean;
  lastSeen: string | null;
}

export function listDeviceIdentities(registry: Registry): DeviceListEntry[] {
  return registry.tokens.listIdentities().map((i) => {
    const d = i.revokedAt ? undefined : registry.getDevice(i.id);
    return { ...i, online: d?.online ?? false, lastSeen: d?.lastSeen ?? null };
  });
}

export function deviceRoutes(d: DeviceRoutesDeps): (req: IncomingMessage, res: ServerResponse, path: string) => Promise<boolean> {
  return async (req, res, path) => {
    const one = /^\/v1\/devices\/([^/]+)\/(revoke|unblock)$/.exec(path);
    if (!(path === '/v1/devices' && req.method === 'GET') && !(one && req.method === 'POST')) return false;
    const denied = d.authorize(req, path);
    if (denied) {
      send(res, denied.status, { error: denied.error });
      return true;
    }
    if (!one) {
      send(res, 200, listDeviceIdentities(d.registry));
      return true;
    }
    const id = decodeURIComponent(one[1]!);
    try {
      validName('device id', id);
    } catch (e) {
      send(res, 400, { error: (e as Error).message });
      return true;
    }
    if (one[2] === 'revoke') {
      const out = await d.revoke(id);
      send(res, 200, { deviceId: id, revoked: true, ...out });
    } else {
      const unblocked = d.registry.tokens.unblockDevice(id);
      send(res, unblocked ? 200 : 404, unblocked ? { deviceId: id, unblocked: true } : { error: `device id "${id}" is not revoked` });
    }
    return true;
  };
}

type Handler = (req: IncomingMessage, res: ServerResponse, path: string) => Promise<boolean>;

/** Try each handler in turn; the first that takes the path answers. */
export function chainRoutes(...handlers: Handler[]): Handler {
  return async (req, res, path) => {
    for (const h of handlers) if (await h(req, res, path)) return true;
    return false;
  };
}

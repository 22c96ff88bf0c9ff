/**
 * Talking to a running hub over its HTTP API, as `edgeml release`, `rollout` and `rollback` do.
 * The admin token comes from --token, EDGEML_HUB_TOKEN, or the hub's data dir on this machine.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { EdgemlError, checkFailed, parseHubUrl, userError } from '@edgeml/core';

export interface HubFlags {
  hub: string;
  token?: string;
  dataDir?: string;
}

async function adminToken(o: HubFlags): Promise<string> {
  const token = o.token ?? process.env.EDGEML_HUB_TOKEN;
  if (token) return token;
  const file = join(resolve(o.dataDir ?? '.edgeml/hub'), 'secrets.json');
  try {
    return (JSON.parse(await readFile(file, 'utf8')) as { admin: string }).admin;
  } catch {
    throw userError('no-token', `no hub admin token: pass --token, set EDGEML_HUB_TOKEN, or run on the hub machine with --data-dir (looked in ${file})`);
  }
}

export async function hubRequest<T>(o: HubFlags, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const base = parseHubUrl(o.hub);
  const token = await adminToken(o);
  let res: Response;
  try {
    res = await fetch(new URL(path, base), {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (e) {
    throw new EdgemlError('hub-unreachable', `cannot reach the hub at ${o.hub}: ${(e as Error).message}`, { transient: true, exitCode: 2 });
  }
  // The hub's warnings (a release key about to expire) reach whoever runs the command, CI included.
  const warning = res.headers.get('x-edgeml-warning');
  if (warning) process.stderr.write(`warning from the hub: ${warning}\n`);
  const json = (await res.json().catch(() => ({}))) as T & { error?: string };
  if (res.status === 401) throw userError('hub-auth', `the hub refused the admin token: ${json.error ?? ''}`);
  if (res.status >= 400 && res.status < 500) throw userError('hub-refused', `the hub refused ${method} ${path} (${res.status}): ${json.error ?? 'no reason given'}`);
  if (res.status >= 500) throw checkFailed('hub-error', `the hub failed on ${method} ${path} (${res.status}): ${json.error ?? ''}`);
  return { status: res.status, body: json };
}

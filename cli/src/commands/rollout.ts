/**
 * `edgeml rollout` and `edgeml rollback`: staged rollouts on a running hub, and going back.
 */
import { checkFailed, userError } from '@edgeml/core';
import type { Rollout } from '@edgeml/hub';
import { formatTable } from '../output/table.js';
import { parseDuration } from './sign.js';
import { hubRequest, type HubFlags } from './hub-client.js';
import { printJson } from './options.js';

export interface RolloutFlags extends HubFlags {
  canary?: string;
  canaryTags?: string;
  waves?: string;
  soak?: string;
  benchmark: boolean;
  benchP95Ms?: number;
  maxP95Ms?: number;
  maxErrorRate?: number;
  minLiveAccuracy?: number;
  maxAccuracyDrop?: number;
  maxDrift?: number;
  minLabels?: number;
  pause?: boolean;
  resume?: boolean;
  abort?: boolean;
  status?: boolean;
  wait?: boolean;
  json?: boolean;
}

const pct = (text: string, flag: string): number => {
  const n = Number(text.replace(/%$/, ''));
  if (!Number.isFinite(n) || n <= 0 || n > 100) throw userError('bad-usage', `${flag}: "${text}" is not a share like 10%`);
  return n;
};

/** The plan from flags: `--canary 2` or `--canary 5%`, `--waves 10%,50%,100%`, `--soak 10m`. */
export function planFromFlags(o: RolloutFlags): Record<string, unknown> {
  const canary: Record<string, unknown> = {};
  if (o.canary) {
    if (o.canary.endsWith('%')) canary.percent = pct(o.canary, '--canary');
    else {
      const n = Number(o.canary);
      if (!Number.isInteger(n) || n < 1) throw userError('bad-usage', `--canary "${o.canary}" is not a device count or a share like 5%`);
      canary.count = n;
    }
  }
  if (o.canaryTags) canary.tags = o.canaryTags.split(',').filter(Boolean);
  const gates = Object.fromEntries(
    (['benchP95Ms', 'maxP95Ms', 'maxErrorRate', 'minLiveAccuracy', 'maxAccuracyDrop', 'maxDrift', 'minLabels'] as const).filter((k) => o[k] !== undefined).map((k) => [k, o[k]]),
  );
  return {
    ...(Object.keys(canary).length ? { canary } : {}),
    ...(o.waves ? { waves: o.waves.split(',').map((w) => pct(w.trim(), '--waves')) } : {}),
    ...(o.soak ? { soakMs: parseDuration(o.soak) } : {}),
    benchmark: o.benchmark,
    gates,
  };
}

const terminal = (r: Rollout) => ['completed', 'halted', 'aborted'].includes(r.state);

function show(r: Rollout, json?: boolean): void {
  if (json) {
    printJson(r);
    return;
  }
  process.stdout.write(
    formatTable(
      ['rollout', 'model', 'version', 'state', 'wave', 'canary', 'upgraded', 'reason'],
      [[r.id, r.model, r.version, r.state, r.wave, r.devices.canary.join(' '), `${r.devices.upgraded.length}/${r.devices.order.length}`, r.reason ?? '']],
    ) + '\n',
  );
}

export async function rollout(model: string, version: string | undefined, o: RolloutFlags): Promise<void> {
  const act = o.pause ? 'pause' : o.resume ? 'resume' : o.abort ? 'abort' : undefined;
  if (act || o.status) {
    const list = (await hubRequest<Rollout[]>(o, 'GET', '/v1/rollouts')).body.filter((r) => r.model === model);
    const target = version ? list.find((r) => String(r.version) === version) : (list.find((r) => !terminal(r)) ?? list[list.length - 1]);
    if (!target) throw userError('not-found', `no rollout of model "${model}"${version ? ` version ${version}` : ''}`);
    return show(act ? (await hubRequest<Rollout>(o, 'POST', `/v1/rollouts/${target.id}/${act}`)).body : target, o.json);
  }
  const v = Number(version);
  if (!Number.isInteger(v) || v < 1) throw userError('bad-usage', 'give the version to roll out: edgeml rollout MODEL VERSION');
  let r = (await hubRequest<Rollout>(o, 'POST', '/v1/rollouts', { model, version: v, plan: planFromFlags(o) })).body;
  if (o.wait) {
    while (!terminal(r)) {
      await new Promise((res) => setTimeout(res, 500));
      r = (await hubRequest<Rollout>(o, 'GET', `/v1/rollouts/${r.id}`)).body;
    }
  }
  show(r, o.json);
  if (r.state === 'halted' || r.state === 'aborted') throw checkFailed('rollout-halted', `rollout ${r.id} ${r.state}: ${r.reason ?? ''}`);
}

export async function rollback(model: string, o: HubFlags & { to?: number; json?: boolean }): Promise<void> {
  const rec = (await hubRequest<{ model: string; version: number; sha256: string }>(o, 'POST', '/v1/rollback', { model, ...(o.to ? { to: o.to } : {}) })).body;
  if (o.json) printJson(rec);
  else process.stdout.write(`sent a signed rollback directive: every ${rec.model} device goes back to v${rec.version} (sha256 ${rec.sha256.slice(0, 12)})\n`);
}

/**
 * `edgeml retrain MODEL`: continuous training by hand. The hub runs the same path its triggers
 * run (its data, the validated device feedback, champion against challenger, the release
 * gates and the rollout plan); this command starts the run and waits for its verdict.
 */
import { access } from 'node:fs/promises';
import { resolve } from 'node:path';
import { z } from 'zod';
import { checkFailed, readJsonFile, userError } from '@edgeml/core';
import type { RetrainRun } from '@edgeml/hub';
import { hubRequest, type HubFlags } from './hub-client.js';
import { printJson } from './options.js';

export interface RetrainFlags extends HubFlags {
  config: string;
  wait: boolean;
  timeout: string;
  json?: boolean;
  /** --hub was not given: the release config's `hub` (when the file is there) wins over the default. */
  hubFromConfig: boolean;
}

function duration(text: string): number {
  const m = /^(\d+)\s*([smh])$/.exec(text.trim());
  if (!m) throw userError('bad-usage', `--timeout "${text}" is not a duration like 90s, 30m or 2h`);
  return Number(m[1]) * { s: 1_000, m: 60_000, h: 3_600_000 }[m[2] as 's' | 'm' | 'h'];
}

/** Verdicts that are answers, not failures: nothing better to release is a normal end. */
const ANSWERS = new Set(['released', 'not-better', 'not-enough-labels']);

async function hubOf(o: RetrainFlags): Promise<HubFlags> {
  if (!o.hubFromConfig) return o;
  const file = resolve(o.config);
  const present = await access(file).then(() => true, () => false);
  if (!present) return o;
  const config = await readJsonFile(file, z.object({ hub: z.string().optional() }), 'release config');
  return config.hub ? { ...o, hub: config.hub } : o;
}

const figure = (v: unknown) => (typeof v === 'number' ? v.toFixed(4) : 'n/a');

function describe(run: RetrainRun): string {
  const lines = [`run ${run.id} of ${run.model} (${run.trigger.reason}: ${run.trigger.summary}): ${run.state}${run.version !== null ? ` v${run.version}` : ''}`];
  if (run.summary) lines.push(`  ${run.summary}`);
  const challenge = run.result?.challenge as { champion: { version: number; holdout: unknown; baseTest: unknown } | null; challenger: { holdout: unknown; baseTest: unknown } } | undefined;
  if (challenge) {
    const c = challenge.champion;
    lines.push(`  feedback holdout: challenger ${figure(challenge.challenger.holdout)}${c ? `, production v${c.version} ${figure(c.holdout)}` : ''}`);
    lines.push(`  base test split:  challenger ${figure(challenge.challenger.baseTest)}${c ? `, production v${c.version} ${figure(c.baseTest)}` : ''}`);
  }
  const refused = run.result?.refused as Record<string, number> | undefined;
  if (refused && Object.keys(refused).length) lines.push(`  feedback refused: ${Object.entries(refused).map(([k, n]) => `${k} ${n}`).join(', ')}`);
  return lines.join('\n') + '\n';
}

export async function retrain(model: string, o: RetrainFlags): Promise<void> {
  const limit = duration(o.timeout);
  const hub = await hubOf(o);
  const path = `/v1/models/${encodeURIComponent(model)}`;
  let run = (await hubRequest<RetrainRun>(hub, 'POST', `${path}/retrain`)).body;
  if (o.wait) {
    const until = Date.now() + limit;
    while (run.state === 'running') {
      if (Date.now() > until) throw checkFailed('timeout', `run ${run.id} of ${model} is still running after ${o.timeout}; see GET ${path}/retrain-runs/${run.id}`);
      await new Promise((r) => setTimeout(r, 1000));
      run = (await hubRequest<RetrainRun>(hub, 'GET', `${path}/retrain-runs/${run.id}`)).body;
    }
  }
  if (o.json) printJson(run);
  else process.stdout.write(describe(run));
  if (o.wait && !ANSWERS.has(run.state)) throw checkFailed(`retrain-${run.state}`, `retrain of ${model} ${run.state}: ${run.summary ?? ''}`);
}

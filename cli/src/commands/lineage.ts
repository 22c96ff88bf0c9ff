/**
 * Where versions came from, as `edgeml models show MODEL VERSION` and `edgeml models diff`
 * print it: parent, trigger, data digests, config, metrics, gate verdicts and the champion
 * against challenger figures the hub recorded when it published the version.
 */
import { canonicalJson, userError } from '@edgeml/core';
import type { Lineage, Registry, VersionRecord } from '@edgeml/hub';
import { printJson } from './options.js';

const num = (v: unknown) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(4)) : v === null || v === undefined ? '-' : JSON.stringify(v));

export function lineageText(l: Lineage | undefined): string {
  if (!l) return '  lineage: none recorded (published before lineage existed)\n';
  const out = [
    `  parent: ${l.parentVersion === null ? '-' : `v${l.parentVersion}`}`,
    `  trigger: ${l.trigger.reason}${l.trigger.summary ? ` (${l.trigger.summary})` : ''}${l.runId !== null ? `, retraining run ${l.runId}` : ''}`,
    `  base data sha256: ${l.baseSha256 ?? '-'}`,
    `  feedback set sha256: ${l.feedbackSha256 ?? '-'}${l.feedbackSha256 ? ' (in the artifact store)' : ''}`,
    `  edgeml ${l.edgemlVersion}, recorded ${l.createdAt}`,
    `  metrics: ${Object.entries(l.metrics).filter(([, v]) => typeof v === 'number').map(([k, v]) => `${k}=${num(v)}`).join(' ') || '-'}`,
  ];
  for (const g of l.gates as { gate: string; pass: boolean; message: string }[]) out.push(`  gate ${g.pass ? 'pass' : 'FAIL'}: ${g.message}`);
  const c = l.challenge as { champion: { version: number; holdout: unknown; baseTest: unknown } | null; challenger: { holdout: unknown; baseTest: unknown }; margin: unknown; maxBaseDrop: unknown } | null;
  if (c) {
    out.push(`  feedback holdout: this ${num(c.challenger.holdout)}${c.champion ? ` against v${c.champion.version} ${num(c.champion.holdout)} (margin ${num(c.margin)})` : ''}`);
    out.push(`  base test split: this ${num(c.challenger.baseTest)}${c.champion ? ` against v${c.champion.version} ${num(c.champion.baseTest)} (largest drop ${num(c.maxBaseDrop)})` : ''}`);
  }
  if (l.config) out.push(`  release config: ${canonicalJson(l.config)}`);
  return out.join('\n') + '\n';
}

/** Flatten to dotted paths so a diff names exactly what changed. */
function flatten(v: unknown, prefix: string, out: Map<string, string>): void {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) flatten(x, prefix ? `${prefix}.${k}` : k, out);
  } else out.set(prefix, typeof v === 'number' ? num(v) : canonicalJson(v ?? null));
}

function view(rec: VersionRecord, l: Lineage | undefined): Record<string, unknown> {
  const s = rec.envelope.signed;
  return {
    sha256: rec.sha256,
    sizeBytes: rec.sizeBytes,
    format: rec.format,
    channel: rec.channel,
    status: rec.status,
    features: s.spec.features,
    labels: s.spec.labels ?? null,
    metrics: Object.fromEntries(Object.entries(rec.metrics).filter(([, v]) => typeof v === 'number')),
    lineage: l ? { parent: l.parentVersion, trigger: l.trigger.reason, baseSha256: l.baseSha256, feedbackSha256: l.feedbackSha256, edgeml: l.edgemlVersion, config: l.config, challenge: l.challenge } : null,
  };
}

export function modelsDiff(registry: Registry, model: string, a: number, b: number, json: boolean): void {
  const recA = registry.getVersion(model, a);
  const recB = registry.getVersion(model, b);
  if (!recA || !recB) throw userError('not-found', `no version ${!recA ? a : b} of model "${model}"`);
  const fa = new Map<string, string>();
  const fb = new Map<string, string>();
  flatten(view(recA, registry.lineage.lineage(model, a)), '', fa);
  flatten(view(recB, registry.lineage.lineage(model, b)), '', fb);
  const keys = [...new Set([...fa.keys(), ...fb.keys()])].sort();
  const changed = keys.filter((k) => fa.get(k) !== fb.get(k)).map((k) => ({ field: k, [`v${a}`]: fa.get(k) ?? null, [`v${b}`]: fb.get(k) ?? null }));
  if (json) {
    printJson({ model, a, b, changed });
    return;
  }
  if (changed.length === 0) {
    process.stdout.write(`v${a} and v${b} of ${model} record the same\n`);
    return;
  }
  process.stdout.write(`${model}: v${a} -> v${b}\n` + changed.map((c) => `  ${c.field}: ${String(c[`v${a}`] ?? '-')} -> ${String(c[`v${b}`] ?? '-')}`).join('\n') + '\n');
}

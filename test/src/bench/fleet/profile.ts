/** Self time of a V8 CPU profile, by function and by module (package, or our own file). */
import type { Profiler } from 'node:inspector';

export interface ProfileEntry {
  where: string;
  selfMs: number;
  share: number;
}
export interface ProfileSummary {
  file: string;
  totalMs: number;
  byFunction: ProfileEntry[];
  byModule: ProfileEntry[];
}

/** Where a profiled function lives: a package, one of ours, or node itself. */
function moduleOf(url: string): string {
  if (!url) return '(native / gc / idle)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const ours = /\/(hub|agent|cli|test|packages\/[a-z]+)\/dist\/(.*)$/.exec(url);
  if (ours) return `${ours[1]}/${ours[2]}`;
  if (url.startsWith('node:')) return 'node internals';
  return url;
}

export function summariseProfile(p: Profiler.Profile, file: string): ProfileSummary {
  const self = new Map<number, number>();
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) self.set(samples[i]!, (self.get(samples[i]!) ?? 0) + (deltas[i] ?? 0) / 1000);
  const byFn = new Map<string, number>();
  const byMod = new Map<string, number>();
  let total = 0;
  for (const node of p.nodes) {
    const ms = self.get(node.id) ?? 0;
    if (ms === 0) continue;
    const f = node.callFrame;
    if (f.functionName === '(idle)') continue;
    total += ms;
    const mod = f.functionName === '(garbage collector)' ? '(garbage collector)' : moduleOf(f.url);
    const where = `${f.functionName || '(anonymous)'} ${mod}:${f.lineNumber + 1}`;
    byFn.set(where, (byFn.get(where) ?? 0) + ms);
    byMod.set(mod, (byMod.get(mod) ?? 0) + ms);
  }
  const top = (m: Map<string, number>, n: number): ProfileEntry[] =>
    [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n).map(([where, selfMs]) => ({ where, selfMs, share: total ? selfMs / total : 0 }));
  return { file, totalMs: total, byFunction: top(byFn, 15), byModule: top(byMod, 12) };
}


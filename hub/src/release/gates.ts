/**
 * Release gates: is the model accurate enough and fast enough on the device. Every gate has a
 * stable name, its limit and the measured figure, so CI output names both numbers.
 */

export interface GateLimits {
  minAccuracy?: number;
  minMacroF1?: number;
  maxRmse?: number;
  minR2?: number;
  /** Largest allowed fall against the production version on the same data (accuracy, or R^2 for regression). */
  maxDrop?: number;
  maxP50Ms?: number;
  maxP95Ms?: number;
  maxP99Ms?: number;
  minThroughput?: number;
  maxSizeKb?: number;
  maxMemoryMb?: number;
}

export interface Measured {
  accuracy?: number;
  macroF1?: number;
  rmse?: number;
  r2?: number;
  /** Production minus candidate, on the same data; absent when nothing is in production. */
  drop?: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  throughput: number;
  sizeBytes: number;
  peakRssBytes: number;
}

export interface GateVerdict {
  gate: string;
  limit: number;
  measured: number | null;
  pass: boolean;
  message: string;
}

type Rule = { gate: keyof GateLimits; figure: (m: Measured) => number | undefined; kind: 'min' | 'max'; unit: string };

const rules: Rule[] = [
  { gate: 'minAccuracy', figure: (m) => m.accuracy, kind: 'min', unit: '' },
  { gate: 'minMacroF1', figure: (m) => m.macroF1, kind: 'min', unit: '' },
  { gate: 'maxRmse', figure: (m) => m.rmse, kind: 'max', unit: '' },
  { gate: 'minR2', figure: (m) => m.r2, kind: 'min', unit: '' },
  { gate: 'maxDrop', figure: (m) => m.drop, kind: 'max', unit: '' },
  { gate: 'maxP50Ms', figure: (m) => m.p50Ms, kind: 'max', unit: ' ms' },
  { gate: 'maxP95Ms', figure: (m) => m.p95Ms, kind: 'max', unit: ' ms' },
  { gate: 'maxP99Ms', figure: (m) => m.p99Ms, kind: 'max', unit: ' ms' },
  { gate: 'minThroughput', figure: (m) => m.throughput, kind: 'min', unit: ' rows/s' },
  { gate: 'maxSizeKb', figure: (m) => m.sizeBytes / 1024, kind: 'max', unit: ' KiB' },
  { gate: 'maxMemoryMb', figure: (m) => m.peakRssBytes / (1024 * 1024), kind: 'max', unit: ' MiB' },
];

const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(3) : v.toPrecision(4));

export function evaluateGates(limits: GateLimits, m: Measured): GateVerdict[] {
  const verdicts: GateVerdict[] = [];
  for (const r of rules) {
    const limit = limits[r.gate];
    if (limit === undefined) continue;
    const value = r.figure(m);
    if (value === undefined) {
      // maxDrop with nothing in production has nothing to compare: it passes, and says so.
      const pass = r.gate === 'maxDrop';
      verdicts.push({ gate: r.gate, limit, measured: null, pass, message: pass ? `${r.gate}: no production version to compare with` : `${r.gate}: the figure does not apply to this model` });
      continue;
    }
    const pass = r.kind === 'min' ? value >= limit : value <= limit;
    verdicts.push({
      gate: r.gate,
      limit,
      measured: value,
      pass,
      message: `${r.gate}: measured ${fmt(value)}${r.unit}, ${r.kind === 'min' ? 'minimum' : 'maximum'} ${fmt(limit)}${r.unit}${pass ? '' : ' (failed)'}`,
    });
  }
  return verdicts;
}

// What the hub's API answers, as far as the page reads it.

export interface Analysis {
  p95Ms: number | null;
  errorRate: number | null;
  liveAccuracy: number | null;
  labels: number;
  drift: number | null;
}

export interface Device {
  id: string;
  online: boolean;
  state: string;
  model: string | null;
  version: number | null;
  health: string;
  lastError: string | null;
  lastSeen: string;
  tags: string[];
  desiredVersion: number | null;
  convergence: 'converged' | 'pending' | 'failed' | null;
  analysis: Analysis | null;
}

export interface Version {
  model: string;
  version: number;
  channel: string;
  sha256: string;
  sizeBytes: number;
  format: string;
  runtime: string;
  metrics: Record<string, unknown>;
  status: string;
  createdAt: string;
  fingerprint?: string | null;
  expires: string;
  /** Where the version came from: a release (and who published it) or a retraining run. */
  origin?: { trigger: { reason: string; summary?: string }; parentVersion: number | null; runId: number | null } | null;
}

export interface Rollout {
  id: number;
  model: string;
  channel: string;
  version: number;
  fromVersion: number | null;
  state: string;
  wave: number;
  reason: string | null;
  requested: string | null;
  createdAt: string;
  updatedAt?: string;
  plan: { waves: number[]; soakMs: number; benchmark: boolean; gates: Record<string, number | undefined> };
  devices: { order: string[]; canary: string[]; upgraded: string[] };
}

export interface Delivery {
  target: string;
  state: 'pending' | 'delivered' | 'failed';
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  nextAt: string;
}

export interface HubEvent {
  id: number;
  type: string;
  at: string;
  summary: string;
  model?: string;
  version?: number;
  deviceId?: string;
  data: Record<string, unknown>;
  deliveries?: Delivery[];
}

export interface Series {
  model: string;
  times: number[];
  versions: { version: number; p50Ms: (number | null)[]; p95Ms: (number | null)[]; errorRate: (number | null)[]; accuracy: (number | null)[]; drift: (number | null)[] }[];
}

export interface Whoami {
  kind: string;
  actions: string[];
}

export const ACTIVE = ['pending', 'benchmarking', 'wave', 'soaking', 'paused', 'rolling-back'];

export const fmt = (n: number | null | undefined, digits = 2, suffix = ''): string => (n === null || n === undefined ? '—' : `${n.toFixed(digits)}${suffix}`);
export const pct = (n: number | null | undefined): string => (n === null || n === undefined ? '—' : `${(n * 100).toFixed(1)}%`);
export const when = (iso: string): string => new Date(iso).toLocaleString();

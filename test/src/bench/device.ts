/**
 * The device-side sections' shared model: the trained digits CNN as the int8 TFLite artifact a
 * release would ship (issue 4's model), with the release record the agent serves it under,
 * and the test rows both ways: raw, as a client sends them, and preprocessed, as the runtime
 * takes them. Also the process probes those sections use: RSS from /proc, a free port.
 */
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { sha256Hex, type Release } from '@edgeml/core';
import { createTfliteRuntime } from '@edgeml/tflite';
import type { TrainedModel } from './fixtures.js';
import type { BenchContext } from './section.js';

export interface DeviceModel {
  trained: TrainedModel;
  /** The int8 TFLite artifact (full-integer, calibrated as the release pipeline does). */
  artifact: Uint8Array;
  /** An unsigned release record for in-process serving (signing is not on the predict path). */
  release: Release;
  /** Test rows as a client sends them: plain numbers in feature order. */
  rawRows: number[][];
  /** Test accuracy of the int8 model through the runtime. */
  selfTest: Release['selfTest'];
}

export const RUNTIME_LABEL = 'int8 TFLite (tflite-xnnpack)';

/** The repository root, from test/dist/bench (or test/src/bench). */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const cliBin = fileURLToPath(new URL('../../../cli/bin/edgeml.js', import.meta.url));

export async function deviceModel(ctx: BenchContext): Promise<DeviceModel> {
  const trained = await ctx.fixtures.digits('cnn');
  const artifact = await ctx.fixtures.tflite('cnn', 'int8');
  const f = trained.spec.features.length;
  const rawRows = Array.from({ length: trained.test.n }, (_, r) => Array.from(trained.test.x.subarray(r * f, (r + 1) * f)));
  // The self-test a release carries: the hub's outputs for a few rows, as runPipeline records them.
  const runtime = await createTfliteRuntime(artifact);
  let selfTest: Release['selfTest'];
  try {
    const k = 8;
    const out = runtime.predict(trained.testInput.slice(0, k * f), k);
    const o = runtime.info.outputSize;
    selfTest = { rows: rawRows.slice(0, k), expected: Array.from({ length: k }, (_, r) => Array.from(out.subarray(r * o, (r + 1) * o))), tolerance: 1e-4 };
  } finally {
    runtime.dispose();
  }
  const release: Release = {
    type: 'release',
    model: 'digits',
    version: 1,
    channel: 'stable',
    created: new Date().toISOString(),
    expires: new Date(Date.now() + 86_400_000).toISOString(),
    artifact: { sha256: sha256Hex(artifact), size: artifact.length, format: 'tflite-int8', runtime: 'tflite-xnnpack', chunkSize: 65_536, chunks: [] },
    spec: trained.spec,
    validation: {},
    budgets: {},
    selfTest,
  };
  return { trained, artifact, release, rawRows, selfTest };
}

/** A process's resident set size and its peak, in MB, from /proc (Linux). */
export async function procMemory(pid: number): Promise<{ rssMB: number; peakMB: number } | undefined> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? Number.NaN);
  const m = { rssMB: kb('VmRSS') / 1024, peakMB: kb('VmHWM') / 1024 };
  // A process that has exited (a zombie) has no memory lines.
  return Number.isFinite(m.rssMB) ? m : undefined;
}

/** A TCP port free on loopback right now (for a child process that needs a fixed one). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

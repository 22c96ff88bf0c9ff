/**
 * The batch runner's worker threads (model-worker.ts). Each loads its own interpreter; blocks go
 * to the ready ones as soon as one is ready, so a worker that loads first starts at once instead
 * of idling until the slowest has loaded. A worker that fails, to load or later, fails every
 * call after, and the run with it.
 */
import { Worker } from 'node:worker_threads';
import { fromWire, type WireError } from './codec.js';
import type { BlockReply, BlockRequest, RunSetup, WorkerLoad } from './parallel-wire.js';

export const MODEL_WORKER_URL = new URL('./model-worker.js', import.meta.url);

export type Ok = BlockReply & { ok: true };

/**
 * Worker threads started ahead of a run, loading the interpreter from `artifact` while the
 * caller does its own checks; runBatch takes them over (and closes them) with `workers.started`.
 */
export interface BatchWorkers {
  readonly count: number;
  /** The artifact they load, so that a run can tell they fit its model. */
  readonly artifact: { bytes: Uint8Array; format: WorkerLoad['format'] };
  close(): Promise<void>;
}

export interface Pool extends BatchWorkers {
  /** The run's setup, which every worker needs before its first block. */
  configure(run: RunSetup): void;
  /** Resolves once a worker is ready; rejects with the first worker's failure. */
  firstReady(): Promise<void>;
  /** The first failure of any worker, loading included: the run must stop on it. */
  failure(): Error | undefined;
  send(w: number, req: BlockRequest): Promise<Ok>;
  /** The ready worker with the fewest blocks in hand. */
  leastBusy(): number;
}

interface Member {
  worker: Worker;
  ready: boolean;
  pending: { resolve: (v: Ok) => void; reject: (e: Error) => void }[];
  send(req: BlockRequest): Promise<Ok>;
}

export function startPool(n: number, load: WorkerLoad): Pool {
  let firstFailure: Error | undefined;
  let onFirst: { resolve: () => void; reject: (e: Error) => void } | undefined;
  const first = new Promise<void>((resolve, reject) => (onFirst = { resolve, reject }));
  // Nobody may be waiting (a run that failed before it asked): not an unhandled rejection.
  first.catch(() => undefined);

  const members: Member[] = Array.from({ length: n }, () => {
    const worker = new Worker(MODEL_WORKER_URL, { workerData: load });
    const pending: Member['pending'] = [];
    let failed: Error | undefined;
    const fail = (e: Error) => {
      failed ??= e;
      firstFailure ??= e;
      onFirst?.reject(e);
      for (const p of pending.splice(0)) p.reject(e);
    };
    const member: Member = {
      worker,
      ready: false,
      pending,
      send: (req: BlockRequest) =>
        new Promise<Ok>((resolve, reject) => {
          if (failed) return reject(failed);
          pending.push({ resolve, reject });
          worker.postMessage(req, [req.bytes.buffer as ArrayBuffer, ...(req.spare ?? [])]);
        }),
    };
    worker.on('message', (m: BlockReply | { ready: boolean; error?: WireError }) => {
      if ('ready' in m) {
        if (!m.ready) fail(fromWire(m.error!));
        else if (!failed) {
          member.ready = true;
          onFirst?.resolve();
        }
        return;
      }
      const p = pending.shift();
      if (!p) return;
      if (m.ok) p.resolve(m);
      else p.reject(fromWire(m.error));
    });
    worker.on('error', (e) => fail(e));
    worker.on('exit', (code) => fail(new Error(`a batch worker exited (code ${code})`)));
    return member;
  });

  let turn = 0;
  let closing: Promise<void> | undefined;
  return {
    count: n,
    artifact: { bytes: load.artifact, format: load.format },
    configure: (run) => {
      // A worker still loading gets it once it listens: its port keeps messages until then.
      for (const m of members) m.worker.postMessage({ run });
    },
    firstReady: () => first,
    failure: () => firstFailure,
    send: (w, req) => members[w]!.send(req),
    // Ties go round the workers, so equal blocks spread evenly.
    leastBusy: () => {
      let best = -1;
      for (let k = 0; k < n; k++) {
        const i = (turn + k) % n;
        const m = members[i]!;
        if (!m.ready) continue;
        if (best < 0 || m.pending.length < members[best]!.pending.length) best = i;
      }
      // Called after firstReady, so one is ready; worker 0 is a safe answer regardless.
      if (best < 0) best = 0;
      turn = (best + 1) % n;
      return best;
    },
    // Once: the run and the command that started the workers may both close them.
    close: () => (closing ??= Promise.all(members.map((m) => m.worker.terminate())).then(() => undefined)),
  };
}

/**
 * One retraining worker process: started with the run's folder, killed with SIGKILL at its
 * time limit or when the hub stops. Its outcome is a parsed result or a reason, never a throw.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeZodError } from '@edgeml/core';
import { RESULT_FILE, ResultSchema, type WorkerResult } from './job.js';

export type WorkerOutcome = { ok: true; result: WorkerResult; ms: number } | { ok: false; timedOut: boolean; reason: string; ms: number };

const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url));

/** The last bytes of the worker's stderr: enough to say why it failed, bounded whatever it prints. */
const STDERR_KEEP = 4096;

export class WorkerProcess {
  private child: ChildProcess | undefined;
  private killedForTime = false;
  private killedForStop = false;

  constructor(private readonly dir: string, private readonly timeLimitMs: number) {}

  async run(): Promise<WorkerOutcome> {
    const started = Date.now();
    let stderr = '';
    // The IPC channel is the worker's tie to the hub: when the hub dies, the worker ends too.
    const child = spawn(process.execPath, [WORKER, this.dir, String(process.pid)], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    this.child = child;
    child.stderr!.on('data', (b: Buffer) => {
      stderr = (stderr + b.toString('utf8')).slice(-STDERR_KEEP);
    });
    const timer = setTimeout(() => {
      this.killedForTime = true;
      child.kill('SIGKILL');
    }, this.timeLimitMs);
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
      child.once('error', (error) => resolve({ code: null, signal: null, error }));
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    clearTimeout(timer);
    this.child = undefined;
    const ms = Date.now() - started;
    if (this.killedForTime) return { ok: false, timedOut: true, reason: `the worker ran past its time limit of ${this.timeLimitMs} ms and was killed`, ms };
    if (this.killedForStop) return { ok: false, timedOut: false, reason: 'the hub stopped during the run', ms };
    if (exit.error) return { ok: false, timedOut: false, reason: `the worker could not start: ${exit.error.message}`, ms };
    if (exit.code !== 0) {
      const last = stderr.trim().split('\n').find((l) => l.trim() !== '') ?? '';
      return { ok: false, timedOut: false, reason: `the worker exited with ${exit.signal ?? exit.code}: ${last.slice(0, 500)}`, ms };
    }
    let json: unknown;
    try {
      json = JSON.parse(await readFile(join(this.dir, RESULT_FILE), 'utf8'));
    } catch (e) {
      return { ok: false, timedOut: false, reason: `the worker left no readable result: ${(e as Error).message}`, ms };
    }
    const parsed = ResultSchema.safeParse(json);
    if (!parsed.success) return { ok: false, timedOut: false, reason: `the worker's result does not parse: ${describeZodError(parsed.error)}`, ms };
    return { ok: true, result: parsed.data, ms };
  }

  /** Kill it now (the hub is stopping); `run` then resolves with that reason. */
  kill(): void {
    if (!this.child) return;
    this.killedForStop = true;
    this.child.kill('SIGKILL');
  }
}

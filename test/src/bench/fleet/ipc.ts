/**
 * Request/response over a forked child's IPC channel, for the fleet simulator's two child
 * processes (the hub, the simulated agents). Messages use Node's "advanced" serialization, so
 * artifact bytes travel as Uint8Array.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';

/** Milliseconds since the epoch with sub-millisecond resolution, comparable across processes. */
export const wallMs = (): number => performance.timeOrigin + performance.now();

interface Request {
  id: number;
  cmd: string;
  args: unknown;
}
type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

export type Handlers = Record<string, (args: never) => unknown>;

/** In a child: answer the parent's requests with `handlers`. */
export function serve(handlers: Handlers): void {
  const send = (r: Reply) => process.send!(r);
  process.on('message', (msg: Request) => {
    const h = handlers[msg.cmd] as ((a: unknown) => unknown) | undefined;
    if (!h) return send({ id: msg.id, ok: false, error: `unknown command ${msg.cmd}` });
    Promise.resolve()
      .then(() => h(msg.args))
      .then(
        (result) => send({ id: msg.id, ok: true, result }),
        (e: unknown) => send({ id: msg.id, ok: false, error: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
      );
  });
  // The parent going away ends the child: no orphaned hub or ten thousand orphaned sockets.
  process.on('disconnect', () => process.exit(0));
}

export interface Child {
  readonly pid: number;
  call<T>(cmd: string, args?: unknown): Promise<T>;
  /** Resolves with the exit code (or signal) once the process has ended. */
  readonly exited: Promise<number | string | null>;
  /** Set once the process has ended: its exit code or signal. */
  readonly exit: number | string | null | undefined;
  /** The last few KB the process wrote to stderr (it is also passed through to ours). */
  stderrTail(): string;
  /** Close the IPC channel (the child exits on it); SIGKILL if it has not gone within `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** Fork `script` (a compiled module next to this one) and talk to it. */
export function spawnChild(script: URL, name: string, execArgv: string[] = []): Child {
  const cp: ChildProcess = fork(script, [], { serialization: 'advanced', execArgv, stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
  let tail = '';
  cp.stderr!.on('data', (d: Buffer) => {
    process.stderr.write(d);
    tail = (tail + d.toString('utf8')).slice(-4096);
  });
  let next = 1;
  let exit: number | string | null | undefined;
  const waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  const exited = new Promise<number | string | null>((resolve) =>
    cp.once('exit', (code, signal) => {
      exit = signal ?? code;
      for (const w of waiting.values()) w.reject(new Error(`${name} process exited (${exit}) during a request`));
      waiting.clear();
      resolve(exit);
    }),
  );
  cp.on('message', (r: Reply) => {
    const w = waiting.get(r.id);
    if (!w) return;
    waiting.delete(r.id);
    if (r.ok) w.resolve(r.result);
    else w.reject(new Error(`${name}: ${r.error}`));
  });
  return {
    pid: cp.pid!,
    exited,
    get exit() {
      return exit;
    },
    stderrTail: () => tail,
    call<T>(cmd: string, args?: unknown): Promise<T> {
      const id = next++;
      return new Promise<T>((resolve, reject) => {
        waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
        cp.send({ id, cmd, args } satisfies Request, (err) => {
          if (err) {
            waiting.delete(id);
            reject(err);
          }
        });
      });
    },
    async stop(graceMs = 5000) {
      if (cp.exitCode !== null || cp.signalCode !== null) return;
      if (cp.connected) cp.disconnect();
      const timer = setTimeout(() => cp.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** CPU, memory and event-loop figures of one process, as the children report them. */
export interface ProcStats {
  at: number;
  /** process.cpuUsage(), microseconds. */
  userUs: number;
  systemUs: number;
  rssBytes: number;
  heapUsedBytes: number;
  /** Peak RSS of the process so far (getrusage), bytes. */
  maxRssBytes: number;
  /** Event-loop utilisation since the process started (0-1): idle vs busy time. */
  eluIdleMs: number;
  eluActiveMs: number;
}

export function procStats(): ProcStats {
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  const elu = performance.eventLoopUtilization();
  return {
    at: wallMs(),
    userUs: cpu.user,
    systemUs: cpu.system,
    rssBytes: mem.rss,
    heapUsedBytes: mem.heapUsed,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    eluIdleMs: elu.idle,
    eluActiveMs: elu.active,
  };
}

/** CPU seconds and share of one core between two samples. */
export function cpuBetween(a: ProcStats, b: ProcStats): { cpuS: number; userS: number; systemS: number; cores: number } {
  const userS = (b.userUs - a.userUs) / 1e6;
  const systemS = (b.systemUs - a.systemUs) / 1e6;
  const wallS = (b.at - a.at) / 1000;
  return { cpuS: userS + systemS, userS, systemS, cores: wallS > 0 ? (userS + systemS) / wallS : 0 };
}

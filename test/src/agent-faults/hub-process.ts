/**
 * The hub as its own OS process (`edgeml hub start`) on fixed ports found at a first in-process
 * start, so it can be SIGKILLed and started again where its devices look for it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../helpers/cli.js';
import { waitFor } from '../helpers/fleet.js';

export interface HubProcess {
  start(): Promise<void>;
  /** SIGTERM waits for the graceful stop; SIGKILL for the process to be gone. */
  stop(signal: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** What the last run printed (for a failure message). */
  output(): string;
}

export function hubProcess(dataDir: string, ports: { mqtt: string; http: string }): HubProcess {
  let child: ChildProcess | undefined;
  let out = '';
  return {
    async start() {
      const c = spawn(process.execPath, [join(repoRoot, 'cli/bin/edgeml.js'), 'hub', 'start', '--data-dir', dataDir, '--mqtt-port', ports.mqtt, '--http-port', ports.http], { stdio: ['ignore', 'pipe', 'pipe'] });
      child = c;
      out = '';
      c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      c.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      await waitFor('the hub process running', () => (out.includes('hub running') ? true : c.exitCode !== null ? Promise.reject(new Error(out)) : undefined), 60_000, 50);
    },
    async stop(signal) {
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill(signal);
      await exited;
    },
    output: () => out,
  };
}

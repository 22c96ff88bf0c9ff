/**
 * Agent processes for the demo: each its own OS process with its own data dir and device id,
 * started through this CLI exactly as a device would run it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkFailed, isEdgemlError, writeFileAtomic } from '@edgeml/core';
import { enrollDevice } from '@edgeml/agent';
import { cliBin } from '../paths.js';

export interface AgentProcess {
  id: string;
  dir: string;
  child: ChildProcess;
  logFile: string;
  /** The local API's URL, once the agent has written it. */
  apiUrl(): Promise<string>;
  stop(): Promise<void>;
}

export interface SpawnOptions {
  id: string;
  dir: string;
  /** The agent's config file (from enrolment). */
  configPath: string;
  /** Fields merged into the config file before start (probation, stepDelayMs, ...). */
  extra?: Record<string, unknown>;
}

/** Enrol a device at the hub with a fresh one-time token; returns its config file. */
export async function enrollAgent(o: { hubUrl: string; token: string; id: string; dir: string; model: string; brokerCa?: string; extra?: Record<string, unknown> }): Promise<string> {
  const configPath = join(o.dir, 'agent.json');
  await enrollDevice({ hubUrl: o.hubUrl, token: o.token, deviceId: o.id, model: o.model, dataDir: o.dir, configPath, ...(o.brokerCa ? { brokerCa: o.brokerCa } : {}), ...(o.extra ? { extra: o.extra } : {}) });
  return configPath;
}

export async function spawnAgent(o: SpawnOptions): Promise<AgentProcess> {
  await mkdir(o.dir, { recursive: true });
  const configPath = o.configPath;
  if (o.extra) {
    const config = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
    await writeFileAtomic(configPath, JSON.stringify({ ...config, ...o.extra }, null, 2) + '\n', 0o600);
  }
  const logFile = join(o.dir, 'agent.log');
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(process.execPath, [cliBin(), 'agent', 'start', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    id: o.id,
    dir: o.dir,
    child,
    logFile,
    async apiUrl() {
      const info = JSON.parse(await readFile(join(o.dir, 'api.json'), 'utf8')) as { url: string; pid: number };
      if (info.pid !== child.pid) throw new Error('api.json is from an earlier run');
      return info.url;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      log.end();
    },
  };
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs: number, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      // A definite failure ends the wait; anything else (file not written yet) is retried.
      if (isEdgemlError(e)) throw e;
    }
    if (Date.now() > deadline) throw checkFailed('timeout', `timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

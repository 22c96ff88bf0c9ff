/**
 * What each `edgeml-agent` subcommand does once its flags are parsed: enrol, run, predict one
 * row, batch a file, write a systemd unit. Only the agent and the runtime package are loaded:
 * no hub, no trainer.
 */
import { availableParallelism } from 'node:os';
import { basename, resolve } from 'node:path';
import { createLogger, loadAgentConfig, userError } from '@edgeml/core';
import { startAgent } from '../agent.js';
import { loadInstalledModel } from '../batch/installed.js';
import type { DataFormat } from '../batch/formats.js';
import { runBatchCommand } from '../batch/command.js';
import type { BatchSummary } from '../batch/runner.js';
import { enrollDevice } from '../enroll.js';
import { predict, type PredictOptions } from './predict.js';
import { AGENT_ENV, AGENT_NODE_FLAGS } from './node-flags.js';
import { agentRuntimes } from './runtimes.js';
import { installService } from './service.js';

export async function startCommand(o: { config: string }): Promise<void> {
  const config = await loadAgentConfig(o.config);
  const log = createLogger({ name: `agent:${config.deviceId}` });
  const agent = await startAgent({ config, runtimes: agentRuntimes(), log });
  log.info('agent running', { deviceId: config.deviceId, api: agent.apiUrl, broker: config.broker.url });
  const signal = await untilSignal();
  log.info('stopping', { signal });
  await agent.close();
}

export interface EnrollFlags {
  hub: string;
  token: string;
  deviceId: string;
  model: string;
  channel: string;
  dataDir: string;
  config: string;
  apiPort: number;
  brokerCa?: string;
  ca?: string;
  rootFingerprint?: string;
}

export async function enrollCommand(o: EnrollFlags, launcher: string): Promise<void> {
  const config = await enrollDevice({
    hubUrl: o.hub,
    token: o.token,
    deviceId: o.deviceId,
    model: o.model,
    channel: o.channel,
    dataDir: o.dataDir,
    configPath: o.config,
    api: { port: o.apiPort },
    ...(o.brokerCa ? { brokerCa: o.brokerCa } : {}),
    ...(o.ca ? { hubCa: o.ca } : {}),
    ...(o.rootFingerprint ? { rootFingerprint: o.rootFingerprint } : {}),
  });
  process.stdout.write(
    `enrolled ${config.deviceId} for ${config.model}/${config.channel}; broker ${config.broker.url}; wrote ${resolve(o.config)} (mode 0600)\n` +
      `start it with: ${launcher} start --config ${resolve(o.config)}\n`,
  );
}

export function predictCommand(o: PredictOptions): Promise<void> {
  return predict(
    o,
    async (opts, sources) => {
      if (!opts.agentDir) throw userError('bad-usage', `give exactly one of ${sources.join(' or ')}`);
      return loadInstalledModel(resolve(opts.agentDir), agentRuntimes());
    },
    ['--agent-dir'],
  );
}

export interface BatchFlags {
  in: string;
  out: string;
  agentDir: string;
  onError: 'fail' | 'skip';
  batchSize: number;
  resume?: boolean;
  inFormat?: DataFormat;
  outFormat?: DataFormat;
  workers?: number;
  json?: boolean;
}

export async function batchCommand(o: BatchFlags): Promise<void> {
  const summary = await runBatchCommand({
    load: (onArtifact) => loadInstalledModel(resolve(o.agentDir), agentRuntimes('batch'), onArtifact),
    workers: o.workers ?? availableParallelism(),
    // Each worker thread loads the interpreter from this package's own registry module.
    runtimes: { module: new URL('./runtimes.js', import.meta.url).href, export: 'agentBatchRuntimes' },
    run: {
      input: o.in,
      output: o.out,
      onError: o.onError,
      batchSize: o.batchSize,
      ...(o.resume ? { resume: true } : {}),
      ...(o.inFormat ? { inputFormat: o.inFormat } : {}),
      ...(o.outFormat ? { outputFormat: o.outFormat } : {}),
    },
  });
  process.stdout.write(o.json ? JSON.stringify(summary, null, 2) + '\n' : formatBatchSummary(summary));
  if (summary.interrupted) {
    if (!o.json) process.stderr.write(`edgeml-agent: interrupted after ${summary.records} rows; run the same command with --resume to continue\n`);
    process.exitCode = 130;
  }
}

/** A batch run as a person reads it: counts, speed, model, output, the first bad rows. */
export function formatBatchSummary(s: BatchSummary): string {
  const lines = [
    `${s.interrupted ? 'interrupted' : 'done'}: ${s.predicted} rows predicted, ${s.bad} bad, of ${s.records} read` +
      (s.resumedFrom ? ` (resumed after ${s.resumedFrom})` : '') +
      ` in ${s.seconds.toFixed(2)} s (${Math.round(s.rowsPerSecond)} rows/s)`,
    `model ${s.model.name}, version ${s.model.version}`,
    `wrote ${s.output}`,
  ];
  if (s.bad) {
    lines.push(`bad rows (first ${Math.min(s.errors.length, 10)} of ${s.bad}; all in ${basename(s.errorsFile!)}):`);
    for (const e of s.errors.slice(0, 10)) lines.push(`  line ${e.line}: ${e.error}`);
  }
  return lines.join('\n') + '\n';
}

export function installServiceCommand(o: { config: string; user: string; out: string }, script: string): Promise<void> {
  return installService(o, { script, args: [], nodeFlags: AGENT_NODE_FLAGS, env: AGENT_ENV });
}

/** Resolves on the first SIGINT or SIGTERM: the daemon then shuts down cleanly. */
function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((done) => {
    const on = (sig: NodeJS.Signals): void => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      done(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

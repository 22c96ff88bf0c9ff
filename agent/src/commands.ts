/**
 * Commands from the hub on `devices/{id}/cmd`. `benchmark` is the device-in-the-loop check: the
 * candidate artifact is fetched, verified and run in this device's runtime on the release's
 * own sample rows, without being activated, and the latency and memory it costs are sent back.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { CommandSchema, checkArtifactBytes, describeZodError, errorMessage, topics, verifyRelease, type CommandResult, type Logger } from '@edgeml/core';
import { applyPreprocessing, encodeRows, measureRuntime, type RuntimeRegistry } from '@edgeml/runtime';
import { downloadArtifact } from './update/transfer.js';
import { readFile } from 'node:fs/promises';

export interface CommandContext {
  deviceId: string;
  model: string;
  channel: string;
  dataDir: string;
  rootPublicKeyPem: string;
  client: MqttClient;
  runtimes: RuntimeRegistry;
  log: Logger;
  signal: AbortSignal;
  resendStatus: () => void;
}

export async function handleCommand(ctx: CommandContext, payload: Buffer): Promise<void> {
  let json: unknown;
  try {
    json = JSON.parse(payload.toString('utf8'));
  } catch {
    ctx.log.warn('ignoring a command that is not JSON');
    return;
  }
  const parsed = CommandSchema.safeParse(json);
  const requestId = typeof (json as { requestId?: unknown })?.requestId === 'string' ? (json as { requestId: string }).requestId : 'unknown';
  const reply = (r: Omit<CommandResult, 'requestId' | 'deviceId'>) =>
    ctx.client.publishAsync(topics.commandResult(ctx.deviceId), JSON.stringify({ requestId, deviceId: ctx.deviceId, ...r }), { qos: 1 }).catch(() => undefined);
  if (!parsed.success) {
    await reply({ ok: false, error: `malformed command: ${describeZodError(parsed.error)}` });
    return;
  }
  const cmd = parsed.data;
  if (cmd.type === 'resend-status') {
    ctx.resendStatus();
    await reply({ ok: true });
    return;
  }
  const scratch = join(ctx.dataDir, 'bench');
  try {
    // Same checks as an install, except the version: a benchmark is not an upgrade.
    const { release } = verifyRelease(cmd.envelope, { rootPublicKeyPem: ctx.rootPublicKeyPem, now: new Date(), model: ctx.model, channel: ctx.channel });
    await mkdir(scratch, { recursive: true });
    const part = join(scratch, `${release.artifact.sha256}.part`);
    await downloadArtifact({ client: ctx.client, artifact: release.artifact, partPath: part, log: ctx.log, signal: ctx.signal });
    const bytes = await readFile(part);
    checkArtifactBytes(bytes, release.artifact);
    const loader = ctx.runtimes[release.artifact.format];
    if (!loader) throw new Error(`no runtime for ${release.artifact.format}`);
    const rssBefore = process.memoryUsage.rss();
    const t0 = performance.now();
    const runtime = await loader(bytes);
    const loadMs = performance.now() - t0;
    try {
      const spec = release.spec;
      const rows = release.selfTest.rows.length ? release.selfTest.rows : [spec.preprocessing.mean];
      const x = applyPreprocessing(spec.preprocessing, encodeRows(spec, rows));
      const f = measureRuntime(runtime, x, { runs: cmd.runs, batchRounds: 3 });
      await reply({ ok: true, result: { p50Ms: f.p50Ms, p95Ms: f.p95Ms, p99Ms: f.p99Ms, throughput: f.throughput, loadMs, rssBytes: process.memoryUsage.rss(), modelRssBytes: Math.max(0, process.memoryUsage.rss() - rssBefore) } });
    } finally {
      runtime.dispose();
    }
  } catch (e) {
    ctx.log.warn('benchmark failed', { error: errorMessage(e) });
    await reply({ ok: false, error: errorMessage(e) });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

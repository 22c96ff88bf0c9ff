/**
 * `edgeml demo`: the whole loop on one machine with nothing to configure. A hub in a fresh data
 * directory trains the digits model, evaluates it in the device runtime, signs and publishes
 * version 1; agent processes verify, install and serve it; the demo checks their predictions
 * against the hub's own and prints the fleet.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkFailed, createLogger } from '@edgeml/core';
import { releaseInputFrom, runPipeline, startHub, type Hub } from '@edgeml/hub';
import { useTrainingBackend } from '@edgeml/ml';
import { formatTable } from '../output/table.js';
import { trainingProgress } from '../output/progress.js';
import { repoFile } from '../paths.js';
import { deviceRuntimes } from '../runtimes.js';
import { enrollAgent, spawnAgent, waitFor, type AgentProcess } from './fleet-procs.js';
import { printJson } from './options.js';

const MODEL = 'digits';
// Every test row goes through every agent: agreement with the hub is checked row for row.
const TEST_ROWS = Infinity;

export interface DemoResult {
  release: { model: string; version: number; format: string; accuracy: number; sha256: string; sizeBytes: number };
  agents: { id: string; state: string; version: number | null; predictions: number; agreement: number }[];
  durationMs: number;
}

export async function demo(o: { agents: number; json?: boolean; keep?: boolean }): Promise<void> {
  const started = Date.now();
  const say = (line: string) => (o.json ? undefined : process.stderr.write(`${line}\n`));
  const dir = await mkdtemp(join(tmpdir(), 'edgeml-demo-'));
  // The hub logs to a file: the terminal is for the story, the file for the details.
  const hubLogLines: string[] = [];
  const log = createLogger({ name: 'hub', write: (l) => hubLogLines.push(l) });
  let hub: Hub | undefined;
  const agents: AgentProcess[] = [];
  try {
    hub = await startHub({ dataDir: join(dir, 'hub'), mqttPort: 0, httpPort: 0, log });
    say(`hub: broker ${hub.brokerUrl}, registry ${join(dir, 'hub', 'registry.sqlite')}`);
    say(`dashboard: ${hub.dashboardUrl} (admin token: ${hub.adminToken}; open while the demo runs, or use --keep and edgeml hub start --data-dir ${join(dir, 'hub')})`);
    const backend = await useTrainingBackend();
    say(`training the digits model (tfjs backend: ${backend})`);
    const progress = o.json ? undefined : trainingProgress();
    const c = await runPipeline({
      data: repoFile('data/digits.csv'),
      target: 'digit',
      arch: 'mlp',
      seed: 42,
      // The device format: full-integer int8 TFLite, run by the TFLite interpreter on every agent.
      format: 'tflite-int8',
      runtimes: deviceRuntimes(),
      ...(progress ? { onEpoch: progress.onEpoch } : {}),
    }).finally(() => progress?.stop());
    const accuracy = c.figures.accuracy!;
    const floatAccuracy = c.reference?.metrics.task === 'classification' ? c.reference.metrics.accuracy : undefined;
    say(
      `test accuracy ${(accuracy * 100).toFixed(2)}% on ${c.splits.test.n} rows as ${c.format} in ${c.runtime}` +
        (floatAccuracy !== undefined ? ` (float tfjs model: ${(floatAccuracy * 100).toFixed(2)}%)` : ''),
    );

    // A short probation keeps the demo quick; production releases watch traffic longer.
    const rec = await hub.publish(releaseInputFrom(c, { model: MODEL, budgets: { probationMs: 1000 } }));
    say(`signed and published ${MODEL} v${rec.version} (${rec.sizeBytes} bytes, sha256 ${rec.sha256.slice(0, 12)})`);

    for (let i = 1; i <= o.agents; i++) {
      const id = `device-${String(i).padStart(2, '0')}`;
      const agentDir = join(dir, 'agents', id);
      // Each device enrols as a real one would: a one-time token for its own credentials.
      const configPath = await enrollAgent({ hubUrl: hub.httpUrl!, token: hub.createEnrollToken(), id, dir: agentDir, model: MODEL });
      agents.push(await spawnAgent({ id, dir: agentDir, configPath }));
    }
    say(`enrolled and started ${o.agents} agent processes; waiting for each to verify, install and activate v${rec.version}`);
    const registry = hub.registry;
    await waitFor(
      'every agent to report the version active',
      () => {
        const devices = registry.listDevices();
        const failed = devices.find((d) => agents.some((a) => a.id === d.id) && (d.state === 'failed' || d.state === 'rolled-back'));
        if (failed) throw checkFailed('demo-install-failed', `${failed.id} did not install v${rec.version}: ${failed.lastError ?? failed.state}`);
        return agents.every((a) => devices.some((d) => d.id === a.id && d.state === 'active' && d.version === rec.version)) ? true : undefined;
      },
      120_000,
    );

    // A few test rows through each agent's local prediction API, compared with the hub's answers.
    const f = c.training.spec.features.length;
    const n = Math.min(TEST_ROWS, c.splits.test.n);
    const rows = Array.from({ length: n }, (_, r) => Array.from(c.splits.test.x.subarray(r * f, (r + 1) * f)));
    const expected = Array.from(c.evaluation.predicted.subarray(0, n), (k) => c.training.spec.labels![k]!);
    const results: DemoResult['agents'] = [];
    for (const a of agents) {
      const url = await waitFor(`${a.id}'s API`, () => a.apiUrl(), 10_000);
      const res = await fetch(`${url}/v1/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ rows }) });
      if (!res.ok) throw checkFailed('demo-predict', `${a.id} answered ${res.status}: ${await res.text()}`);
      const body = (await res.json()) as { version: number; predictions: { label: string }[] };
      const agree = body.predictions.filter((p, i) => p.label === expected[i]).length;
      const device = registry.listDevices().find((d) => d.id === a.id)!;
      results.push({ id: a.id, state: device.state, version: device.version, predictions: body.predictions.length, agreement: agree / n });
    }

    const result: DemoResult = {
      release: { model: MODEL, version: rec.version, format: rec.format, accuracy, sha256: rec.sha256, sizeBytes: rec.sizeBytes },
      agents: results,
      durationMs: Date.now() - started,
    };
    if (o.json) printJson(result);
    else {
      process.stdout.write(
        '\n' +
          formatTable(
            ['device', 'state', 'model', 'version', 'test rows predicted', 'agreement with hub'],
            results.map((r) => [r.id, r.state, MODEL, r.version ?? '-', r.predictions, `${(r.agreement * 100).toFixed(1)}%`]),
          ) +
          `\n\n${results.length} agents active on ${MODEL} v${rec.version} (${rec.format}, test accuracy ${(accuracy * 100).toFixed(2)}%) in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
      );
    }
    if (results.some((r) => r.agreement < 1)) throw checkFailed('demo-disagreement', 'an agent disagreed with the hub on a test row');
  } catch (e) {
    for (const a of agents) process.stderr.write(`(agent log: ${a.logFile})\n`);
    o.keep = true;
    throw e;
  } finally {
    await Promise.all(agents.map((a) => a.stop()));
    await hub?.close();
    if (o.keep) say(`demo data kept in ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  }
}

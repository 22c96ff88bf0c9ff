/**
 * Models trained elsewhere: each of the three .tflite files TensorFlow's converter made (int8
 * and float inputs and outputs, two of them LSTMs) is imported, released through a real hub to
 * a real agent process, and served over the agent's API, by `edgeml batch` and by `edgeml
 * predict`; validate and sign take its directory like any other. Every output is
 * checked against the TFLite interpreter run directly on the same rows, quantized and
 * dequantized by hand here with the tensors' own parameters, one fresh interpreter per row.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '@edgeml/ml';
import { loadTfliteWasm, readTflite, type TfliteWasm } from '@edgeml/tflite';
import { dataFile, edgeml } from '../helpers/cli.js';
import { spawnTestAgent, startTestHub, waitFor, type TestHub } from '../helpers/fleet.js';
import type { AgentProcess } from 'edgeml';

interface Case {
  file: string;
  model: string;
  target: string;
  labels?: string[];
  /** Where the random test rows' values lie. */
  range: [number, number];
}

const CASES: Case[] = [
  { file: 'micro_speech_quantized.tflite', model: 'speech', target: 'word', labels: ['silence', 'unknown', 'yes', 'no'], range: [-13, 26] },
  { file: 'trained_lstm.tflite', model: 'lstm', target: 'digit', range: [0, 1] },
  { file: 'trained_lstm_int8.tflite', model: 'lstm-int8', target: 'digit', range: [0, 1] },
];
/** More than the runtime's batch of 16, so batched and single-row paths both run. */
const ROWS = 21;

let t: TestHub;
let wasm: TfliteWasm;
const agents: AgentProcess[] = [];

beforeAll(async () => {
  t = await startTestHub();
  wasm = await loadTfliteWasm();
});
afterAll(async () => {
  for (const a of agents) await a.stop();
  await t?.stop();
});

type Quant = { scale: number; zeroPoint: number } | undefined;

/** The interpreter on its own: a fresh one per row, inputs and outputs converted here. */
async function direct(bytes: Uint8Array, rows: number[][]): Promise<number[][]> {
  const sg = readTflite(bytes).subgraphs[0]!;
  const q = (i: number): Quant => {
    const tq = sg.tensors[i]!.quantization;
    return tq ? { scale: tq.scale[0]!, zeroPoint: tq.zeroPoint[0]! } : undefined;
  };
  const qin = q(sg.inputs[0]!);
  const qout = q(sg.outputs[0]!);
  const out: number[][] = [];
  for (const row of rows) {
    const runner = await wasm.createRunner(bytes, { numThreads: 1, enableProfiling: false });
    try {
      const view = runner.getInputs()[0]!.data();
      row.forEach((v, i) => {
        view[i] = qin ? Math.min(127, Math.max(-128, Math.round(v / qin.scale) + qin.zeroPoint)) : v;
      });
      expect(runner.infer()).toBe(true);
      out.push(Array.from(runner.getOutputs()[0]!.data(), (v) => (qout ? (v - qout.zeroPoint) * qout.scale : v)));
    } finally {
      runner.cleanUp();
    }
  }
  return out;
}

describe('edgeml import', () => {
  for (const c of CASES) {
    it(`imports ${c.file}, releases it to an agent, and serves what the interpreter gives`, async () => {
      const bytes = await readFile(dataFile(`models/${c.file}`));
      const input = readTflite(bytes).subgraphs[0]!;
      const size = input.tensors[input.inputs[0]!]!.shape.slice(1).reduce((a, b) => a * b, 1);
      const random = seededRandom(size);
      const rows = Array.from({ length: ROWS }, () => Array.from({ length: size }, () => Math.fround(c.range[0] + (c.range[1] - c.range[0]) * random())));
      const labels = c.labels ?? Array.from({ length: 10 }, (_, i) => String(i));
      const features = Array.from({ length: size }, (_, i) => `x${i}`);
      const csv = join(t.dir, `${c.model}.csv`);
      await writeFile(csv, [[...features, c.target].join(','), ...rows.map((r, i) => [...r, labels[i % labels.length]].join(','))].join('\n') + '\n');
      const expected = await direct(bytes, rows);

      const dir = join(t.dir, c.model);
      const imp = await edgeml(['import', '--tflite', dataFile(`models/${c.file}`), '--task', 'classification', '--target', c.target, ...(c.labels ? ['--labels', c.labels.join(',')] : []), '--out', dir, '--json']);
      expect(imp.code, imp.stderr).toBe(0);
      const imported = JSON.parse(imp.stdout);
      expect(imported.spec.labels).toEqual(labels);

      const config = join(t.dir, `${c.model}.json`);
      await writeFile(config, JSON.stringify({ model: c.model, data: csv, target: c.target, task: 'classification', tflite: { file: dataFile(`models/${c.file}`), ...(c.labels ? { labels: c.labels } : {}) }, budgets: { probationMs: 0 }, out: join(t.dir, 'release') }));
      const rel = await edgeml(['release', '--config', config, '--hub', t.hub.httpUrl!, '--token', t.hub.adminToken, '--json']);
      expect(rel.code, rel.stderr).toBe(0);
      expect(JSON.parse(rel.stdout)).toMatchObject({ model: c.model, outcome: 'published', version: 1, format: imported.format });

      const agent = await spawnTestAgent(t, `${c.model}-device`, undefined, c.model);
      agents.push(agent);
      const url = await waitFor(`the agent's API`, () => agent.apiUrl().catch(() => undefined), 60_000, 100);
      await waitFor(`the agent to serve ${c.model} v1`, async () => (((await (await fetch(`${url}/v1/model`)).json()) as { version?: number }).version === 1 ? true : undefined), 90_000, 200);
      const res = await fetch(`${url}/v1/predict`, { method: 'POST', body: JSON.stringify({ rows }) });
      expect(res.status).toBe(200);
      const served = ((await res.json()) as { predictions: { label: string; probabilities: number[] }[] }).predictions;
      expect(served).toHaveLength(ROWS);
      served.forEach((p, r) => {
        p.probabilities.forEach((v, k) => expect(v).toBeCloseTo(expected[r]![k]!, 6));
        expect(p.label).toBe(labels[expected[r]!.indexOf(Math.max(...expected[r]!))]);
      });
      // Two cores: the next model's agent should not share them with this one.
      await agent.stop();

      const out = join(t.dir, `${c.model}-out.jsonl`);
      const batch = await edgeml(['batch', '--model', dir, '--in', csv, '--out', out, '--json']);
      expect(batch.code, batch.stderr).toBe(0);
      const lines = (await readFile(out, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { probabilities: Record<string, number> });
      expect(lines).toHaveLength(ROWS);
      lines.forEach((l, r) => labels.forEach((label, k) => expect(l.probabilities[label]).toBeCloseTo(expected[r]![k]!, 5)));

      const predict = await edgeml(['predict', '--model', dir, '--row', JSON.stringify(rows[ROWS - 1]), '--json']);
      expect(predict.code, predict.stderr).toBe(0);
      JSON.parse(predict.stdout).prediction.probabilities.forEach((v: number, k: number) => expect(v).toBeCloseTo(expected[ROWS - 1]![k]!, 6));

      const validate = await edgeml(['validate', '--model', dir, '--data', csv, '--runs', '200', '--max-size-kb', '100', '--json']);
      expect(validate.code, validate.stderr).toBe(0);
      expect(JSON.parse(validate.stdout)).toMatchObject({ format: imported.format, pass: true });
      const envelope = join(t.dir, `${c.model}.envelope.json`);
      const sign = await edgeml(['sign', '--artifact', join(dir, 'model.tflite'), '--model', c.model, '--version', '7', '--keys', t.hub.keysDir, '--out', envelope]);
      expect(sign.code, sign.stderr).toBe(0);
      const signed = JSON.parse(await readFile(envelope, 'utf8')).signed;
      expect(signed.artifact.format).toBe(imported.format);
      expect(signed.spec.labels).toEqual(labels);
    }, 300_000);
  }

  it('refuses a description that does not match the model, naming its input, with exit 2', async () => {
    const r = await edgeml(['import', '--tflite', dataFile('models/trained_lstm.tflite'), '--task', 'classification', '--target', 'digit', '--features', 'a,b,c', '--out', join(t.dir, 'bad')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('edgeml: --features names 3 features; the model input "serving_default_fixed_input:0" (float32 28x28, 784 values) takes 784\n');
    const shape = await edgeml(['import', '--tflite', dataFile('models/micro_speech_quantized.tflite'), '--task', 'classification', '--target', 'word', '--labels', 'a,b', '--out', join(t.dir, 'bad')]);
    expect(shape.code).toBe(2);
    expect(shape.stderr).toBe('edgeml: --labels names 2 classes; the model output "labels_softmax" (int8 4, 4 values) scores 4\n');
    const config = join(t.dir, 'no-task.json');
    await writeFile(config, JSON.stringify({ model: 'speech', data: dataFile('iris.csv'), target: 'word', tflite: { file: dataFile('models/micro_speech_quantized.tflite') } }));
    const release = await edgeml(['release', '--config', config, '--hub', t.hub.httpUrl!, '--token', t.hub.adminToken]);
    expect(release.code).toBe(2);
    expect(release.stderr).toMatch(/release config.*a release with a tflite field needs its task/);
  });
});

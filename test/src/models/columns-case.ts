/**
 * Text columns and gaps, end to end (columns-text.test.ts, columns-gaps.test.ts): a CSV is
 * released with its column options through a real hub to a real agent process. The agent serves
 * the test split's rows as people have them (the original strings, JSON null and "" for gaps)
 * over its API, and `edgeml batch` reads the test CSV with its text and empty cells (from the
 * model directory or the model the agent installed): every row's output equals what the hub's
 * own evaluation path gives for it. Ordinal codes: ordinal.test.ts.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelSpec } from '@edgeml/core';
import { evaluateOnFile, parseCsv, readModelDir } from '@edgeml/ml';
import { deviceRuntimes, type AgentProcess } from 'edgeml';
import { dataFile, edgeml } from '../helpers/cli.js';
import { spawnTestAgent, startTestHub, waitFor, type TestHub } from '../helpers/fleet.js';

export interface Case {
  model: string;
  file: string;
  options: Record<string, unknown>;
  /** A row the model must refuse with a 422, and the words that name why. */
  refused: (row: Record<string, unknown>) => Record<string, unknown>;
  refusal: RegExp;
  /** Where `edgeml batch` takes the model from: the release's model directory or the agent's. */
  batchFrom: 'model' | 'agent-dir';
}

/** A test.csv cell as JSON: numbers as numbers, text as it is, gaps as null (or "" for variety). */
function jsonValue(cell: string, r: number): unknown {
  if (cell === '' || cell === 'NA') return r % 2 ? null : '';
  const v = Number(cell);
  return Number.isFinite(v) ? v : cell;
}

/** One case per test file: each starts its own hub, so the two files can run side by side. */
export function releaseColumnsCase(c: Case): void {
  let t: TestHub;
  const agents: AgentProcess[] = [];

  beforeAll(async () => {
    t = await startTestHub();
  });
  afterAll(async () => {
    for (const a of agents) await a.stop();
    await t?.stop();
  });

  describe('text columns and gaps, hub and device', () => {
    it(`releases ${c.file} with ${JSON.stringify(c.options)}; the agent's API and edgeml batch serve its rows as the hub scored them`, async () => {
      const out = join(t.dir, 'release');
      const config = join(t.dir, `${c.model}.json`);
      await writeFile(config, JSON.stringify({ model: c.model, data: dataFile(c.file), target: 'diagnosis', ...c.options, budgets: { probationMs: 0 }, out }));
      const rel = await edgeml(['release', '--config', config, '--hub', t.hub.httpUrl!, '--token', t.hub.adminToken, '--json']);
      expect(rel.code, rel.stderr).toBe(0);
      const released = JSON.parse(rel.stdout) as { outcome: string; version: number; figures: Record<string, number> };
      expect(released).toMatchObject({ outcome: 'published', version: 1 });

      // The hub's evaluation path: the model directory's test rows (original cells) through the spec.
      const dir = join(out, c.model);
      const { meta, artifact } = await readModelDir(dir);
      const spec: ModelSpec = meta.spec;
      expect(spec.preprocessing.columns).toBeDefined();
      const testCsv = join(dir, 'test.csv');
      const runtime = await deviceRuntimes()[meta.format]!(artifact);
      let hub: Awaited<ReturnType<typeof evaluateOnFile>>;
      try {
        hub = await evaluateOnFile(runtime, spec, testCsv);
      } finally {
        runtime.dispose();
      }
      expect(hub.metrics).toMatchObject({ accuracy: released.figures.accuracy });
      const k = spec.labels!.length;
      const table = parseCsv(await readFile(testCsv, 'utf8'), testCsv);
      const columns = spec.preprocessing.columns!.map((col) => col.name);
      expect(table.header).toEqual([...columns, 'diagnosis']);
      const rows = table.rows.map((cells, r) => Object.fromEntries(columns.map((name, j) => [name, jsonValue(cells[j]!, r)])));
      if (c.options.impute) expect(table.rows.some((cells) => cells.includes('') || cells.includes('NA'))).toBe(true);
      else expect(table.rows.some((cells) => /[a-z]/.test(cells[0]!))).toBe(true);

      const agent = await spawnTestAgent(t, `${c.model}-device`, undefined, c.model);
      agents.push(agent);
      const url = await waitFor(`the agent's API`, () => agent.apiUrl().catch(() => undefined), 60_000, 100);
      await waitFor(`the agent to serve ${c.model} v1`, async () => (((await (await fetch(`${url}/v1/model`)).json()) as { version?: number }).version === 1 ? true : undefined), 90_000, 200);
      const res = await fetch(`${url}/v1/predict`, { method: 'POST', body: JSON.stringify({ rows }) });
      const body = (await res.json()) as { predictions: { label: string; probabilities: number[] }[] };
      expect(res.status, JSON.stringify(body)).toBe(200);
      expect(body.predictions).toHaveLength(table.rows.length);
      body.predictions.forEach((p, r) => {
        p.probabilities.forEach((v, j) => expect(v, `row ${r}`).toBeCloseTo(hub.outputs[r * k + j]!, 6));
        expect(p.label).toBe(spec.labels![hub.predicted[r]!]);
      });
      // One row as an array of its original cells, strings and all.
      const one = await fetch(`${url}/v1/predict`, { method: 'POST', body: JSON.stringify({ row: table.rows[1]!.slice(0, columns.length) }) });
      expect(one.status).toBe(200);
      ((await one.json()) as { predictions: { probabilities: number[] }[] }).predictions[0]!.probabilities.forEach((v, j) => expect(v).toBeCloseTo(hub.outputs[k + j]!, 6));
      const bad = await fetch(`${url}/v1/predict`, { method: 'POST', body: JSON.stringify({ row: c.refused(rows[0]!) }) });
      expect(bad.status).toBe(422);
      expect(((await bad.json()) as { error: string }).error).toMatch(c.refusal);
      await agent.stop();

      // Batch reads the CSV as it is (text, empty and NA cells).
      const source = c.batchFrom === 'model' ? ['--model', dir] : ['--agent-dir', join(t.dir, 'agents', `${c.model}-device`)];
      const outFile = join(t.dir, `${c.model}-batch.jsonl`);
      const batch = await edgeml(['batch', ...source, '--in', testCsv, '--out', outFile, '--json']);
      expect(batch.code, batch.stderr).toBe(0);
      const lines = (await readFile(outFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { probabilities: Record<string, number> });
      expect(lines).toHaveLength(table.rows.length);
      lines.forEach((l, r) => spec.labels!.forEach((label, j) => expect(l.probabilities[label], `row ${r}`).toBeCloseTo(hub.outputs[r * k + j]!, 5)));
    }, 300_000);
  });
}

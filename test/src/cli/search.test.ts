/**
 * Candidate search through the real CLI: `edgeml train --search FILE` trains three small iris
 * candidates, ships each as int8 TFLite, measures it in a fresh device-runtime process, and
 * keeps the most accurate within the budgets; `edgeml release` with the same candidates in its
 * `search` field publishes the same choice, byte for byte (seeded and reproducible). A size
 * budget excludes the largest candidate: size is exact, so the choice does not hang on the
 * latency noise of a loaded machine.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataFile, edgeml, tempDir } from '../helpers/cli.js';
import { startTestHub, type TestHub } from '../helpers/fleet.js';

interface Verdict {
  name: string;
  score: number;
  testScore: number;
  sizeBytes: number;
  p95Ms: number;
  peakRssBytes: number;
  params: number;
  broken: { budget: string; limit: number; measured: number }[];
  pareto: { p95: boolean; size: boolean };
}
interface Report {
  metric: string;
  budgets: Record<string, number>;
  chosen: string | null;
  candidates: Verdict[];
  pareto: { p95: string[]; size: string[] };
  wallMs: number;
}

let dir: string;
let cleanup: () => Promise<void>;
let grid: string;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('search'));
  grid = join(dir, 'grid.json');
  // Few epochs and timed runs: the search's logic is under test here, not the models' quality.
  await writeFile(
    grid,
    JSON.stringify({
      candidates: [
        { arch: 'mlp', hidden: [4], epochs: 6 },
        { arch: 'mlp', hidden: [16], epochs: 6 },
        { arch: 'mlp', hidden: [128, 128], epochs: 6 },
      ],
      runs: 100,
    }),
  );
});
afterAll(() => cleanup());

const search = (out: string, extra: string[] = []) => edgeml(['train', '--data', dataFile('iris.csv'), '--target', 'species', '--seed', '3', '--search', grid, '--max-size-kb', '10', '--out', join(dir, out), ...extra]);

/** The rule, restated: the best validation score within budget, ties to the smaller artifact. */
const expectedChoice = (r: Report) =>
  r.candidates.filter((c) => c.broken.length === 0).sort((a, b) => b.score - a.score || a.sizeBytes - b.sizeBytes || a.params - b.params)[0]?.name;

let first: Report;
let firstModel: { sha256: string; sizeBytes: number; format: string; training: { search: { chosen: string } } };

describe('edgeml train --search', () => {
  it('keeps the most accurate candidate within the budgets, prints the table and reports every candidate with the budget it broke', async () => {
    const r = await search('a');
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code).toBe(0);
    first = JSON.parse(await readFile(join(dir, 'a', 'search-report.json'), 'utf8')) as Report;
    firstModel = JSON.parse(await readFile(join(dir, 'a', 'edgeml-model.json'), 'utf8')) as typeof firstModel;
    expect(first.candidates.map((c) => c.name)).toEqual(['mlp 4 e6', 'mlp 16 e6', 'mlp 128-128 e6']);
    for (const c of first.candidates) {
      expect(c.p95Ms).toBeGreaterThan(0);
      expect(c.peakRssBytes).toBeGreaterThan(0);
      expect(c.score).toBeGreaterThan(0);
    }
    // 128x128 int8 weights alone are 16 KiB: over the 10 KiB budget, and the only one over it.
    const large = first.candidates.find((c) => c.name === 'mlp 128-128 e6')!;
    expect(large.broken).toEqual([{ budget: 'maxSizeKb', limit: 10, measured: large.sizeBytes / 1024 }]);
    expect(first.candidates.filter((c) => c.broken.length > 0)).toHaveLength(1);
    expect(first.budgets).toEqual({ maxSizeKb: 10 });
    expect(first.chosen).not.toBe('mlp 128-128 e6');
    expect(first.chosen).toBe(expectedChoice(first));
    // The model directory holds the chosen candidate in the release format.
    const chosen = first.candidates.find((c) => c.name === first.chosen)!;
    expect(firstModel.format).toBe('tflite-int8');
    expect(firstModel.sizeBytes).toBe(chosen.sizeBytes);
    expect(firstModel.training.search.chosen).toBe(first.chosen);
    // Every candidate off a front is beaten on accuracy and cost by one on it.
    for (const [front, cost] of [['p95', (c: Verdict) => c.p95Ms], ['size', (c: Verdict) => c.sizeBytes]] as const) {
      expect(first.pareto[front].length).toBeGreaterThan(0);
      for (const c of first.candidates) {
        expect(c.pareto[front]).toBe(first.pareto[front].includes(c.name));
        if (!c.pareto[front]) expect(first.candidates.some((d) => first.pareto[front].includes(d.name) && d.score >= c.score && cost(d) <= cost(c))).toBe(true);
      }
    }
    expect(r.stdout).toMatch(/candidate\s+val acc\s+test acc\s+p95 ms\s+size KiB\s+mem MiB/);
    expect(r.stdout).toMatch(new RegExp(`^\\*\\s+${first.chosen}\\s`, 'm'));
    expect(r.stdout).toMatch(/mlp 128-128 e6 .*maxSizeKb [\d.]+ > 10/);
  }, 240_000);

  it('fails with exit 1 naming what each candidate broke when none fits, and still writes the report', async () => {
    const one = join(dir, 'one.json');
    await writeFile(one, JSON.stringify({ candidates: [{ arch: 'mlp', hidden: [8], epochs: 2 }], runs: 50, budgets: { maxSizeKb: 0.1 } }));
    const r = await edgeml(['train', '--data', dataFile('iris.csv'), '--target', 'species', '--search', one, '--out', join(dir, 'none')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no candidate meets every budget \(mlp 8 e2: maxSizeKb [\d.]+ > 0\.1\)/);
    expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
    const report = JSON.parse(await readFile(join(dir, 'none', 'search-report.json'), 'utf8')) as Report;
    expect(report.chosen).toBeNull();
  }, 120_000);

  it('refuses a bad search config with exit 2 and one line naming the field', async () => {
    const bad = join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ candidates: [{ arch: 'mlp', filters: [8] }] }));
    const r = await edgeml(['train', '--data', dataFile('iris.csv'), '--target', 'species', '--search', bad, '--out', join(dir, 'bad')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/search config/);
    expect(r.stderr).toMatch(/filters and dense are cnn settings/);
    const flags = await edgeml(['train', '--data', dataFile('iris.csv'), '--target', 'species', '--max-p95-ms', '1', '--out', join(dir, 'bad2')]);
    expect(flags.code).toBe(2);
    expect(flags.stderr).toMatch(/search budgets: add --search/);
  }, 60_000);
});

describe('edgeml release with a search', () => {
  let t: TestHub;
  beforeAll(async () => {
    t = await startTestHub();
  });
  afterAll(() => t?.stop());

  it('publishes the same candidate as train --search, byte for byte, within the gates it inherited', async () => {
    const config = join(dir, 'release.json');
    await writeFile(
      config,
      JSON.stringify({
        model: 'iris-search',
        data: dataFile('iris.csv'),
        target: 'species',
        format: 'tflite-int8',
        seed: 3,
        gates: { maxSizeKb: 10 },
        out: join(dir, 'release'),
        search: JSON.parse(await readFile(grid, 'utf8')) as unknown,
      }),
    );
    const r = await edgeml(['release', '--config', config, '--hub', t.hub.httpUrl!, '--token', t.hub.adminToken, '--json']);
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ model: 'iris-search', outcome: 'published', version: 1 });
    // The size gate became a search budget: the large candidate was never a choice.
    expect(r.stderr).toMatch(/mlp 128-128 e6 .*maxSizeKb [\d.]+ > 10/);
    const report = JSON.parse(await readFile(join(dir, 'release', 'iris-search', 'search-report.json'), 'utf8')) as Report;
    // Accuracy and size are seeded and exact; latency and memory are measured and vary.
    const exact = (rep: Report) => rep.candidates.map((c) => [c.name, c.score, c.testScore, c.sizeBytes, c.params, c.broken.map((b) => b.budget)]);
    expect(exact(report)).toEqual(exact(first));
    expect(report.chosen).toBe(first.chosen);
    const published = t.hub.registry.listVersions('iris-search')[0]!;
    expect(published.sha256).toBe(firstModel.sha256);
  }, 240_000);
});

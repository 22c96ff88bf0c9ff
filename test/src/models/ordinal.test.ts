/**
 * Ordinal text columns with filled text gaps, on the device's code path: `edgeml batch` over
 * JSON lines (original strings, null gaps) scores the test rows as the hub's evaluation does, a
 * gap gets the fill value fitted on the training split, and an unknown category is refused by
 * name while the rest of the file is served.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateOnFile, parseCsv, readModelDir } from '@edgeml/ml';
import { deviceRuntimes } from 'edgeml';
import { dataFile, edgeml, tempDir } from '../helpers/cli.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('ordinal'));
});
afterAll(async () => cleanup?.());

describe('ordinal text columns with filled gaps, on the device code path', () => {
  it('scores rows in batch as the hub does, fills a text gap, and refuses an unknown category by name', async () => {
    // The text fixture with a tenth of its "texture" cells blanked.
    const text = await readFile(dataFile('fixtures/breast_cancer_text.csv'), 'utf8');
    const [header, ...lines] = text.trim().split('\n');
    await mkdir(dir, { recursive: true });
    const data = join(dir, 'data.csv');
    await writeFile(data, [header, ...lines.map((l, i) => (i % 10 === 3 ? l.replace(/^([^,]*),[^,]*,/, '$1,,') : l))].join('\n') + '\n');
    const model = join(dir, 'model');
    const train = await edgeml(['train', '--data', data, '--target', 'diagnosis', '--categorical', 'ordinal', '--impute', 'most-frequent', '--out', model, '--json']);
    expect(train.code, train.stderr).toBe(0);
    const { meta, artifact } = await readModelDir(model);
    const columns = meta.spec.preprocessing.columns!;
    const texture = columns.find((c) => c.name === 'texture')!;
    expect(texture).toMatchObject({ kind: 'ordinal', impute: { rule: 'most-frequent' } });
    expect(meta.spec.features.slice(0, 2)).toEqual(['size', 'texture']);

    const testCsv = join(model, 'test.csv');
    const runtime = await deviceRuntimes()[meta.format]!(artifact);
    let hub: Awaited<ReturnType<typeof evaluateOnFile>>;
    try {
      hub = await evaluateOnFile(runtime, meta.spec, testCsv);
    } finally {
      runtime.dispose();
    }
    const k = meta.spec.labels!.length;
    const table = parseCsv(await readFile(testCsv, 'utf8'), testCsv);
    expect(table.rows.some((cells) => cells[1] === '')).toBe(true);
    const asJson = (cells: string[]) => Object.fromEntries(columns.map((c, j) => [c.name, cells[j] === '' ? null : c.kind === 'numeric' ? Number(cells[j]) : cells[j]]));
    const first = asJson(table.rows[0]!);
    const extra = [
      { ...first, texture: null },
      { ...first, texture: texture.impute!.value },
      { ...first, size: 'enormous' },
    ];
    const input = join(dir, 'rows.jsonl');
    await writeFile(input, [...table.rows.map(asJson), ...extra].map((r) => JSON.stringify(r)).join('\n') + '\n');
    const outFile = join(dir, 'out.jsonl');
    const batch = await edgeml(['batch', '--model', model, '--in', input, '--out', outFile, '--on-error', 'skip', '--json']);
    expect(batch.code, batch.stderr).toBe(0);
    const served = (await readFile(outFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { probabilities: Record<string, number> });
    const n = table.rows.length;
    expect(served).toHaveLength(n + 2);
    served.slice(0, n).forEach((l, r) => meta.spec.labels!.forEach((label, j) => expect(l.probabilities[label], `row ${r}`).toBeCloseTo(hub.outputs[r * k + j]!, 5)));
    // A gap is served as the training split's most frequent texture.
    expect(served[n]!.probabilities).toEqual(served[n + 1]!.probabilities);
    const errors = (await readFile(`${outFile}.errors.jsonl`, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { line: number; error: string });
    expect(errors).toHaveLength(1);
    expect(errors[0]!.line).toBe(n + 3);
    expect(errors[0]!.error).toMatch(/^column "size" holds "enormous", a category the model does not know \(it knows "/);
  }, 200_000);
});

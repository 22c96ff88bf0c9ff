import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { dataFile, edgeml, tempDir } from '../helpers/cli.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir('cnn')));
afterAll(() => cleanup());

// The slowest training in the suite (~40 s on a loaded machine): its own file so it runs beside the others.
it('trains the digits CNN on an 8x8x1 input shape to at least 95% test accuracy', async () => {
  const r = await edgeml(['train', '--data', dataFile('digits.csv'), '--target', 'digit', '--arch', 'cnn', '--input-shape', '8x8x1', '--out', join(dir, 'cnn'), '--json']);
  expect(r.code).toBe(0);
  const m = JSON.parse(r.stdout);
  expect(m.spec.inputShape).toEqual([8, 8, 1]);
  expect(m.figures.accuracy).toBeGreaterThanOrEqual(0.95);
}, 300_000);

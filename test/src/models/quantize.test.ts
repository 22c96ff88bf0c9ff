/**
 * `edgeml quantize` says what int8 did. A regression like the diabetes set, with two test rows
 * far outside anything in training (where int8 clips): the report names the calibration (all
 * training rows) and its range rule, compares float and int8 R^2, counts the rows that changed
 * and the largest change, and flags the rows outside the calibration range; `validate
 * --max-int8-disagreement` and a release's `maxInt8Disagreement` gate on the same comparison.
 */
import { appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '@edgeml/ml';
import { edgeml, tempDir } from '../helpers/cli.js';
import { startTestHub } from '../helpers/fleet.js';

let dir: string;
let cleanup: () => Promise<void>;
const FEATURES = ['age', 'bmi', 'bp', 's1', 's5'];
const ROWS = 400;

/** A target that is linear in standardised features, so the float model extrapolates far rows. */
const target = (x: number[]) => 150 + 40 * ((x[1]! - 26) / 4) + 25 * ((x[2]! - 95) / 14) - 10 * ((x[3]! - 190) / 35) + 30 * ((x[4]! - 4.6) / 0.5);

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('quantize'));
  const random = seededRandom(14);
  const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const lines = [[...FEATURES, 'progression'].join(',')];
  for (let r = 0; r < ROWS; r++) {
    const x = [48 + 13 * normal(), 26 + 4 * normal(), 95 + 14 * normal(), 190 + 35 * normal(), 4.6 + 0.5 * normal()].map((v) => Number(v.toFixed(2)));
    lines.push([...x, (target(x) + 8 * normal()).toFixed(1)].join(','));
  }
  await writeFile(join(dir, 'diabetes-like.csv'), lines.join('\n') + '\n');
  const train = await edgeml(['train', '--data', join(dir, 'diabetes-like.csv'), '--target', 'progression', '--task', 'regression', '--out', join(dir, 'float'), '--json']);
  expect(train.code, train.stderr).toBe(0);
  // Two rows far below anything in training, as a device might meet them.
  const far = [[30, 12, 60, 320, 2.4], [70, 10, 55, 330, 2.2]];
  await appendFile(join(dir, 'float', 'test.csv'), far.map((x) => [...x, target(x).toFixed(1)].join(',')).join('\n') + '\n');
});
afterAll(async () => cleanup?.());

describe('edgeml quantize', () => {
  it('reports calibration, float vs int8, changed rows and rows outside the calibration range', async () => {
    const r = await edgeml(['quantize', '--model', join(dir, 'float'), '--format', 'tflite-int8', '--out', join(dir, 'int8'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const q = JSON.parse(r.stdout).quantization;
    const trainRows = 280;
    expect(q.calibration).toMatchObject({ rows: trainRows, sample: `all ${trainRows} training rows` });
    expect(q.calibration.rangeRule).toBe(`min-max of every tensor over ${trainRows} calibration rows, widened by 10% of the span at each end; the output also covers the calibration rows' targets`);
    const testRows = 60 + 2;
    expect(q.test).toMatchObject({ rows: testRows, figure: 'r2' });
    expect(q.test.float).toBeGreaterThan(0.9);
    // Only the far rows may change their answer; the rest agree within a tenth of the target's spread.
    expect(q.test.disagreement).toBeLessThanOrEqual(2 / testRows);
    // A few ordinary rows sit just past the training extremes; the margin keeps them unclipped.
    expect(q.test.outsideCalibration).toBeGreaterThanOrEqual(2 / testRows);
    expect(q.test.clippedInputs).toBeCloseTo(2 / testRows, 6);
    expect(q.test.clippedOutputs).toBe(2);
    expect([testRows - 1, testRows]).toContain(q.test.maxDifferenceRow);
    expect(q.test.maxDifference).toBeGreaterThan(50);
    expect(r.stderr).toMatch(new RegExp(`warning: \\d+ of ${testRows} test rows have an input outside the calibration range \\(first: test row \\d+: .*\\); 2 beyond what the int8 input represents, where int8 clips \\(first: test row ${testRows - 1}: `));
    expect(r.stderr).toMatch(new RegExp(`warning: 2 of ${testRows} test rows came out at the edge of the int8 output range \\[-?[\\d.]+, [\\d.]+\\], so their values are clipped \\(first: test row ${testRows - 1}, float `));
  });

  it('prints the report in words', async () => {
    const r = await edgeml(['quantize', '--model', join(dir, 'float'), '--format', 'tflite-int8', '--out', join(dir, 'int8-text')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^calibration: all 280 training rows; range rule: min-max of every tensor/m);
    expect(r.stdout).toMatch(/^test split, 62 rows: r2 float \d\.\d{4}, tflite-int8 \d\.\d{4}$/m);
    expect(r.stdout).toMatch(/^ {2}\d+\.\d% of rows disagree \(rows whose values differ by more than 0\.1 x the training target's std/m);
    expect(r.stdout).toMatch(/^ {2}largest value difference [\d.]+ \(test row 6[12]\)$/m);
    expect(r.stdout).toMatch(/^ {2}\d+\.\d% of rows have an input outside the calibration range, 3\.2% beyond the int8 input's range; 2 at the edge of the int8 output range$/m);
  });

  it('gates validate on the share of rows int8 changed, against the float model it keeps', async () => {
    const data = join(dir, 'float', 'test.csv');
    const strict = await edgeml(['validate', '--model', join(dir, 'int8'), '--data', data, '--runs', '200', '--max-int8-disagreement', '0', '--json']);
    const report = JSON.parse(strict.stdout);
    expect(report.quantization.disagreement).toBeGreaterThan(0);
    expect(strict.code).toBe(1);
    expect(strict.stderr).toMatch(/maxInt8Disagreement: measured 0\.0\d+ \(rows whose values differ by more than .*\), maximum 0 \(failed\)/);
    const loose = await edgeml(['validate', '--model', join(dir, 'int8'), '--data', data, '--runs', '200', '--max-int8-disagreement', '0.05']);
    expect(loose.code, loose.stderr).toBe(0);
    expect(loose.stdout).toMatch(/int8Disagreement/);
    const float = await edgeml(['validate', '--model', join(dir, 'float'), '--data', data, '--runs', '200', '--max-int8-disagreement', '0.05']);
    expect(float.code).toBe(2);
    expect(float.stderr).toMatch(/keeps no float model to compare with \(float-reference\.emtf\)/);
  });

  it('gates a release on it too, with the float model kept in the release directory', async () => {
    const t = await startTestHub();
    try {
      const config = join(dir, 'release.json');
      await writeFile(config, JSON.stringify({ model: 'progression', data: join(dir, 'diabetes-like.csv'), target: 'progression', task: 'regression', format: 'tflite-int8', gates: { maxInt8Disagreement: 0.05 }, out: join(dir, 'release') }));
      const r = await edgeml(['release', '--config', config, '--hub', t.hub.httpUrl!, '--token', t.hub.adminToken, '--json']);
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out).toMatchObject({ outcome: 'published', version: 1, format: 'tflite-int8' });
      expect(out.gates).toEqual([expect.objectContaining({ gate: 'maxInt8Disagreement', limit: 0.05, pass: true })]);
      // The release reports what int8 did, calibrated on every training row like quantize.
      expect(out.quantization.calibration).toMatchObject({ rows: 280, sample: 'all 280 training rows' });
      expect(out.quantization.test).toMatchObject({ rows: 60, figure: 'r2' });
    } finally {
      await t.stop();
    }
  });
});

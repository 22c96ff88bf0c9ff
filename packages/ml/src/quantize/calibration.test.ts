import { describe, expect, it } from 'vitest';
import type { Dataset } from '../data/dataset.js';
import { seededRandom } from '../data/rng.js';
import { calibrationSample, featureRanges } from './calibration.js';

function dataset(n: number, task: 'classification' | 'regression'): Dataset {
  const random = seededRandom(3);
  const x = Float32Array.from({ length: n * 2 }, () => random());
  // One class in ten, and one extreme row per feature far from the rest.
  const y = Float32Array.from({ length: n }, (_, r) => (task === 'classification' ? (r % 10 === 0 ? 1 : 0) : r));
  x[2 * 777] = 50;
  x[2 * 1234 + 1] = -50;
  return { features: ['a', 'b'], target: 't', task, x, y, n, ...(task === 'classification' ? { labels: ['common', 'rare'] } : {}) };
}

describe('calibrationSample', () => {
  it('takes every training row up to the limit', () => {
    const ds = dataset(300, 'classification');
    const s = calibrationSample(ds, 300);
    expect(s.dataset.n).toBe(300);
    expect(s.rule).toBe('all 300 training rows');
  });

  it('samples by class beyond the limit, keeping each feature\'s extreme rows', () => {
    const ds = dataset(5000, 'classification');
    const s = calibrationSample(ds, 1000);
    expect(s.dataset.n).toBeGreaterThanOrEqual(1000);
    expect(s.dataset.n).toBeLessThanOrEqual(1002);
    expect(s.rule).toMatch(/^a stratified sample of \d+ of 5000 training rows \(by class, with each feature's extreme rows\)$/);
    const rare = Array.from(s.dataset.y).filter((v) => v === 1).length / s.dataset.n;
    expect(rare).toBeCloseTo(0.1, 1);
    const full = featureRanges(ds);
    const sampled = featureRanges(s.dataset);
    expect(Array.from(sampled.min)).toEqual(Array.from(full.min));
    expect(Array.from(sampled.max)).toEqual(Array.from(full.max));
  });

  it('samples a regression across the bands of its target, extremes included', () => {
    const ds = dataset(5000, 'regression');
    const s = calibrationSample(ds, 1000);
    expect(s.rule).toContain('by target band');
    const y = Array.from(s.dataset.y);
    for (let band = 0; band < 10; band++) expect(y.filter((v) => v >= band * 500 && v < (band + 1) * 500).length).toBeGreaterThanOrEqual(95);
    expect(featureRanges(s.dataset).max[0]).toBe(50);
  });

  it('is the same sample for the same seed', () => {
    const ds = dataset(5000, 'classification');
    expect(Array.from(calibrationSample(ds, 1000, 7).dataset.x)).toEqual(Array.from(calibrationSample(ds, 1000, 7).dataset.x));
  });
});

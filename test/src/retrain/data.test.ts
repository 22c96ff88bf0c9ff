import { describe, expect, it } from 'vitest';
import { assembleFeedback, rulesFor, splitBase, trainingCsv, type FeedbackRow } from '@edgeml/hub';
import { parseCsv } from '@edgeml/ml';
import { baseRows, toCsv } from './shift-data.js';

const base = splitBase(parseCsv(toCsv(baseRows(200, 0.3))), { target: 'label', seed: 42 });
const enrolled: Record<string, string> = { 'dev-1': 'shift', 'dev-2': 'shift', 'dev-other': 'other' };
const rules = rulesFor('shift', base, undefined, 1, (id) => (enrolled[id] === undefined ? 'not-enrolled' : enrolled[id] === 'shift' ? undefined : 'model-not-enrolled'));

let n = 0;
const fb = (over: Partial<FeedbackRow> = {}): FeedbackRow => {
  n++;
  return { deviceId: 'dev-1', predictionId: `p-${n}`, model: 'shift', at: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(), row: [0.7, 0.8], label: 'c', ...over };
};

describe('retrain data assembly', () => {
  it('splits the base data as a release does: the test split is never in the training rows', () => {
    expect(base.features).toEqual(['x1', 'x2']);
    expect(base.labels).toEqual(['a', 'b', 'c']);
    expect(base.train.length + base.test.length).toBe(200);
    const key = (r: { row: number[]; label: string }) => `${r.row.join(',')}:${r.label}`;
    const csv = trainingCsv(base, []);
    expect(csv.trim().split('\n')).toHaveLength(1 + base.train.length);
    const trained = new Set(base.train.map(key));
    // Duplicates of a test row in the data may exist; the split itself never repeats a row.
    expect(base.test.filter((r) => trained.has(key(r))).length).toBeLessThan(base.test.length);
  });

  it('refuses poisoned feedback by reason and never puts it in the set', () => {
    const good = Array.from({ length: 10 }, () => fb());
    const poison = [
      fb({ deviceId: 'dev-other' }),
      fb({ model: 'other' }),
      fb({ deviceId: 'dev-unknown' }),
      fb({ row: [0.1, 0.2, 0.3] }),
      fb({ row: [Number.NaN, 0.2] }),
      fb({ row: [1e6, 0.2] }),
      fb({ label: 'zebra' }),
      { ...good[0]!, at: new Date(Date.UTC(2027, 0, 1)).toISOString(), label: 'a' },
    ];
    const set = assembleFeedback([...poison, ...good], rules, 0.3);
    expect(set.refused).toEqual({ 'model-not-enrolled': 2, 'not-enrolled': 1, 'feature-count': 1, 'not-finite': 1, 'out-of-range': 1, 'unknown-label': 1, duplicate: 1 });
    const used = [...set.train, ...set.holdout];
    expect(used.map((r) => r.predictionId).sort()).toEqual(good.map((r) => r.predictionId).sort());
    // The first label of a prediction id wins; the later one is the duplicate.
    expect(used.find((r) => r.predictionId === good[0]!.predictionId)!.label).toBe('c');
    const stored = JSON.parse(set.bytes.toString('utf8')) as { train: FeedbackRow[]; holdout: FeedbackRow[] };
    expect([...stored.train, ...stored.holdout]).toHaveLength(10);
    expect(set.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('holds out the newest share of the feedback by time, whatever order it was stored in', () => {
    const rows = Array.from({ length: 10 }, () => fb());
    const set = assembleFeedback([...rows].reverse(), rules, 0.3);
    expect(set.holdout.map((r) => r.predictionId)).toEqual(rows.slice(7).map((r) => r.predictionId));
    expect(set.train.map((r) => r.predictionId)).toEqual(rows.slice(0, 7).map((r) => r.predictionId));
    expect(trainingCsv(base, set.train).trim().split('\n')).toHaveLength(1 + base.train.length + 7);
  });

  it('gives the same digest for the same rows in any stored order', () => {
    const rows = Array.from({ length: 6 }, () => fb());
    expect(assembleFeedback(rows, rules, 0.5).sha256).toBe(assembleFeedback([...rows].reverse(), rules, 0.5).sha256);
  });
});

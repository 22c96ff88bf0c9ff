import { describe, expect, it } from 'vitest';
import { classificationMetrics, headlineFigures, isImbalanced, metricWarnings, regressionMetrics } from './metrics.js';

describe('classificationMetrics', () => {
  // confusion[true][predicted]: a -> [2, 1, 1], b -> [0, 2, 0], c -> [1, 0, 1]
  const yTrue = [0, 0, 0, 0, 1, 1, 2, 2];
  const yPred = [0, 0, 1, 2, 1, 1, 2, 0];
  const m = classificationMetrics(yTrue, yPred, ['a', 'b', 'c']);

  it('counts the confusion matrix by true row and predicted column', () => {
    expect(m.confusion).toEqual([
      [2, 1, 1],
      [0, 2, 0],
      [1, 0, 1],
    ]);
    expect(m.n).toBe(8);
    expect(m.accuracy).toBe(5 / 8);
  });

  it('computes precision, recall, F1 and support per class', () => {
    const close = (v: number) => expect.closeTo(v, 12);
    expect(m.perClass).toEqual([
      { label: 'a', precision: close(2 / 3), recall: 1 / 2, f1: close(4 / 7), support: 4 },
      { label: 'b', precision: close(2 / 3), recall: 1, f1: close(4 / 5), support: 2 },
      { label: 'c', precision: 1 / 2, recall: 1 / 2, f1: 1 / 2, support: 2 },
    ]);
  });

  it('averages F1 over classes for macro-F1', () => {
    expect(m.macroF1).toBeCloseTo((4 / 7 + 4 / 5 + 1 / 2) / 3, 12);
  });

  it('scores a class that is never true nor predicted as 0, not NaN, and leaves it out of macro-F1', () => {
    const withAbsent = classificationMetrics(Float32Array.from([0, 1]), Float32Array.from([0, 1]), ['a', 'b', 'never']);
    expect(withAbsent.perClass[2]).toEqual({ label: 'never', precision: 0, recall: 0, f1: 0, support: 0 });
    expect(withAbsent.accuracy).toBe(1);
    expect(withAbsent.macroF1).toBe(1);
    expect(withAbsent.classesPresent).toBe(2);
  });

  it('gives macro-F1 1 when every test row is right, even if a class has no test rows', () => {
    // A one-row class that landed in training only: accuracy 1 must not come with macro-F1 0.75.
    const m = classificationMetrics([0, 1, 2, 0, 1, 2], [0, 1, 2, 0, 1, 2], ['a', 'b', 'c', 'rare']);
    expect(m).toMatchObject({ accuracy: 1, macroF1: 1, classesPresent: 3 });
  });

  it('gives the headline figures a manifest carries', () => {
    expect(headlineFigures(m)).toEqual({ accuracy: 5 / 8, macroF1: m.macroF1, testRows: 8 });
  });
});

describe('regressionMetrics', () => {
  it('computes MAE, RMSE and R^2 exactly on a small example', () => {
    // errors 0, 1, -1, 2; mean of truth 2.5, total sum of squares 5
    const m = regressionMetrics([1, 2, 3, 4], [1, 3, 2, 6]);
    expect(m).toEqual({ task: 'regression', mae: 1, rmse: Math.sqrt(6 / 4), r2: 1 - 6 / 5, n: 4 });
    expect(headlineFigures(m)).toEqual({ mae: 1, rmse: Math.sqrt(1.5), r2: 1 - 6 / 5, testRows: 4 });
  });

  it('gives R^2 1 for perfect predictions', () => {
    expect(regressionMetrics([3, 5, 9], [3, 5, 9])).toMatchObject({ mae: 0, rmse: 0, r2: 1 });
  });

  it('gives R^2 0 rather than NaN for a constant truth', () => {
    expect(regressionMetrics([2, 2], [1, 3])).toMatchObject({ mae: 1, rmse: 1, r2: 0 });
  });
});

describe('metricWarnings', () => {
  const rows = (counts: number[]) => counts.flatMap((c, k) => new Array<number>(c).fill(k));

  it('warns when the test split has fewer than 30 rows', () => {
    const y = rows([10, 10]);
    expect(metricWarnings(classificationMetrics(y, y, ['a', 'b']))).toEqual(['the test split has only 20 rows (fewer than 30); one row moves the figures by 5.0 points']);
    expect(metricWarnings(regressionMetrics([1, 2, 3], [1, 2, 3]))[0]).toMatch(/^the test split has only 3 rows/);
  });

  it('names classes with fewer than 5 test rows, and classes with none', () => {
    const y = rows([40, 3, 0]);
    const m = classificationMetrics(y, y, ['common', 'thin', 'absent']);
    expect(metricWarnings(m)).toEqual([
      'class "absent" has no test rows and is left out of macro-F1',
      'class "thin" (3) has fewer than 5 test rows: its recall and F1 rest on a row or two',
    ]);
  });

  it('calls classes imbalanced when the smallest has under half the rows of the largest', () => {
    expect(isImbalanced(classificationMetrics(rows([30, 14]), rows([30, 14]), ['a', 'b']))).toBe(true);
    expect(isImbalanced(classificationMetrics(rows([30, 15]), rows([30, 15]), ['a', 'b']))).toBe(false);
  });
});

/** Evaluation metrics, from predicted and true targets. */

export interface ClassMetrics {
  label: string;
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export interface ClassificationMetrics {
  task: 'classification';
  accuracy: number;
  macroF1: number;
  perClass: ClassMetrics[];
  /** confusion[true][predicted] */
  confusion: number[][];
  n: number;
}

export interface RegressionMetrics {
  task: 'regression';
  mae: number;
  rmse: number;
  r2: number;
  n: number;
}

export type Metrics = ClassificationMetrics | RegressionMetrics;

export function classificationMetrics(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, labels: string[]): ClassificationMetrics {
  const k = labels.length;
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  let correct = 0;
  for (let i = 0; i < yTrue.length; i++) {
    const t = yTrue[i]!;
    const p = yPred[i]!;
    confusion[t]![p]!++;
    if (t === p) correct++;
  }
  const perClass = labels.map((label, c) => {
    const tp = confusion[c]![c]!;
    const support = confusion[c]!.reduce((a, b) => a + b, 0);
    const predicted = confusion.reduce((a, row) => a + row[c]!, 0);
    const precision = predicted ? tp / predicted : 0;
    const recall = support ? tp / support : 0;
    const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
    return { label, precision, recall, f1, support };
  });
  return {
    task: 'classification',
    accuracy: yTrue.length ? correct / yTrue.length : 0,
    macroF1: perClass.reduce((a, c) => a + c.f1, 0) / k,
    perClass,
    confusion,
    n: yTrue.length,
  };
}

export function regressionMetrics(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): RegressionMetrics {
  const n = yTrue.length;
  let abs = 0;
  let sq = 0;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += yTrue[i]!;
  mean /= n;
  let tot = 0;
  for (let i = 0; i < n; i++) {
    const e = yPred[i]! - yTrue[i]!;
    abs += Math.abs(e);
    sq += e * e;
    tot += (yTrue[i]! - mean) ** 2;
  }
  return { task: 'regression', mae: abs / n, rmse: Math.sqrt(sq / n), r2: tot ? 1 - sq / tot : 0, n };
}

/** The flat figures a release manifest and the registry carry. */
export function headlineFigures(m: Metrics): Record<string, number> {
  return m.task === 'classification' ? { accuracy: m.accuracy, macroF1: m.macroF1, testRows: m.n } : { mae: m.mae, rmse: m.rmse, r2: m.r2, testRows: m.n };
}

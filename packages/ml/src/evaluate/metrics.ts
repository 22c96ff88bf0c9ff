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
  /** Mean F1 over the classes with rows in the evaluated data (a class it lacks cannot be scored). */
  macroF1: number;
  /** How many classes macroF1 averages over. */
  classesPresent: number;
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
  const present = perClass.filter((c) => c.support > 0);
  return {
    task: 'classification',
    accuracy: yTrue.length ? correct / yTrue.length : 0,
    macroF1: present.length ? present.reduce((a, c) => a + c.f1, 0) / present.length : 0,
    classesPresent: present.length,
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

/** Fewer test rows than this and a figure moves by several points on a single row. */
export const MIN_TEST_ROWS = 30;
/** A class with fewer test rows than this has a recall and F1 that one row can swing. */
export const MIN_CLASS_ROWS = 5;
/** Classes are imbalanced when the smallest has less than this share of the largest's test rows. */
export const IMBALANCE_RATIO = 0.5;

/** Whether per-class recall tells more than accuracy: the test split's classes differ in size. */
export function isImbalanced(m: ClassificationMetrics): boolean {
  const present = m.perClass.filter((c) => c.support > 0).map((c) => c.support);
  return present.length > 1 && Math.min(...present) < IMBALANCE_RATIO * Math.max(...present);
}

/** What a reader of the figures must know: too few test rows, classes too thin or absent. */
export function metricWarnings(m: Metrics): string[] {
  const warnings: string[] = [];
  if (m.n < MIN_TEST_ROWS) warnings.push(`the test split has only ${m.n} rows (fewer than ${MIN_TEST_ROWS}); one row moves the figures by ${(100 / Math.max(1, m.n)).toFixed(1)} points`);
  if (m.task === 'classification') {
    const absent = m.perClass.filter((c) => c.support === 0).map((c) => `"${c.label}"`);
    if (absent.length) warnings.push(`class${absent.length > 1 ? 'es' : ''} ${absent.join(', ')} ${absent.length > 1 ? 'have' : 'has'} no test rows and ${absent.length > 1 ? 'are' : 'is'} left out of macro-F1`);
    const thin = m.perClass.filter((c) => c.support > 0 && c.support < MIN_CLASS_ROWS).map((c) => `"${c.label}" (${c.support})`);
    if (thin.length) warnings.push(`class${thin.length > 1 ? 'es' : ''} ${thin.join(', ')} ${thin.length > 1 ? 'have' : 'has'} fewer than ${MIN_CLASS_ROWS} test rows: ${thin.length > 1 ? 'their' : 'its'} recall and F1 rest on a row or two`);
  }
  return warnings;
}

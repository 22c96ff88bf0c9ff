import { isImbalanced, type Metrics } from '@edgeml/ml';

/** Per-class recall (with test rows per class) when the classes differ in size: accuracy hides a thin class. */
export function formatRecall(m: Metrics): string | undefined {
  if (m.task !== 'classification' || !isImbalanced(m)) return undefined;
  return `per-class recall (imbalanced classes): ${m.perClass
    .filter((c) => c.support > 0)
    .map((c) => `${c.label} ${c.recall.toFixed(3)} (${c.support} rows)`)
    .join(', ')}`;
}

export const splitRows = (s: { train: { n: number }; validation: { n: number }; test: { n: number } }) => ({ train: s.train.n, validation: s.validation.n, test: s.test.n });

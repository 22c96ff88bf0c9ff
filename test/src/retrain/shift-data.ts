/**
 * A concept shift in small, deterministic data: two features, three classes. In the base data
 * class "c" (the corner x1 >= 0.5, x2 >= 0.6) is rare, so a model trained on it rarely says
 * "c"; the stream devices see later is mostly that corner.
 */
import { seededRandom } from '@edgeml/ml';

export type Row = { x1: number; x2: number; label: 'a' | 'b' | 'c' };

const labelOf = (x1: number, x2: number): Row['label'] => (x1 < 0.5 ? 'a' : x2 < 0.6 ? 'b' : 'c');
const round = (v: number) => Math.round(v * 1000) / 1000;

/** `n` rows where a point in the "c" corner is kept with probability `keepC`. */
export function baseRows(n: number, keepC: number, seed = 7): Row[] {
  const rnd = seededRandom(seed);
  const rows: Row[] = [];
  while (rows.length < n) {
    const x1 = round(rnd());
    const x2 = round(rnd());
    const label = labelOf(x1, x2);
    if (label === 'c' && rnd() > keepC) continue;
    rows.push({ x1, x2, label });
  }
  return rows;
}

/** The shifted stream: `shareC` of the rows from the "c" corner, the rest anywhere. */
export function streamRows(n: number, shareC: number, seed = 11): Row[] {
  const rnd = seededRandom(seed);
  return Array.from({ length: n }, () => {
    const inC = rnd() < shareC;
    const x1 = round(inC ? 0.5 + rnd() * 0.5 : rnd());
    const x2 = round(inC ? 0.6 + rnd() * 0.4 : rnd());
    return { x1, x2, label: labelOf(x1, x2) };
  });
}

export const toCsv = (rows: readonly Row[]) => ['x1,x2,label', ...rows.map((r) => `${r.x1},${r.x2},${r.label}`)].join('\n') + '\n';

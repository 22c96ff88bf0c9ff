import { describe, expect, it } from 'vitest';
import { SearchConfigSchema, candidateName, searchCandidates, DEFAULT_GRIDS } from './candidates.js';
import { judgeCandidates, paretoFront, type CandidateFigures } from './select.js';

const fig = (name: string, score: number, p95Ms: number, sizeKb: number, memMb = 100, params = sizeKb * 1000): CandidateFigures => ({
  name,
  candidate: { arch: 'mlp', name },
  score,
  testScore: score,
  sizeBytes: sizeKb * 1024,
  p95Ms,
  peakRssBytes: memMb * 2 ** 20,
  params,
  epochs: 10,
  trainMs: 1000,
});

describe('choosing a candidate', () => {
  const all = [fig('small', 0.9, 0.01, 2), fig('medium', 0.95, 0.05, 10), fig('large', 0.97, 0.4, 80, 150)];

  it('takes the most accurate candidate when no budget is set', () => {
    expect(judgeCandidates(all, {}, 'accuracy').chosen).toBe('large');
  });

  it('takes the most accurate candidate within every budget, and names the budget each other one broke', () => {
    const r = judgeCandidates(all, { maxP95Ms: 0.1, maxMemoryMb: 200 }, 'accuracy');
    expect(r.chosen).toBe('medium');
    expect(r.candidates.find((c) => c.name === 'large')!.broken).toEqual([{ budget: 'maxP95Ms', limit: 0.1, measured: 0.4 }]);
    expect(r.candidates.find((c) => c.name === 'medium')!.broken).toEqual([]);
  });

  it('judges size in KiB and memory in MiB, like the validate gates', () => {
    const r = judgeCandidates(all, { maxSizeKb: 9.99, maxMemoryMb: 120 }, 'accuracy');
    expect(r.chosen).toBe('small');
    expect(r.candidates.find((c) => c.name === 'large')!.broken.map((b) => b.budget)).toEqual(['maxSizeKb', 'maxMemoryMb']);
  });

  it('gives a tie in accuracy to the smaller artifact, then to fewer parameters, then to grid order', () => {
    expect(judgeCandidates([fig('big', 0.95, 0.01, 20), fig('tiny', 0.95, 0.05, 5)], {}, 'accuracy').chosen).toBe('tiny');
    expect(judgeCandidates([fig('more', 0.95, 0.01, 5, 100, 900), fig('fewer', 0.95, 0.01, 5, 100, 800)], {}, 'accuracy').chosen).toBe('fewer');
    expect(judgeCandidates([fig('first', 0.95, 0.01, 5), fig('second', 0.95, 0.01, 5)], {}, 'accuracy').chosen).toBe('first');
  });

  it('chooses nothing when every candidate breaks a budget', () => {
    const r = judgeCandidates(all, { maxSizeKb: 1 }, 'accuracy');
    expect(r.chosen).toBeNull();
    expect(r.candidates.every((c) => c.broken.length === 1)).toBe(true);
  });

  it('puts on the Pareto front exactly the candidates no other beats on both accuracy and cost', () => {
    const dominated = fig('dominated', 0.9, 0.2, 50);
    const set = [...all, dominated];
    expect(paretoFront(set, (c) => c.p95Ms)).toEqual(['small', 'medium', 'large']);
    const r = judgeCandidates(set, {}, 'accuracy');
    expect(r.pareto).toEqual({ p95: ['small', 'medium', 'large'], size: ['small', 'medium', 'large'] });
    expect(r.candidates.find((c) => c.name === 'dominated')!.pareto).toEqual({ p95: false, size: false });
  });
});

describe('search configs', () => {
  it('has default grids of six mlp and six cnn candidates with distinct names', () => {
    for (const grid of ['mlp', 'cnn'] as const) {
      const list = searchCandidates({ grid }, 'mlp');
      expect(list).toHaveLength(6);
      expect(new Set(list.map(candidateName)).size).toBe(6);
      expect(list.every((c) => c.arch === grid)).toBe(true);
    }
    expect(searchCandidates({}, 'cnn')).toBe(DEFAULT_GRIDS.cnn);
  });

  it('refuses settings of the other architecture, unknown fields and duplicate names', () => {
    expect(SearchConfigSchema.safeParse({ candidates: [{ arch: 'mlp', filters: [8] }] }).success).toBe(false);
    expect(SearchConfigSchema.safeParse({ candidates: [{ arch: 'cnn', hidden: [8] }] }).success).toBe(false);
    expect(SearchConfigSchema.safeParse({ candidates: [{ arch: 'mlp', width: 8 }] }).success).toBe(false);
    expect(SearchConfigSchema.safeParse({ grid: 'mlp', candidates: [{ arch: 'mlp' }] }).success).toBe(false);
    expect(() => searchCandidates({ candidates: [{ arch: 'mlp', hidden: [8] }, { arch: 'mlp', hidden: [8] }] }, 'mlp')).toThrow(/two candidates are named "mlp 8"/);
  });
});

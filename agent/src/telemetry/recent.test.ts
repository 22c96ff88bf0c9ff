import { describe, expect, it } from 'vitest';
import type { Preprocessing } from '@edgeml/core';
import { RecentPredictions } from './recent.js';

const pre = (width: number): Preprocessing => ({ mean: new Array<number>(width).fill(1), std: new Array<number>(width).fill(2) }) as unknown as Preprocessing;

describe('recent predictions', () => {
  it('gives back the raw row, and forgets the oldest past its limit', () => {
    const recent = new RecentPredictions(3);
    const rows = Float32Array.from([0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5]);
    for (let i = 0; i < 4; i++) recent.remember(`p${i}`, 7, `label${i}`, pre(2), rows, i * 2, 2);
    expect(recent.size).toBe(3);
    expect(recent.get('p0')).toBeUndefined();
    const p3 = recent.get('p3')!;
    expect([p3.version, p3.predicted]).toEqual([7, 'label3']);
    // Standardised 3 and 3.5 with mean 1 and std 2.
    expect(p3.raw()).toEqual([7, 8]);
    expect(recent.get('p1')!.raw()).toEqual([3, 4]);
  });

  it('a deleted prediction frees its slot without evicting a live one', () => {
    const recent = new RecentPredictions(2);
    const row = Float32Array.from([1]);
    recent.remember('a', 1, 'x', pre(1), row, 0, 1);
    recent.remember('b', 1, 'x', pre(1), row, 0, 1);
    recent.delete('a');
    recent.remember('c', 1, 'x', pre(1), row, 0, 1);
    expect(recent.get('b')).toBeDefined();
    expect(recent.get('c')).toBeDefined();
    expect(recent.size).toBe(2);
    // The ring is full again: the next one replaces b, the oldest slot.
    recent.remember('d', 1, 'x', pre(1), row, 0, 1);
    expect(recent.get('b')).toBeUndefined();
    expect(recent.size).toBe(2);
  });

  it('keeps rows of a model with another width readable after a new model starts', () => {
    const recent = new RecentPredictions(4);
    recent.remember('old', 1, 'x', pre(3), Float32Array.from([1, 2, 3]), 0, 3);
    recent.remember('new', 2, 'y', pre(2), Float32Array.from([4, 5]), 0, 2);
    expect(recent.get('old')!.raw()).toEqual([3, 5, 7]);
    expect(recent.get('new')!.raw()).toEqual([9, 11]);
  });
});

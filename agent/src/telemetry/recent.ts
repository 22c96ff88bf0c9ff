/**
 * The predictions that can still receive feedback: the last `limit` of them, by id, with the
 * row each was made from.
 *
 * Rows live in one preallocated Float32Array used as a ring, not in an array per prediction.
 * A typed array per row (64 floats for the digits model) is a separate malloc'd backing store;
 * kept for 2,000 predictions, each is promoted to V8's old generation and freed only by its next
 * full collection, so under load the process heap filled with them and stayed fragmented after
 * (+16 MB RSS after 100k predictions, docs/BENCHMARKS.md, footprint).
 */
import type { Preprocessing } from '@edgeml/core';

export interface Recent {
  version: number;
  predicted: string | number;
  /** The serving version's preprocessing (shared, not copied), to undo the standardisation. */
  pre: Preprocessing;
  /** The raw inputs as the client sent them (through float32: 7 significant digits). */
  raw(): number[];
}

interface Slot {
  version: number;
  predicted: string | number;
  pre: Preprocessing;
  ring: Ring;
  index: number;
}

/** Rows of one width; a model with another feature count gets a ring of its own. */
interface Ring {
  width: number;
  rows: Float32Array;
}

export class RecentPredictions {
  private readonly byId = new Map<string, Slot>();
  /** Which id holds each ring slot, so that reusing a slot forgets its previous prediction. */
  private readonly owners: (string | undefined)[];
  private ring: Ring | undefined;
  private next = 0;

  constructor(private readonly limit: number) {
    this.owners = new Array<string | undefined>(limit);
  }

  get size(): number {
    return this.byId.size;
  }

  /** Remember a prediction and its standardised inputs (`width` values copied from `inputs[at]`). */
  remember(id: string, version: number, predicted: string | number, pre: Preprocessing, inputs: Float32Array, at: number, width: number): void {
    if (this.limit <= 0) return;
    // Earlier entries keep the ring they were written to; it goes when the last of them does.
    if (this.ring?.width !== width) this.ring = { width, rows: new Float32Array(this.limit * width) };
    const index = this.next;
    this.next = (this.next + 1) % this.limit;
    const previous = this.owners[index];
    if (previous !== undefined) this.byId.delete(previous);
    this.owners[index] = id;
    this.ring.rows.set(inputs.subarray(at, at + width), index * width);
    this.byId.set(id, { version, predicted, pre, ring: this.ring, index });
  }

  get(id: string): Recent | undefined {
    const slot = this.byId.get(id);
    if (!slot) return undefined;
    const { ring, index, pre } = slot;
    return {
      version: slot.version,
      predicted: slot.predicted,
      pre,
      raw: () => {
        const { mean, std } = pre;
        const row = ring.rows.subarray(index * ring.width, (index + 1) * ring.width);
        return Array.from(row, (v, j) => Number((v * std[j]! + mean[j]!).toPrecision(7)));
      },
    };
  }

  delete(id: string): void {
    const slot = this.byId.get(id);
    if (!slot) return;
    this.byId.delete(id);
    if (this.owners[slot.index] === id) this.owners[slot.index] = undefined;
  }
}

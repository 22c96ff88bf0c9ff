import { describe, expect, it } from 'vitest';
import { IdleGc } from './idle-gc.js';

const until = async (what: () => boolean, ms = 5000): Promise<void> => {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('collection after a burst', () => {
  it('collects once when requests stop, not while they come, and not again before the interval', async () => {
    let calls = 0;
    const idle = new IdleGc({ gc: () => calls++, quietMs: 50, minIntervalMs: 100_000 });
    try {
      // A burst longer than the quiet time: no collection while it lasts.
      const end = Date.now() + 200;
      while (Date.now() < end) {
        idle.activity();
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(calls).toBe(0);
      await until(() => calls === 1);
      // A second burst within the minimum interval waits for it.
      idle.activity();
      await new Promise((r) => setTimeout(r, 150));
      expect(calls).toBe(1);
    } finally {
      idle.stop();
    }
  });

  it('does nothing without a collector, and a failing one is reported, not thrown', async () => {
    const off = new IdleGc({ quietMs: 10 });
    expect(off.enabled).toBe((globalThis as { gc?: unknown }).gc !== undefined);
    off.stop();
    const errors: unknown[] = [];
    const failing = new IdleGc({ gc: () => { throw new Error('no'); }, quietMs: 10, onError: (e) => errors.push(e) });
    failing.activity();
    await until(() => errors.length === 1);
    failing.stop();
  });
});

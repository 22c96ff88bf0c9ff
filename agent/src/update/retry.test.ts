import { describe, expect, it } from 'vitest';
import { EdgemlError, RefusedError } from '@edgeml/core';
import { backoffMs, isTransient, transientError } from './retry.js';

describe('the retry policy', () => {
  it('decides from the error flag or system code, never from the message', () => {
    expect(isTransient(transientError('transfer-stalled', 'x'))).toBe(true);
    expect(isTransient(new EdgemlError('bad', 'network stalled timeout ENOSPC'))).toBe(false);
    expect(isTransient(Object.assign(new Error('write failed'), { code: 'ENOSPC' }))).toBe(true);
    expect(isTransient(new Error('ENOSPC: no space left on device'))).toBe(false);
    expect(isTransient(new TypeError('fetch failed', { cause: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }) }))).toBe(true);
    expect(isTransient(new RefusedError('hash-mismatch', 'timeout'))).toBe(false);
    expect(isTransient(Object.assign(new Error('x'), { code: 'EACCES' }))).toBe(false);
  });

  it('backs off exponentially with jitter, between half and all of a capped ceiling', () => {
    const policy = { retryBaseMs: 100, retryMaxMs: 1000 };
    expect(backoffMs(1, policy, () => 0)).toBe(50);
    expect(backoffMs(1, policy, () => 1)).toBe(100);
    expect(backoffMs(3, policy, () => 1)).toBe(400);
    expect(backoffMs(50, policy, () => 1)).toBe(1000);
    expect(backoffMs(50, policy, () => 0)).toBe(500);
    const spread = new Set(Array.from({ length: 20 }, () => backoffMs(4, policy)));
    expect(spread.size).toBeGreaterThan(1);
  });
});

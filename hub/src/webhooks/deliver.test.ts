import { describe, expect, it } from 'vitest';
import { backoffMs, DEFAULT_RETRY, webhookSignature } from './deliver.js';
import { checkTargets, parseWebhookSpec, targetId } from './targets.js';

describe('webhook targets and retry policy', () => {
  it('doubles the wait up to the cap, with at most 20% jitter', () => {
    const p = { ...DEFAULT_RETRY, baseMs: 1000, maxMs: 5000 };
    expect([1, 2, 3, 4, 5].map((a) => backoffMs(p, a, 0))).toEqual([1000, 2000, 4000, 5000, 5000]);
    expect(backoffMs(p, 2, 1)).toBe(2400);
  });

  it('signs the timestamp with the body, so neither can be swapped', () => {
    const a = webhookSignature('s'.repeat(16), '100', '{"a":1}');
    expect(a).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(webhookSignature('s'.repeat(16), '101', '{"a":1}')).not.toBe(a);
    expect(webhookSignature('s'.repeat(16), '100', '{"a":2}')).not.toBe(a);
  });

  it('takes URL[,secret], refuses a bad URL or a short secret with a line naming it, and never logs a secret', () => {
    const t = parseWebhookSpec('https://user:pw@example.com/hook,0123456789abcdef');
    expect(t).toMatchObject({ url: 'https://user:pw@example.com/hook', secret: '0123456789abcdef', format: 'json' });
    expect(targetId(t)).toBe('json:https://example.com/hook');
    expect(targetId(parseWebhookSpec('https://hooks.slack.com/services/T0/B0/SECRETPATH', 'slack'))).toMatch(/^slack:https:\/\/hooks\.slack\.com\/…[0-9a-f]{8}$/);
    expect(() => parseWebhookSpec('ftp://example.com/x')).toThrow(/webhook ftp:\/\/example\.com\/x: url: an http/);
    expect(() => parseWebhookSpec('https://example.com/x,short')).toThrow(/secret/);
    expect(checkTargets([{ url: 'https://a.example/x' }, { url: 'https://a.example/x' }])).toHaveLength(1);
  });
});

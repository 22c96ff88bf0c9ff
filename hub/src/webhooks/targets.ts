/**
 * Where the hub sends its events: URLs given to `edgeml hub start --webhook URL[,secret]` (generic
 * JSON) or `--slack-webhook URL` (Slack-compatible text), or in HubOptions. Checked when the hub
 * starts, so a typo fails the start with a clear line instead of failing every delivery.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { userError } from '@edgeml/core';
import { HUB_EVENT_TYPES } from '../events/bus.js';

export const WebhookTargetSchema = z.object({
  url: z
    .string()
    .max(2048)
    .refine((u) => {
      try {
        return ['http:', 'https:'].includes(new URL(u).protocol);
      } catch {
        return false;
      }
    }, 'an http:// or https:// URL'),
  /** Signs every body with HMAC-SHA256 (header x-edgeml-signature); at least 16 characters. */
  secret: z.string().min(16).max(256).optional(),
  format: z.enum(['json', 'slack']).default('json'),
  /** Only these event types (default: all). */
  events: z.array(z.enum(HUB_EVENT_TYPES)).optional(),
});
export type WebhookTarget = z.infer<typeof WebhookTargetSchema>;
export type WebhookTargetInput = z.input<typeof WebhookTargetSchema>;

/** `URL[,secret]` as the CLI takes it. */
export function parseWebhookSpec(spec: string, format: 'json' | 'slack' = 'json'): WebhookTarget {
  const comma = spec.indexOf(',');
  const url = comma < 0 ? spec : spec.slice(0, comma);
  const secret = comma < 0 ? undefined : spec.slice(comma + 1);
  return checkTargets([{ url, format, ...(secret ? { secret } : {}) }])[0]!;
}

/** Valid targets, one per URL and format; a bad one is a user error naming it. */
export function checkTargets(input: readonly WebhookTargetInput[]): WebhookTarget[] {
  const out: WebhookTarget[] = [];
  for (const t of input) {
    const parsed = WebhookTargetSchema.safeParse(t);
    if (!parsed.success) {
      const where = typeof t.url === 'string' ? t.url.replace(/\/\/[^/@]*@/, '//***@').slice(0, 200) : '?';
      throw userError('bad-webhook', `webhook ${where}: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`).join('; ')}`);
    }
    if (!out.some((o) => targetId(o) === targetId(parsed.data))) out.push(parsed.data);
  }
  return out;
}

/** What the delivery log names a target by: never the secret, and no credentials in the URL. */
export function targetId(t: WebhookTarget): string {
  const u = new URL(t.url);
  u.username = '';
  u.password = '';
  // A Slack incoming-webhook URL is its own secret (in the path): the log names it by a digest.
  if (t.format === 'slack') return `slack:${u.origin}/…${createHash('sha256').update(t.url).digest('hex').slice(0, 8)}`;
  return `${t.format}:${u.toString()}`;
}

export const wantsEvent = (t: WebhookTarget, type: string): boolean => !t.events || (t.events as string[]).includes(type);

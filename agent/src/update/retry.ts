/**
 * The retry policy of the update path. Whether a fault is transient is decided from the error's
 * flag or code, never from its message: an `EdgemlError` says so itself, and the operating
 * system's codes name the rest (a full disk, a dropped connection). Everything else is a verdict.
 */
import { EdgemlError, RefusedError } from '@edgeml/core';

export interface RetryPolicy {
  retryBaseMs: number;
  retryMaxMs: number;
  maxRetries: number;
}

/** System error codes a later attempt can get past: space freed, network back, server up. */
const TRANSIENT_CODES = new Set([
  'ENOSPC',
  'EDQUOT',
  'EIO',
  'EAGAIN',
  'EBUSY',
  'EMFILE',
  'ENFILE',
  'ENOMEM',
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);

export function isTransient(e: unknown): boolean {
  if (e instanceof RefusedError) return false;
  if (e instanceof EdgemlError) return e.transient;
  // fetch() wraps the socket's error as its cause; walk a short chain of causes.
  for (let cur: unknown = e, depth = 0; cur && typeof cur === 'object' && depth < 4; cur = (cur as { cause?: unknown }).cause, depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && TRANSIENT_CODES.has(code)) return true;
  }
  return false;
}

/** A fault worth another try, with its machine-readable code. */
export const transientError = (code: string, message: string, cause?: unknown): EdgemlError =>
  new EdgemlError(code, message, { transient: true, exitCode: 1, cause });

/**
 * Exponential backoff with full jitter: a fleet that lost its hub together does not come back
 * together. `retry` counts from 1.
 */
export function backoffMs(retry: number, policy: Pick<RetryPolicy, 'retryBaseMs' | 'retryMaxMs'>, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.retryMaxMs, policy.retryBaseMs * 2 ** Math.min(30, Math.max(0, retry - 1)));
  // Never below half the ceiling, so a retry is not immediate by bad luck.
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

export const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise<void>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });

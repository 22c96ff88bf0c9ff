/**
 * Device credentials and one-time enrolment tokens. Only hashes are stored: a stolen
 * registry file gives no working password or token.
 */
import { randomBytes, scryptSync, timingSafeEqual, createHash } from 'node:crypto';

const SCRYPT_N = 1 << 14;

export function newSecret(bytes = 24): string {
  return randomBytes(bytes).toString('base64url');
}

/** `scrypt$N$salt$hash`, all base64url. */
export function hashSecret(secret: string): string {
  const salt = randomBytes(16);
  const hash = scryptSync(secret, salt, 32, { N: SCRYPT_N });
  return `scrypt$${SCRYPT_N}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

export function checkSecret(secret: string, stored: string): boolean {
  const [kind, n, salt, hash] = stored.split('$');
  if (kind !== 'scrypt' || !n || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const got = scryptSync(secret, Buffer.from(salt, 'base64url'), expected.length, { N: Number(n) });
  return timingSafeEqual(got, expected);
}

/** Tokens are long random strings, so a plain sha256 is enough to store them safely. */
export const tokenHash = (token: string): string => createHash('sha256').update(token).digest('hex');

export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Device credentials and one-time enrolment tokens. Only hashes are stored: a stolen
 * registry file gives no working password or token.
 *
 * Device passwords are 192-bit random secrets the hub generates, not words a person chose, so a
 * fast salted hash is as safe as a slow KDF here; and it keeps authenticating 10,000 devices
 * reconnecting at once cheap (scrypt would cost ~50 ms of CPU each).
 */
import { randomBytes, scryptSync, timingSafeEqual, createHash } from 'node:crypto';

export function newSecret(bytes = 24): string {
  return randomBytes(bytes).toString('base64url');
}

/** `sha256$salt$hash` (base64url) for generated secrets; `scrypt$N$salt$hash` is still read. */
export function hashSecret(secret: string): string {
  const salt = randomBytes(16);
  const hash = createHash('sha256').update(salt).update(secret).digest();
  return `sha256$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

export function checkSecret(secret: string, stored: string): boolean {
  const parts = stored.split('$');
  if (parts[0] === 'sha256' && parts.length === 3) {
    const expected = Buffer.from(parts[2]!, 'base64url');
    const got = createHash('sha256').update(Buffer.from(parts[1]!, 'base64url')).update(secret).digest();
    return got.length === expected.length && timingSafeEqual(got, expected);
  }
  const [kind, n, salt, hash] = parts;
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

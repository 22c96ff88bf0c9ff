import { describe, expect, it } from 'vitest';
import {
  isReservedDeviceId,
  joinEnrollToken,
  normalizeFingerprint,
  rootFingerprint,
  signEnrollment,
  splitEnrollToken,
  verifyEnrollResponse,
  type EnrollResponse,
} from './enrollment.js';
import { isEdgemlError } from './errors.js';
import { generateKeyPair, signEnvelope, signReleaseKey, type ReleaseSigner } from './signing.js';

const now = new Date('2026-06-01T00:00:00Z');
const root = generateKeyPair();
const release = generateKeyPair();
const signer: ReleaseSigner = { release, releaseKeyDoc: signReleaseKey(root, release, now, 30, 1), rootPublicKeyPem: root.publicKeyPem };
const fp = rootFingerprint(root.publicKeyPem);
const expect0 = { fingerprint: fp, deviceId: 'dev-1', nonce: 'n'.repeat(24), now };

function answer(over: Partial<EnrollResponse> = {}, doc: Record<string, unknown> = {}): EnrollResponse {
  const base = { deviceId: 'dev-1', username: 'dev-1', password: 'p'.repeat(32), brokerUrl: 'mqtt://hub:1883', rootKey: root.publicKeyPem };
  const signed = signEnrollment({ type: 'enrollment', deviceId: 'dev-1', brokerUrl: 'mqtt://hub:1883', nonce: 'n'.repeat(24), created: now.toISOString(), ...doc } as never, signer);
  return { ...base, ...signed, ...over };
}

const codeOf = (body: unknown, e = expect0): string => {
  try {
    verifyEnrollResponse(body, e);
    return 'accepted';
  } catch (err) {
    if (isEdgemlError(err)) return err.code;
    throw err;
  }
};

describe('enrolment tokens', () => {
  it('splits a printed token into the secret and the pinned fingerprint', () => {
    expect(splitEnrollToken(joinEnrollToken('abc_-XYZ', fp))).toEqual({ secret: 'abc_-XYZ', fingerprint: fp });
    expect(splitEnrollToken('abc_-XYZ')).toEqual({ secret: 'abc_-XYZ' });
    expect(normalizeFingerprint(`SHA256:${fp.toUpperCase()}`)).toBe(fp);
    expect(() => splitEnrollToken('abc.not-a-fingerprint')).toThrow(/is not a root key fingerprint/);
  });

  it('reserves the hub role ids', () => {
    expect(['edgeml-hub', 'edgeml-operator', 'EDGEML-x'].map(isReservedDeviceId)).toEqual([true, true, true]);
    expect(isReservedDeviceId('gateway-edgeml-1')).toBe(false);
  });
});

describe('verifyEnrollResponse', () => {
  const other = generateKeyPair();
  const otherRelease = generateKeyPair();
  const cases: [string, unknown, string][] = [
    ['the hub answer as signed', answer(), 'accepted'],
    ['another root key', answer({ rootKey: other.publicKeyPem }), 'root-key-mismatch'],
    ['another root key with everything re-signed', (() => {
      const s = signEnrollment({ type: 'enrollment', deviceId: 'dev-1', brokerUrl: 'mqtt://evil:1883', nonce: 'n'.repeat(24), created: now.toISOString() }, { release: otherRelease, releaseKeyDoc: signReleaseKey(other, otherRelease, now), rootPublicKeyPem: other.publicKeyPem });
      return { ...answer({ rootKey: other.publicKeyPem, brokerUrl: 'mqtt://evil:1883' }), ...s };
    })(), 'root-key-mismatch'],
    ['a broker URL the hub did not sign', answer({ brokerUrl: 'mqtt://evil:1883' }), 'enroll-bad-signature'],
    ['a release key the root did not sign', answer({ releaseKey: signReleaseKey(other, release, now) }), 'enroll-bad-signature'],
    ['an enrolment document signed by another key', answer({ enrollment: signEnvelope({ type: 'enrollment', deviceId: 'dev-1', brokerUrl: 'mqtt://hub:1883', nonce: 'n'.repeat(24), created: now.toISOString() }, otherRelease) }), 'enroll-bad-signature'],
    ['an answer for another request', answer({}, { nonce: 'm'.repeat(24) }), 'enroll-replayed'],
    ['an answer for another device', answer({ deviceId: 'dev-2', username: 'dev-2' }, { deviceId: 'dev-2' }), 'enroll-bad-signature'],
    ['a body without the signed parts', { deviceId: 'dev-1', username: 'dev-1', password: 'x', brokerUrl: 'mqtt://hub:1883', rootKey: root.publicKeyPem }, 'enroll-malformed'],
    ['a root key that is not a key', answer({ rootKey: 'nope' }), 'enroll-malformed'],
  ];
  it.each(cases)('%s: %s', (_, body, code) => {
    expect(codeOf(body)).toBe(code);
  });

  it('refuses an expired release key', () => {
    expect(codeOf(answer(), { ...expect0, now: new Date(now.getTime() + 31 * 86_400_000) })).toBe('enroll-bad-signature');
  });

  it('exits 1 (a failed check), not 2', () => {
    let thrown: unknown;
    try {
      verifyEnrollResponse(answer({ rootKey: other.publicKeyPem }), expect0);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toMatchObject({ code: 'root-key-mismatch', exitCode: 1 });
  });
});

/**
 * Enrolment that a network in the middle cannot bend. The operator's token carries the
 * fingerprint of the hub's root public key (as `kubeadm join` carries the CA hash), so the
 * device checks the root key it is told to pin against something that never crossed the
 * network. The hub then signs what else the device will trust (its id, the broker URL, the
 * device's nonce) with the release key the root vouches for, so a proxy can swap neither the
 * root key nor the broker URL without the device noticing.
 */
import { z } from 'zod';
import { EdgemlError } from './errors.js';
import { hasValidSignature, keyIdOf, signEnvelope, type ReleaseSigner } from './signing.js';
import { ReleaseKeyDocSchema, SignatureSchema, describeZodError } from './schemas.js';

/** `sha256` hex of the root public key's DER encoding: the same value as its TUF key id. */
export function rootFingerprint(rootPublicKeyPem: string): string {
  return keyIdOf(rootPublicKeyPem);
}

/** A token as printed by `edgeml hub token`: `<secret>.<root fingerprint>`. */
export function joinEnrollToken(secret: string, fingerprint: string): string {
  return `${secret}.${fingerprint}`;
}

/**
 * The secret part (what the hub checks) and the pinned fingerprint, if the token carries one.
 * Secrets are base64url, which has no `.`, so the split is unambiguous.
 */
export function splitEnrollToken(token: string): { secret: string; fingerprint?: string } {
  const dot = token.indexOf('.');
  if (dot < 0) return { secret: token };
  return { secret: token.slice(0, dot), fingerprint: normalizeFingerprint(token.slice(dot + 1)) };
}

/** Accepts `sha256:<hex>` or bare hex, any case; anything else is a user error. */
export function normalizeFingerprint(value: string): string {
  const hex = value.replace(/^sha256:/i, '').toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) {
    throw new EdgemlError('bad-fingerprint', `"${value}" is not a root key fingerprint (sha256:<64 hex digits>, as \`edgeml hub token\` prints)`);
  }
  return hex;
}

export const EnrollmentDocSchema = z.object({
  type: z.literal('enrollment'),
  deviceId: z.string(),
  brokerUrl: z.string(),
  nonce: z.string(),
  created: z.string(),
});
export type EnrollmentDoc = z.infer<typeof EnrollmentDocSchema>;

const envelope = z.object({ signed: z.unknown(), signatures: z.array(SignatureSchema).max(8) });

export const EnrollResponseSchema = z.object({
  deviceId: z.string().max(128),
  username: z.string().max(128),
  password: z.string().max(256),
  brokerUrl: z.string().max(2048),
  rootKey: z.string().max(4096),
  /** The hub's signed word on `deviceId`, `brokerUrl` and the device's nonce. */
  enrollment: envelope,
  /** The root-signed document of the key that signed `enrollment`. */
  releaseKey: envelope,
  /**
   * What the operator bound the device to (`hub token --model --channel --tags`). Not signed:
   * the hub enforces the scope on everything the device sends, whatever the device was told.
   */
  scope: z
    .object({ model: z.string().max(128).nullable(), channel: z.string().max(128).nullable(), tags: z.array(z.string().max(128)).max(64).nullable() })
    .optional(),
});
export type EnrollResponse = z.infer<typeof EnrollResponseSchema>;

export function signEnrollment(doc: EnrollmentDoc, signer: ReleaseSigner): Pick<EnrollResponse, 'enrollment' | 'releaseKey'> {
  return { enrollment: signEnvelope(doc, signer.release), releaseKey: signer.releaseKeyDoc };
}

const refused = (code: string, message: string) => new EdgemlError(code, message, { exitCode: 1 });

/**
 * Check a hub's enrolment answer against the fingerprint the operator gave the device. Throws
 * an EdgemlError (exit 1) naming what did not match; returns the parsed response otherwise.
 */
export function verifyEnrollResponse(body: unknown, expect: { fingerprint: string; deviceId: string; nonce: string; now?: Date }): EnrollResponse {
  const parsed = EnrollResponseSchema.safeParse(body);
  if (!parsed.success) throw refused('enroll-malformed', `the hub's enrolment answer is malformed: ${describeZodError(parsed.error)}`);
  const res = parsed.data;
  let got: string;
  try {
    got = rootFingerprint(res.rootKey);
  } catch {
    throw refused('enroll-malformed', 'the hub sent a root key that is not a public key');
  }
  if (got !== expect.fingerprint) {
    throw refused(
      'root-key-mismatch',
      `the hub's root key has fingerprint sha256:${got}, the token pins sha256:${expect.fingerprint}: something between this device and the hub is not the hub (or the token is for another hub); nothing was written`,
    );
  }
  if (!hasValidSignature(res.releaseKey, res.rootKey)) throw refused('enroll-bad-signature', 'the release key in the enrolment answer is not signed by the pinned root key');
  const keyDoc = ReleaseKeyDocSchema.safeParse(res.releaseKey.signed);
  if (!keyDoc.success) throw refused('enroll-malformed', `release key document: ${describeZodError(keyDoc.error)}`);
  if (!(Date.parse(keyDoc.data.expires) > (expect.now ?? new Date()).getTime())) throw refused('enroll-bad-signature', `the hub's release key expired at ${keyDoc.data.expires}`);
  if (!hasValidSignature(res.enrollment, keyDoc.data.publicKey)) {
    throw refused('enroll-bad-signature', 'the enrolment answer is not signed by the hub: its broker URL or device id was changed on the way; nothing was written');
  }
  const doc = EnrollmentDocSchema.safeParse(res.enrollment.signed);
  if (!doc.success) throw refused('enroll-malformed', `enrolment document: ${describeZodError(doc.error)}`);
  if (doc.data.nonce !== expect.nonce) throw refused('enroll-replayed', 'the enrolment answer was signed for another request (nonce differs)');
  if (doc.data.deviceId !== expect.deviceId || res.deviceId !== expect.deviceId || res.username !== expect.deviceId) {
    throw refused('enroll-bad-signature', `the enrolment answer is for device "${doc.data.deviceId}", not "${expect.deviceId}"`);
  }
  if (doc.data.brokerUrl !== res.brokerUrl) {
    throw refused('enroll-bad-signature', `the broker URL ${res.brokerUrl} is not the one the hub signed (${doc.data.brokerUrl}); nothing was written`);
  }
  return res;
}

/** Device ids the hub's own MQTT roles use: never given to a device. */
export function isReservedDeviceId(id: string): boolean {
  return id.toLowerCase().startsWith('edgeml-');
}

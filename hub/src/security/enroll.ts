/**
 * The hub's side of enrolment: spend a one-time token, store the new device's password hash,
 * and answer with a signed word on the device id and broker URL (see core's enrollment.ts).
 */
import { errorMessage, signEnrollment, splitEnrollToken, type EnrollResponse, type Logger, type ReleaseSigner } from '@edgeml/core';
import type { Registry } from '../registry/registry.js';
import { hashSecret, newSecret, tokenHash } from './credentials.js';
import type { EnrollRequest } from './http.js';

export interface EnrollDeps {
  registry: Registry;
  /** The current release signer: read per request so a rotated key is used at once. */
  signer: () => ReleaseSigner;
  brokerUrl: string;
  log: Logger;
  now?: () => Date;
}

export function enrollHandler(d: EnrollDeps): (req: EnrollRequest) => EnrollResponse | { error: string; status: number } {
  return (req) => {
    const now = d.now?.() ?? new Date();
    // Old agents send the token as printed; the fingerprint after the dot is public and not checked here.
    const { secret } = splitEnrollToken(req.token);
    if (d.registry.tokens.isBlocked(req.deviceId)) {
      return { status: 409, error: `device id "${req.deviceId}" was revoked; unblock it with \`edgeml device unblock ${req.deviceId}\` before enrolling it again` };
    }
    // The signer first: if the key files are unusable the token is not spent on a failed answer.
    let signer: ReleaseSigner;
    try {
      signer = d.signer();
    } catch (e) {
      d.log.error('cannot sign an enrolment answer', { error: errorMessage(e) });
      return { status: 503, error: `the hub cannot sign right now: ${errorMessage(e)}` };
    }
    const password = newSecret();
    const outcome = d.registry.enrollDevice(tokenHash(secret), req.deviceId, hashSecret(password), now);
    if (outcome === 'bad-token') return { status: 403, error: 'the enrolment token is unknown, used or expired' };
    if (outcome === 'device-exists') return { status: 409, error: `device "${req.deviceId}" is already enrolled` };
    d.log.info('device enrolled', { deviceId: req.deviceId });
    const signed = signEnrollment({ type: 'enrollment', deviceId: req.deviceId, brokerUrl: d.brokerUrl, nonce: req.nonce ?? '', created: now.toISOString() }, signer);
    // What the operator bound the device to, for its config (the hub enforces it either way).
    const scope = d.registry.scopes.of(req.deviceId);
    return { deviceId: req.deviceId, username: req.deviceId, password, brokerUrl: d.brokerUrl, rootKey: signer.rootPublicKeyPem, ...signed, ...(scope ? { scope } : {}) };
  };
}

export { EdgemlError, userError, checkFailed, isEdgemlError, errorMessage, type ExitCode } from './errors.js';
export { canonicalJson } from './canonical.js';
export { writeFileAtomic, isAtomicTempFile, sha256Hex, sha256File } from './fsutil.js';
export { createLogger, silentLogger, type Logger, type LogLevel } from './log.js';
export { topics, TOPIC_ROOT, deviceIdOfTopic, validName } from './topics.js';
export * from './schemas.js';
export {
  generateKeyPair,
  keyIdOf,
  signEnvelope,
  hasValidSignature,
  signReleaseKey,
  generateKeyDir,
  rotateReleaseKey,
  readKeyPair,
  loadReleaseSigner,
  loadReleaseSignerSync,
  type KeyOptions,
  keyFiles,
  type KeyPair,
  type ReleaseSigner,
} from './signing.js';
export {
  verifyRelease,
  RefusedError,
  ArtifactChecker,
  checkArtifactBytes,
  refusalReasons,
  type RefusalReason,
  type VerifyOptions,
  type VerifiedRelease,
} from './verify.js';
export { readJsonFile, loadAgentConfig } from './config.js';
export * from './fleet-schemas.js';
export { DesiredStateSchema, desiredKinds, convergence, type DesiredState, type DesiredKind, type Convergence } from './desired.js';
export {
  rootFingerprint,
  joinEnrollToken,
  splitEnrollToken,
  normalizeFingerprint,
  signEnrollment,
  verifyEnrollResponse,
  isReservedDeviceId,
  EnrollmentDocSchema,
  EnrollResponseSchema,
  type EnrollmentDoc,
  type EnrollResponse,
} from './enrollment.js';
export { FLOAT32_MAX, fitsFloat32, float32Problem } from './float32.js';
export { parseHubUrl } from './hub-url.js';

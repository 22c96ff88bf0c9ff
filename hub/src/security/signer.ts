/**
 * The hub's release signer, kept in step with its key directory. `edgeml keys rotate` rewrites
 * the key files while the hub runs; before every signature the hub compares the files' stamps
 * and loads the new key, so it never signs with a superseded one. A change it cannot use (a
 * half-written rotation, another root, an older key document put back) makes signing fail with
 * the reason instead of silently using the old key.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { EdgemlError, errorMessage, keyFiles, loadReleaseSignerSync, type Logger, type ReleaseSigner } from '@edgeml/core';

const DAY_MS = 86_400_000;
/** How long before the release key expires the hub starts warning. */
export const KEY_WARNING_DAYS = 30;

export class LiveSigner {
  private signer: ReleaseSigner;
  private stamp: string;
  private lastWarned = 0;
  /** Set when the files changed into something unusable: signing refuses until they are fixed. */
  private broken = false;

  constructor(
    private readonly dir: string,
    initial: ReleaseSigner,
    private readonly log: Logger,
    private readonly now: () => Date = () => new Date(),
    /** Told each time the expiry warning is logged (at most once a day): the hub's key.expiring event. */
    private readonly onWarning?: (warning: string, expires: string) => void,
  ) {
    this.signer = initial;
    this.stamp = this.stampOf();
    this.warnIfExpiring();
  }

  private stampOf(): string {
    return [keyFiles.releasePrivate, keyFiles.releaseKeyDoc, keyFiles.rootPublic]
      .map((f) => {
        try {
          const s = statSync(join(this.dir, f));
          return `${s.ino}:${s.size}:${s.mtimeMs}`;
        } catch {
          return 'missing';
        }
      })
      .join('|');
  }

  /** The signer to use now; throws (code `signing-key-changed`) when the key files changed into something unusable. */
  current(): ReleaseSigner {
    const stamp = this.stampOf();
    if (stamp !== this.stamp || this.broken) this.reload(stamp);
    this.warnIfExpiring();
    return this.signer;
  }

  private reload(stamp: string): void {
    const refuse = (why: string) =>
      new EdgemlError('signing-key-changed', `the release key in ${this.dir} changed and ${why}; refusing to sign with the superseded key`, { exitCode: 1, transient: true });
    let next: ReleaseSigner;
    try {
      next = loadReleaseSignerSync(this.dir);
    } catch (e) {
      throw refuse(`cannot be loaded (${errorMessage(e)})`);
    }
    if (next.rootPublicKeyPem.trim() !== this.signer.rootPublicKeyPem.trim()) throw refuse('names another root key than the one devices pinned (restart the hub if that is meant)');
    const before = this.signer.releaseKeyDoc.signed.version ?? 0;
    const after = next.releaseKeyDoc.signed.version ?? 0;
    if (after < before) throw refuse(`its document is version ${after}, older than version ${before} in use`);
    this.signer = next;
    this.stamp = stamp;
    this.broken = false;
    this.lastWarned = 0;
    this.log.info('release key rotated; signing with the new key', { keyid: next.release.keyid, version: after, expires: next.releaseKeyDoc.signed.expires });
  }

  /** Seconds until the release key expires (negative once it has). */
  secondsLeft(): number {
    return (Date.parse(this.signer.releaseKeyDoc.signed.expires) - this.now().getTime()) / 1000;
  }

  /** Pick up a rotation for reports (warnings, metrics); a bad change is for signing to refuse. */
  private refreshQuietly(): void {
    const stamp = this.stampOf();
    if (stamp === this.stamp) return;
    try {
      this.reload(stamp);
    } catch (e) {
      this.log.error('release key files changed into something unusable', { error: errorMessage(e) });
      this.stamp = stamp;
      this.broken = true;
    }
  }

  /** A warning for people, when the release key expires within KEY_WARNING_DAYS. */
  warning(): string | undefined {
    this.refreshQuietly();
    const days = this.secondsLeft() / 86_400;
    if (days > KEY_WARNING_DAYS) return undefined;
    const when = this.signer.releaseKeyDoc.signed.expires;
    return days <= 0
      ? `the release key expired at ${when}: devices refuse every release it signs; run \`edgeml keys rotate\``
      : `the release key expires at ${when} (in ${Math.ceil(days)} days): devices will refuse its releases after that; run \`edgeml keys rotate\``;
  }

  /** Log the warning at most once a day, so a long-running hub says it without flooding. */
  private warnIfExpiring(): void {
    const w = this.warning();
    const t = this.now().getTime();
    if (!w || t - this.lastWarned < DAY_MS) return;
    this.lastWarned = t;
    this.log.warn(w, { keyid: this.signer.release.keyid });
    this.onWarning?.(w, this.signer.releaseKeyDoc.signed.expires);
  }

  /** Prometheus lines for /metrics. */
  metrics(): string {
    this.refreshQuietly();
    return [
      '# HELP edgeml_release_key_expiry_seconds Seconds until the release key expires.',
      '# TYPE edgeml_release_key_expiry_seconds gauge',
      `edgeml_release_key_expiry_seconds ${Math.round(this.secondsLeft())}`,
      `# HELP edgeml_release_key_expiring 1 when the release key expires within ${KEY_WARNING_DAYS} days.`,
      '# TYPE edgeml_release_key_expiring gauge',
      `edgeml_release_key_expiring ${this.warning() ? 1 : 0}`,
      '# HELP edgeml_release_key_version Version of the release-key document the hub signs with.',
      '# TYPE edgeml_release_key_version gauge',
      `edgeml_release_key_version ${this.signer.releaseKeyDoc.signed.version ?? 0}`,
      '',
    ].join('\n');
  }
}

/**
 * Every error edgeml raises on purpose carries a stable machine-readable code, whether a retry
 * can help, and the exit code the CLI should use. Callers branch on `code` and `transient`,
 * never on message text.
 */
export type ExitCode = 1 | 2;

export class EdgemlError extends Error {
  readonly code: string;
  readonly transient: boolean;
  /** 2 for a user error (bad flag, missing file, bad data), 1 for a failed check or gate. */
  readonly exitCode: ExitCode;

  constructor(code: string, message: string, opts: { transient?: boolean; exitCode?: ExitCode; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'EdgemlError';
    this.code = code;
    this.transient = opts.transient ?? false;
    this.exitCode = opts.exitCode ?? 2;
  }
}

/** A mistake in what the user gave us: flags, files, data, config. Exit 2. */
export function userError(code: string, message: string, cause?: unknown): EdgemlError {
  return new EdgemlError(code, message, { exitCode: 2, cause });
}

/** A check or gate that ran and said no. Exit 1. */
export function checkFailed(code: string, message: string): EdgemlError {
  return new EdgemlError(code, message, { exitCode: 1 });
}

export function isEdgemlError(e: unknown): e is EdgemlError {
  return e instanceof EdgemlError;
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * CLI exit codes: 0 success, 1 the operation failed (not found, conflict, fault),
 * 2 invalid configuration or input (nothing was changed).
 */
export const EXIT_FAILURE = 1;
export const EXIT_INVALID = 2;

/** A failure with a stable code, reported as `error[code]: message` (or JSON with --json). */
export class CliError extends Error {
  readonly code: string;
  readonly exitCode: number;
  constructor(code: string, message: string, exitCode = EXIT_FAILURE) {
    super(message);
    this.name = 'CliError';
    this.code = code;
    this.exitCode = exitCode;
  }
}

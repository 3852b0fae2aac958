import type { ErrorCode } from './error-codes.js';

/**
 * The one error type for bad input. `main` prints `moe-inspect: <message>` on one line and exits 1;
 * anything else that escapes is a bug and gets a stack trace.
 * Messages name the file, the field or tensor, and what was expected versus found.
 */
export class InputError extends Error {
  override name = 'InputError';
  constructor(
    message: string,
    /** The check that failed, e.g. `header-too-large`: one of the list in error-codes.ts. */
    readonly code: ErrorCode,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Builds an InputError whose message starts with the file it is about. */
export function fileError(file: string, code: ErrorCode, problem: string, cause?: unknown): InputError {
  return new InputError(`${file}: ${problem}`, code, cause === undefined ? undefined : { cause });
}

/**
 * The error classes of denofuse.
 *
 * {@link FUSEError} is what a handler throws to answer a request with an
 * errno; the other classes report operational failures of the library itself
 * (loading libfuse, mounting), each with a message that names the problem and
 * its fix, and the underlying error as `cause`.
 *
 * @module
 */

import { errnoName } from "./errno.ts";

/**
 * The largest errno the kernel accepts in a reply: it rejects 512 and above
 * (the kernel-internal restart codes) with EINVAL, and the caller then waits
 * forever.
 */
export const MAX_REPLY_ERRNO = 511;

/**
 * Whether the kernel accepts `value` as the errno of an error reply.
 *
 * @param value a candidate errno
 * @returns true for an integer from 1 to {@link MAX_REPLY_ERRNO}
 */
export function isReplyErrno(value: number): boolean {
  return Number.isInteger(value) && value > 0 && value <= MAX_REPLY_ERRNO;
}

/**
 * Thrown by a handler to answer the request with an error number, like
 * pyfuse3's `FUSEError`.
 *
 * @example
 * ```ts
 * import { errno, FUSEError } from "../mod.ts";
 * function lookupMissing(): never {
 *   throw new FUSEError(errno.ENOENT);
 * }
 * ```
 */
export class FUSEError extends Error {
  /** The (positive) errno sent to the kernel. */
  readonly errno: number;

  /**
   * Creates the error.
   *
   * @param errnoValue an errno from 1 to 511, e.g. `errno.ENOENT`
   * @param message optional text for logs; defaults to the errno's name
   * @throws {RangeError} if `errnoValue` is not an integer from 1 to 511 (the
   *   kernel rejects other values, so a handler throwing this answers EIO)
   */
  constructor(errnoValue: number, message?: string) {
    if (!isReplyErrno(errnoValue)) {
      throw new RangeError(
        `FUSEError needs an errno from 1 to ${MAX_REPLY_ERRNO} (the kernel rejects others), ` +
          `got ${errnoValue}: use a value of errno, e.g. errno.EIO`,
      );
    }
    super(message ?? errnoName(errnoValue));
    this.name = "FUSEError";
    this.errno = errnoValue;
  }

  /** The errno's symbolic name, e.g. `"ENOENT"`. */
  get code(): string {
    return errnoName(this.errno);
  }
}

/**
 * A system call made by a denofuse utility or notification failed; like
 * Python's `OSError`, it carries the errno.
 */
export class ErrnoError extends Error {
  /** The (positive) errno. */
  readonly errno: number;

  /**
   * Creates the error.
   *
   * @param errnoValue the positive errno
   * @param what the call and its subject, e.g. `"syncfs(/mnt)"`
   * @param options the underlying `cause`, if any
   */
  constructor(errnoValue: number, what: string, options?: ErrorOptions) {
    super(`${what} failed: ${errnoName(errnoValue)}`, options);
    this.name = "ErrnoError";
    this.errno = errnoValue;
  }

  /** The errno's symbolic name, e.g. `"ENOENT"`. */
  get code(): string {
    return errnoName(this.errno);
  }
}

/**
 * An operational failure of denofuse: loading libfuse, creating the session,
 * mounting. The message says what failed and how to fix it; `cause` carries
 * the underlying error when there is one.
 */
export class FuseOperationalError extends Error {
  /**
   * Creates the error.
   *
   * @param message what failed and how to fix it
   * @param options the underlying `cause`, if any
   */
  constructor(message: string, options?: ErrorOptions) {
    super(`denofuse: ${message}`, options);
    this.name = "FuseOperationalError";
  }
}

/** libfuse3 could not be loaded. */
export class FuseLoadError extends FuseOperationalError {
  /**
   * Creates the error.
   *
   * @param message what was tried and how to install libfuse3
   * @param options the underlying `cause`, if any
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FuseLoadError";
  }
}

/** Creating the session or mounting it failed. */
export class FuseMountError extends FuseOperationalError {
  /**
   * Creates the error.
   *
   * @param message what failed and how to fix it
   * @param options the underlying `cause`, if any
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FuseMountError";
  }
}

/** The session API was used in the wrong order (e.g. `main()` before `init()`). */
export class FuseStateError extends FuseOperationalError {
  /**
   * Creates the error.
   *
   * @param message what was called out of order and what to call first
   */
  constructor(message: string) {
    super(message);
    this.name = "FuseStateError";
  }
}

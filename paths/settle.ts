/**
 * Small helpers for values that may or may not be promises, so that a
 * synchronous handler's answer is replied synchronously (no promise, no
 * microtask) and only asynchronous ones pay for `then`.
 *
 * @module
 */

import { errno, FUSEError, type MaybePromise } from "../mod.ts";

/**
 * `f(v)` now when `v` is a plain value, else once it resolves.
 *
 * @param v a value or a promise of one
 * @param f what to do with it
 * @returns `f`'s result, or a promise of it
 * @example
 * ```ts
 * import { settle } from "./settle.ts";
 * console.log(settle(2, (x) => x * 2)); // 4
 * ```
 */
export function settle<T, R>(v: MaybePromise<T>, f: (t: T) => MaybePromise<R>): MaybePromise<R> {
  return v instanceof Promise ? v.then(f) : f(v);
}

/**
 * Whether an error is a handler's ENOENT.
 *
 * @param e anything thrown
 * @returns true for `FUSEError(ENOENT)`
 * @example
 * ```ts
 * import { errno, FUSEError } from "../mod.ts";
 * import { isNoEntry } from "./settle.ts";
 * console.log(isNoEntry(new FUSEError(errno.ENOENT))); // true
 * ```
 */
export function isNoEntry(e: unknown): boolean {
  return e instanceof FUSEError && e.errno === errno.ENOENT;
}

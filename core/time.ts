/**
 * Nanosecond timestamps (the `bigint`s of `EntryAttributes`) and the
 * `struct timespec` halves the kernel and libc use.
 *
 * @module
 */

/** Nanoseconds per second. */
export const NS_PER_SEC = 1_000_000_000n;

/**
 * Splits nanoseconds since the epoch into a `timespec`: seconds rounded
 * down, so that the nanoseconds are always 0 to 999,999,999 (also before
 * 1970).
 *
 * @param ns nanoseconds since the epoch
 * @returns `[tv_sec, tv_nsec]`
 */
export function splitNs(ns: bigint): [sec: bigint, nsec: bigint] {
  const nsec = nsecOf(ns);
  return [(ns - nsec) / NS_PER_SEC, nsec];
}

/**
 * The `tv_nsec` half of {@link splitNs} alone, for hot paths that should
 * not allocate the pair: `tv_sec` is then `(ns - nsec) / NS_PER_SEC`.
 *
 * @param ns nanoseconds since the epoch
 * @returns `tv_nsec`, 0 to 999,999,999
 */
export function nsecOf(ns: bigint): bigint {
  const r = ns % NS_PER_SEC;
  return r < 0n ? r + NS_PER_SEC : r;
}

/**
 * Joins a `timespec` into nanoseconds since the epoch.
 *
 * @param sec `tv_sec`
 * @param nsec `tv_nsec`
 * @returns nanoseconds
 */
export function joinNs(sec: bigint, nsec: bigint): bigint {
  return sec * NS_PER_SEC + nsec;
}

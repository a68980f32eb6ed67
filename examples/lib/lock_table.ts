/**
 * Lock bookkeeping for filesystems that implement `getlk`/`setlk` and
 * `flock` themselves (as network filesystems must): POSIX record locks with
 * splitting and merging per owner, BSD flock locks, and waiting for a
 * conflicting lock to go away without blocking the request loop.
 *
 * @module
 */

import * as fuse from "../../mod.ts";

/** The end of a lock that reaches past the end of the file (`len` 0). */
export const EOF_END = Number.POSITIVE_INFINITY;

/** A held POSIX lock: `[start, end)` of one owner (`end` may be {@link EOF_END}). */
export interface HeldLock {
  owner: bigint;
  type: number;
  start: number;
  end: number;
  pid: number;
}

/** Resolves waiters whenever locks are released. */
class Releases {
  #waiters: Array<() => void> = [];

  /** Wakes everybody waiting; they re-check for conflicts. */
  notify(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /** Resolves on the next release; rejects when `signal` aborts. */
  next(signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const onAbort = () => {
        this.#waiters = this.#waiters.filter((w) => w !== wake);
        reject(signal.reason);
      };
      const wake = () => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      };
      this.#waiters.push(wake);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }
}

/** POSIX (fcntl) record locks of one file. */
export class PosixLocks {
  #held: HeldLock[] = [];
  readonly #releases = new Releases();

  /** Whether no lock is held. */
  get empty(): boolean {
    return this.#held.length === 0;
  }

  /**
   * The first lock of another owner that conflicts with `lock`, as getlk
   * reports it; `lock` with type F_UNLCK if there is none.
   *
   * @param owner who asks
   * @param lock the range and type to test
   * @returns the conflicting lock or an unlock
   */
  test(owner: bigint, lock: fuse.FileLock): fuse.FileLock {
    return testResult(findConflict(this.#held, owner, lock), lock);
  }

  /**
   * Acquires, converts or releases (F_UNLCK) a lock.
   *
   * @param owner the lock owner
   * @param lock the request
   * @param wait wait for conflicting locks to go (F_SETLKW) instead of failing with EAGAIN
   * @param signal aborts the wait (the request was interrupted)
   * @returns resolves once done
   * @throws {fuse.FUSEError} EAGAIN on conflict when not waiting
   */
  async set(owner: bigint, lock: fuse.FileLock, wait: boolean, signal: AbortSignal): Promise<void> {
    if (lock.type !== fuse.F_UNLCK) {
      while (findConflict(this.#held, owner, lock)) {
        if (!wait) throw new fuse.FUSEError(fuse.errno.EAGAIN);
        await this.#releases.next(signal);
      }
    }
    const { held, released } = replaceRange(this.#held, owner, lock);
    this.#held = held;
    if (released) this.#releases.notify();
  }

  /**
   * Drops every lock of `owner` (e.g. when its file is closed).
   *
   * @param owner the lock owner
   */
  releaseOwner(owner: bigint): void {
    const before = this.#held.length;
    this.#held = this.#held.filter((h) => h.owner !== owner);
    if (this.#held.length !== before) this.#releases.notify();
  }
}

/**
 * The first lock of another owner that conflicts with `lock` (overlapping,
 * and one of the two a write lock).
 *
 * @param held the locks held on the file
 * @param owner who asks
 * @param lock the range and type wanted
 * @returns the conflicting lock, if any
 */
export function findConflict(
  held: readonly HeldLock[],
  owner: bigint,
  lock: fuse.FileLock,
): HeldLock | undefined {
  const { start, end } = lockRange(lock);
  return held.find((h) =>
    h.owner !== owner && h.start < end && start < h.end &&
    (h.type === fuse.F_WRLCK || lock.type === fuse.F_WRLCK)
  );
}

/**
 * What getlk answers: the conflicting lock, or `lock` itself as F_UNLCK.
 *
 * @param conflict from {@link findConflict}
 * @param lock the lock tested
 * @returns the answer
 */
export function testResult(conflict: HeldLock | undefined, lock: fuse.FileLock): fuse.FileLock {
  if (!conflict) return new fuse.FileLock({ ...lock, type: fuse.F_UNLCK });
  return new fuse.FileLock({
    type: conflict.type,
    whence: 0,
    start: conflict.start,
    len: conflict.end === EOF_END ? 0 : conflict.end - conflict.start,
    pid: conflict.pid,
  });
}

/**
 * The locks after `owner` sets (or, with F_UNLCK, releases) `lock`: the
 * owner's overlapping ranges are cut back or replaced, adjacent ranges of
 * one owner and type are joined. Conflicts must have been checked.
 *
 * @param held the locks held on the file
 * @param owner the lock owner
 * @param lock the request
 * @returns the new set, and whether waiters should look again (something was released)
 */
export function replaceRange(
  held: readonly HeldLock[],
  owner: bigint,
  lock: fuse.FileLock,
): { held: HeldLock[]; released: boolean } {
  const { start, end } = lockRange(lock);
  const kept: HeldLock[] = [];
  let released = lock.type === fuse.F_UNLCK;
  for (const h of held) {
    if (h.owner !== owner || h.end <= start || h.start >= end) {
      kept.push(h);
      continue;
    }
    if (h.start < start) kept.push({ ...h, end: start });
    if (h.end > end) kept.push({ ...h, start: end });
    released ||= h.type === fuse.F_WRLCK;
  }
  if (lock.type !== fuse.F_UNLCK) {
    kept.push({ owner, type: lock.type, start, end, pid: lock.pid });
  }
  return { held: merge(kept), released };
}

/**
 * The byte range `[start, end)` a lock covers.
 *
 * @param lock a lock request (`len` 0: to the end of the file and beyond)
 * @returns its range
 */
export function lockRange(lock: fuse.FileLock): { start: number; end: number } {
  return { start: lock.start, end: lock.len === 0 ? EOF_END : lock.start + lock.len };
}

/** Joins adjacent or overlapping ranges of the same owner and type. */
function merge(locks: HeldLock[]): HeldLock[] {
  locks.sort((a, b) => (a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : a.start - b.start));
  const out: HeldLock[] = [];
  for (const l of locks) {
    const last = out.at(-1);
    if (last && last.owner === l.owner && last.type === l.type && l.start <= last.end) {
      last.end = Math.max(last.end, l.end);
    } else {
      out.push({ ...l });
    }
  }
  return out;
}

/** BSD flock(2) locks of one file. */
export class FlockLocks {
  readonly #holders = new Map<bigint, number>();
  readonly #releases = new Releases();

  /** Whether no lock is held. */
  get empty(): boolean {
    return this.#holders.size === 0;
  }

  /**
   * Applies a flock operation.
   *
   * @param owner the open file's lock owner
   * @param op LOCK_SH, LOCK_EX or LOCK_UN, possibly with LOCK_NB
   * @param signal aborts a wait
   * @returns resolves once done
   * @throws {fuse.FUSEError} EWOULDBLOCK (EAGAIN) on conflict with LOCK_NB, EINVAL for a bad op
   */
  async apply(owner: bigint, op: number, signal: AbortSignal): Promise<void> {
    const kind = op & ~fuse.LOCK_NB;
    if (kind === fuse.LOCK_UN) {
      if (this.#holders.delete(owner)) this.#releases.notify();
      return;
    }
    if (kind !== fuse.LOCK_SH && kind !== fuse.LOCK_EX) throw new fuse.FUSEError(fuse.errno.EINVAL);
    // Converting releases the old lock first, as flock(2) does.
    if (this.#holders.get(owner) !== undefined && this.#holders.get(owner) !== kind) {
      this.#holders.delete(owner);
      this.#releases.notify();
    }
    while (this.#conflicts(owner, kind)) {
      if (op & fuse.LOCK_NB) throw new fuse.FUSEError(fuse.errno.EWOULDBLOCK);
      await this.#releases.next(signal);
    }
    this.#holders.set(owner, kind);
  }

  #conflicts(owner: bigint, kind: number): boolean {
    return flockConflict(this.#holders, owner, kind);
  }
}

/**
 * Whether another owner's flock lock stands in the way of `kind`.
 *
 * @param holders each holder's LOCK_SH or LOCK_EX
 * @param owner who asks
 * @param kind LOCK_SH or LOCK_EX
 * @returns true on conflict
 */
export function flockConflict(
  holders: Iterable<[bigint, number]>,
  owner: bigint,
  kind: number,
): boolean {
  for (const [other, held] of holders) {
    if (other !== owner && (held === fuse.LOCK_EX || kind === fuse.LOCK_EX)) return true;
  }
  return false;
}

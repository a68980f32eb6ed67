/**
 * flock(2) and POSIX record locks of examples/pgfs.ts, held across every
 * mount of the database in `pgfs.locks`. A lock request locks the inode's
 * row (so lock changes of one file are serialized over all mounts), reads
 * the file's locks, decides with the rules of examples/lib/lock_table.ts,
 * and writes the requester's locks back. An owner is a mount and the
 * kernel's lock owner on that mount. A waiting request (F_SETLKW, flock
 * without LOCK_NB) sleeps until a release is announced on the change
 * channel, or a poll interval passes (a crashed mount's locks are released
 * by reaping it, see pg_session.ts), and gives way when interrupted.
 *
 * @module
 */

import * as fuse from "../../mod.ts";
import {
  EOF_END,
  findConflict,
  flockConflict,
  type HeldLock,
  replaceRange,
  testResult,
} from "./lock_table.ts";
import type { Sql } from "./pg_client.ts";
import type { ChangeSet } from "./pg_changes.ts";
import { lockInode } from "./pg_store.ts";

/** How often a waiter looks again even without an announced release. */
const POLL_MS = 1000;

/** Runs a request's transaction (see PgFs): retries, error mapping, the announcement. */
export type RunChange = <T>(fn: (tx: Sql, changes: ChangeSet) => Promise<T>) => Promise<T>;

/** The locks of every mount, as seen by one. */
export class SharedLocks {
  readonly #waiters = new Map<number, Set<() => void>>();

  /**
   * @param change runs one transaction
   * @param mount this mount's id
   */
  constructor(readonly change: RunChange, readonly mount: () => number) {}

  /**
   * F_GETLK: the first conflicting lock of another owner, on any mount.
   *
   * @param q the client
   * @param ino the file
   * @param owner the kernel's lock owner
   * @param lock the lock to test
   * @returns the conflict, or the lock as F_UNLCK
   */
  async test(q: Sql, ino: number, owner: bigint, lock: fuse.FileLock): Promise<fuse.FileLock> {
    const held = await this.#posix(q, ino);
    return testResult(findConflict(held, this.#key(this.mount(), owner), lock), lock);
  }

  /**
   * F_SETLK / F_SETLKW.
   *
   * @param ino the file
   * @param owner the kernel's lock owner
   * @param lock the request
   * @param wait wait for conflicting locks to go
   * @param signal aborts the wait
   * @throws {fuse.FUSEError} EAGAIN on conflict when not waiting
   */
  async set(
    ino: number,
    owner: bigint,
    lock: fuse.FileLock,
    wait: boolean,
    signal: AbortSignal,
  ): Promise<void> {
    for (;;) {
      const done = await this.change(async (tx, changes) => {
        await lockInode(tx, ino);
        const held = await this.#posix(tx, ino);
        const me = this.#key(this.mount(), owner);
        if (lock.type !== fuse.F_UNLCK && findConflict(held, me, lock)) {
          if (!wait) throw new fuse.FUSEError(fuse.errno.EAGAIN);
          return false;
        }
        const next = replaceRange(held, me, lock);
        await tx`
          DELETE FROM pgfs.locks WHERE ino = ${ino} AND NOT flock
             AND mount = ${this.mount()} AND owner = ${BigInt.asIntN(64, owner)}`;
        for (const h of next.held.filter((h) => h.owner === me)) {
          await tx`
            INSERT INTO pgfs.locks (ino, mount, owner, flock, type, start_at, end_at, pid)
            VALUES (${ino}, ${this.mount()}, ${BigInt.asIntN(64, owner)}, false, ${h.type},
                    ${h.start}, ${h.end === EOF_END ? null : h.end}, ${h.pid})`;
        }
        if (next.released) changes.unlocked(ino);
        return true;
      });
      if (done) return;
      await this.#released(ino, signal);
    }
  }

  /**
   * flock(2): LOCK_SH, LOCK_EX or LOCK_UN, possibly with LOCK_NB.
   *
   * @param ino the file
   * @param owner the open file's lock owner
   * @param op the operation
   * @param signal aborts a wait
   * @throws {fuse.FUSEError} EWOULDBLOCK on conflict with LOCK_NB, EINVAL for a bad op
   */
  async flock(ino: number, owner: bigint, op: number, signal: AbortSignal): Promise<void> {
    const kind = op & ~fuse.LOCK_NB;
    if (kind !== fuse.LOCK_UN && kind !== fuse.LOCK_SH && kind !== fuse.LOCK_EX) {
      throw new fuse.FUSEError(fuse.errno.EINVAL);
    }
    const dbOwner = BigInt.asIntN(64, owner);
    for (;;) {
      const done = await this.change(async (tx, changes) => {
        await lockInode(tx, ino);
        const rows = await tx`
          SELECT mount, owner, type FROM pgfs.locks WHERE ino = ${ino} AND flock`;
        const holders = new Map<bigint, number>(
          rows.map((r) => [this.#key(Number(r.mount), r.owner as bigint), Number(r.type)]),
        );
        const me = this.#key(this.mount(), owner);
        const mine = holders.get(me);
        // Unlocking and converting release the old lock first, as flock(2) does.
        if (mine !== undefined && mine !== kind) {
          await tx`
            DELETE FROM pgfs.locks WHERE ino = ${ino} AND flock
               AND mount = ${this.mount()} AND owner = ${dbOwner}`;
          holders.delete(me);
          changes.unlocked(ino);
        }
        if (kind === fuse.LOCK_UN || mine === kind) return true;
        if (flockConflict(holders, me, kind)) {
          if (op & fuse.LOCK_NB) throw new fuse.FUSEError(fuse.errno.EWOULDBLOCK);
          return false;
        }
        await tx`
          INSERT INTO pgfs.locks (ino, mount, owner, flock, type, start_at, end_at, pid)
          VALUES (${ino}, ${this.mount()}, ${dbOwner}, true, ${kind}, 0, NULL, 0)`;
        return true;
      });
      if (done) return;
      await this.#released(ino, signal);
    }
  }

  /**
   * Some mount released locks of `ino`: its waiters look again.
   *
   * @param ino the file
   */
  wake(ino: number): void {
    const waiters = this.#waiters.get(ino);
    if (!waiters) return;
    this.#waiters.delete(ino);
    for (const wake of waiters) wake();
  }

  /** Wakes every waiter (the session reconnected, or dead mounts were reaped). */
  wakeAll(): void {
    for (const ino of [...this.#waiters.keys()]) this.wake(ino);
  }

  /** Whether a request waits for a lock. */
  get waiting(): boolean {
    return this.#waiters.size > 0;
  }

  async #posix(q: Sql, ino: number): Promise<HeldLock[]> {
    const rows = await q`
      SELECT mount, owner, type, start_at, end_at, pid FROM pgfs.locks
       WHERE ino = ${ino} AND NOT flock`;
    return rows.map((r) => ({
      owner: this.#key(Number(r.mount), r.owner as bigint),
      type: Number(r.type),
      start: Number(r.start_at),
      end: r.end_at === null ? EOF_END : Number(r.end_at),
      pid: Number(r.pid),
    }));
  }

  /** One owner key over all mounts: the mount id above the kernel's 64-bit owner. */
  #key(mount: number, owner: bigint): bigint {
    return (BigInt(mount) << 64n) | BigInt.asUintN(64, owner);
  }

  #released(ino: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      let waiters = this.#waiters.get(ino);
      if (!waiters) this.#waiters.set(ino, waiters = new Set());
      const finish = (error?: unknown) => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        const set = this.#waiters.get(ino);
        set?.delete(wake);
        if (set?.size === 0) this.#waiters.delete(ino);
        if (error === undefined) resolve();
        else reject(error);
      };
      const wake = () => finish();
      const onAbort = () => finish(signal.reason);
      const timer = setTimeout(wake, POLL_MS);
      waiters.add(wake);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }
}

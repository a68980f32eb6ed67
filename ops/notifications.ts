/**
 * A mount's notifications to the kernel (pyfuse3's `invalidate_*` and
 * `notify_store`, plus `notifyDelete` and `notifyRetrieve`): each runs on a
 * worker thread (ffi/notify.ts) and is counted, so that the session is
 * not freed while one still uses it; notifyRetrieve's answers, which come
 * back as a request, are matched to their callers by cookie.
 *
 * @module
 */

import { Notifier } from "../ffi/notify.ts";
import type { Inode } from "../core/types.ts";
import { ErrnoError, FuseOperationalError, FuseStateError } from "../core/errors.ts";
import { errno } from "../core/errno.ts";

/**
 * Cache invalidation and notifications to the kernel, pyfuse3's
 * `invalidate_*` / `notify_store` plus `notifyDelete` and `notifyRetrieve`.
 *
 * None of them blocks the request loop: the kernel may hold them until a
 * request in progress is answered, so they run on a worker thread and
 * return promises. Calling them from inside a handler is safe as long as
 * the handler does not await them (or use {@link invalidateEntryAsync}).
 */
export interface Notifications {
  /**
   * Drops the kernel's cached attributes of `inode` and, unless
   * `attrOnly`, its cached data.
   *
   * @throws {ErrnoError} e.g. ENOENT if the kernel does not know the inode
   */
  invalidateInode(inode: Inode, attrOnly?: boolean): Promise<void>;
  /**
   * Drops the kernel's cached entry `name` in `parentInode`. With `deleted`
   * (an inode number), tells the kernel the entry was deleted
   * (`notifyDelete`), which also ends inotify watches on it.
   *
   * @throws {ErrnoError} e.g. ENOENT if the kernel has no such entry cached
   */
  invalidateEntry(parentInode: Inode, name: Uint8Array | string, deleted?: Inode): Promise<void>;
  /**
   * Like {@link invalidateEntry} but returns at once; failures are logged
   * (ENOENT is ignored when `ignoreEnoent`).
   */
  invalidateEntryAsync(
    parentInode: Inode,
    name: Uint8Array | string,
    deleted?: Inode,
    ignoreEnoent?: boolean,
  ): void;
  /**
   * Places `data` in the kernel's page cache for `inode` at `offset`.
   *
   * @throws {ErrnoError} e.g. ENOENT if the kernel does not know the inode
   */
  notifyStore(inode: Inode, offset: number, data: Uint8Array): Promise<void>;
  /**
   * Tells the kernel that entry `name` of `parentInode`, which pointed to
   * `childInode`, was deleted.
   *
   * @throws {ErrnoError} e.g. ENOENT if the kernel has no such entry cached
   */
  notifyDelete(parentInode: Inode, childInode: Inode, name: Uint8Array | string): Promise<void>;
  /**
   * Asks the kernel for the data of `inode` it has cached in
   * `[offset, offset + size)`.
   *
   * @returns the cached bytes (possibly fewer than `size`, or none)
   * @throws {ErrnoError} e.g. ENOENT if the kernel does not know the inode
   */
  notifyRetrieve(inode: Inode, offset: number, size: number): Promise<Uint8Array>;
  /**
   * Makes every name-to-inode entry the kernel has cached for this mount
   * stale at once (FUSE_NOTIFY_INC_EPOCH): the next use of any cached name
   * asks `lookup` again, however long its `entryTimeout`. The tool of a
   * network filesystem that reconnected to a server where anything may have
   * changed. Cached attributes and data are not touched (see
   * {@link invalidateInode}). Needs libfuse 3.18 and Linux 6.16 (FUSE
   * protocol 7.44). (Not in pyfuse3.)
   *
   * @throws {FuseOperationalError} when the loaded libfuse (< 3.18) or the
   *   kernel (FUSE protocol < 7.44) lacks it, naming which and what is needed
   */
  incrementEpoch(): Promise<void>;
}

/** What the notifications need of their mount. */
export interface NotificationOwner {
  /** False once closed: no notification may start. */
  readonly alive: boolean;
  /** Called whenever a notification has finished. */
  notificationFinished(): void;
}

type RetrieveWaiter = { resolve(data: Uint8Array): void; reject(error: Error): void };

/** The notifications of one mount. */
export class MountNotifications implements Notifications {
  readonly #notifier: Notifier;
  readonly #owner: NotificationOwner;
  #pending = 0;
  readonly #retrieves = new Map<number, RetrieveWaiter>();
  #nextCookie = 1;

  /**
   * @param notifier the session's notify calls
   * @param owner the mount
   */
  constructor(notifier: Notifier, owner: NotificationOwner) {
    this.#notifier = notifier;
    this.#owner = owner;
  }

  /** Notifications still running on the worker thread. */
  get pending(): number {
    return this.#pending;
  }

  /**
   * Hands the kernel's answer to a notifyRetrieve to its caller.
   *
   * @param cookie the cookie the retrieve was sent with
   * @param data the cached bytes, or why they could not be read
   */
  retrieved(cookie: number, data: Uint8Array | Error): void {
    const waiter = this.#retrieves.get(cookie);
    this.#retrieves.delete(cookie);
    if (data instanceof Error) waiter?.reject(data);
    else waiter?.resolve(data);
  }

  /** Fails the retrieves still waiting for the kernel (the mount is closing). */
  abandonRetrieves(): void {
    for (const waiter of this.#retrieves.values()) {
      waiter.reject(new ErrnoError(errno.ENOTCONN, "notifyRetrieve (filesystem closed)"));
    }
    this.#retrieves.clear();
  }

  async #notify(what: string, call: (n: Notifier) => Promise<number>): Promise<void> {
    if (!this.#owner.alive) throw new FuseStateError(`${what} after close()`);
    this.#pending++;
    let rc: number;
    try {
      rc = await call(this.#notifier);
    } finally {
      this.#pending--;
      this.#owner.notificationFinished();
    }
    if (rc !== 0) throw new ErrnoError(rc, what);
  }

  /** {@inheritDoc Notifications.invalidateInode} */
  invalidateInode(inode: Inode, attrOnly = false): Promise<void> {
    return this.#notify(
      `invalidateInode(${inode})`,
      (n) => n.invalInode(inode, attrOnly ? -1 : 0, 0),
    );
  }

  /** {@inheritDoc Notifications.invalidateEntry} */
  invalidateEntry(parentInode: Inode, name: Uint8Array | string, deleted = 0): Promise<void> {
    const what = `invalidateEntry(${parentInode}, ${JSON.stringify(String(name))})`;
    return deleted
      ? this.#notify(what, (n) => n.delete(parentInode, deleted, name))
      : this.#notify(what, (n) => n.invalEntry(parentInode, name));
  }

  /** {@inheritDoc Notifications.invalidateEntryAsync} */
  invalidateEntryAsync(
    parentInode: Inode,
    name: Uint8Array | string,
    deleted = 0,
    ignoreEnoent = false,
  ): void {
    this.invalidateEntry(parentInode, name, deleted).catch((error) => {
      if (ignoreEnoent && error instanceof ErrnoError && error.errno === errno.ENOENT) return;
      console.error("denofuse: invalidateEntryAsync failed:", error);
    });
  }

  /** {@inheritDoc Notifications.notifyStore} */
  notifyStore(inode: Inode, offset: number, data: Uint8Array): Promise<void> {
    return this.#notify(`notifyStore(${inode})`, (n) => n.store(inode, offset, data));
  }

  /** {@inheritDoc Notifications.notifyDelete} */
  notifyDelete(parentInode: Inode, childInode: Inode, name: Uint8Array | string): Promise<void> {
    return this.#notify(
      `notifyDelete(${parentInode}, ${childInode})`,
      (n) => n.delete(parentInode, childInode, name),
    );
  }

  /** {@inheritDoc Notifications.incrementEpoch} */
  async incrementEpoch(): Promise<void> {
    const what = "incrementEpoch()";
    if (!this.#notifier.hasIncrementEpoch) {
      if (!this.#owner.alive) throw new FuseStateError(`${what} after close()`);
      throw new FuseOperationalError(
        `${what} needs libfuse 3.18 or newer (fuse_lowlevel_notify_increment_epoch); ` +
          `the loaded libfuse is ${this.#notifier.libfuseVersion}`,
        { cause: new ErrnoError(errno.ENOSYS, what) },
      );
    }
    try {
      await this.#notify(what, (n) => n.incrementEpoch());
    } catch (error) {
      if (error instanceof ErrnoError && error.errno === errno.ENOSYS) {
        throw new FuseOperationalError(
          `${what}: the kernel does not support FUSE_NOTIFY_INC_EPOCH ` +
            `(it needs Linux 6.16 or newer, FUSE protocol 7.44)`,
          { cause: error },
        );
      }
      throw error;
    }
  }

  /** {@inheritDoc Notifications.notifyRetrieve} */
  async notifyRetrieve(inode: Inode, offset: number, size: number): Promise<Uint8Array> {
    const cookie = this.#nextCookie++;
    const answer = new Promise<Uint8Array>((resolve, reject) => {
      this.#retrieves.set(cookie, { resolve, reject });
    });
    try {
      await this.#notify(
        `notifyRetrieve(${inode})`,
        (n) => n.retrieve(inode, offset, size, cookie),
      );
    } catch (error) {
      this.#retrieves.delete(cookie);
      throw error;
    }
    return answer;
  }
}

/**
 * The pyfuse3-style process-wide API (`init`, `main`, `terminate`, `close`)
 * and the handle-based {@link mount} for several filesystems per process.
 *
 * @module
 */

import { FuseMount, type FuseMountOptions } from "./mount.ts";
import type { Notifications } from "./notifications.ts";
import type { Inode } from "../core/types.ts";
import type { NegotiatedConn } from "../ffi/conn.ts";
import type { OperationStats } from "./stats.ts";
import type { Operations } from "./operations.ts";
import { FuseStateError } from "../core/errors.ts";

/**
 * The options pyfuse3 recommends: let the kernel check permissions from the
 * attributes the filesystem reports. Copy it before adding to it.
 *
 * @example
 * ```ts
 * import { defaultOptions } from "../mod.ts";
 * const options = new Set(defaultOptions);
 * options.add("fsname=hello");
 * ```
 */
export const defaultOptions: ReadonlySet<string> = Object.freeze(new Set(["default_permissions"]));

let current: FuseMount | undefined;

/**
 * The third argument of {@link init}, {@link mount} and `mountInWorker` in
 * full: the mount options together with the loop's.
 */
export interface MountOptions extends FuseMountOptions {
  /**
   * libfuse and kernel mount options such as `"fsname=x"`, `"allow_other"`,
   * one per string (default {@link defaultOptions}).
   */
  options?: Iterable<string>;
}

/**
 * Takes either form of the third argument: pyfuse3's set of mount options,
 * or a {@link MountOptions} object.
 *
 * @param arg the argument
 * @returns the mount options and the loop options
 */
export function splitMountOptions(
  arg: Iterable<string> | MountOptions | undefined,
): { options: Iterable<string>; loop: FuseMountOptions } {
  if (arg === undefined) return { options: defaultOptions, loop: {} };
  if (typeof arg === "string" || typeof (arg as Iterable<string>)[Symbol.iterator] === "function") {
    return { options: arg as Iterable<string>, loop: {} };
  }
  const { options = defaultOptions, ...loop } = arg as MountOptions;
  return { options, loop };
}

/**
 * Mounts `ops` on `mountpoint`, like pyfuse3's `init()`. Then run
 * {@link main}; afterwards call {@link close}.
 *
 * @param ops the filesystem
 * @param mountpoint an existing directory that is not a mount point
 * @param options pyfuse3's set of mount options (default {@link defaultOptions}),
 *   or `{ options, debug, handleSignals, graceMs }`
 * @throws {FuseStateError} if `init()` was already called without `close()`
 * @throws {FuseLoadError} if libfuse3 cannot be loaded
 * @throws {FuseMountError} if mounting fails, naming the problem and its fix
 * @example
 * ```ts ignore
 * import * as fuse from "../mod.ts";
 * fuse.init(ops, "/mnt/hello", fuse.defaultOptions);
 * // or: fuse.init(ops, "/mnt/hello", { options: ["fsname=hello"], debug: true });
 * try {
 *   await fuse.main();
 * } finally {
 *   fuse.close();
 * }
 * ```
 */
export function init(
  ops: Operations,
  mountpoint: string,
  options?: Iterable<string> | MountOptions,
): void {
  if (current) {
    throw new FuseStateError(
      `init() called twice: ${current.mountpoint} is still mounted; call close() first, ` +
        `or use mount() for several filesystems`,
    );
  }
  const split = splitMountOptions(options);
  current = FuseMount.open(ops, mountpoint, split.options, split.loop);
}

/**
 * Serves requests until {@link terminate}, an unmount, SIGINT or SIGTERM.
 *
 * @returns resolves when serving has stopped
 * @throws {FuseStateError} if called before {@link init}
 */
export function main(): Promise<void> {
  if (!current) {
    throw new FuseStateError("main() called before init(): call init(ops, mountpoint) first");
  }
  return current.serve();
}

/** Makes {@link main} return. Safe to call from a handler. */
export function terminate(): void {
  current?.terminate();
}

/**
 * Unmounts and frees the filesystem mounted by {@link init}. Idempotent.
 *
 * @param options `unmount: false` keeps the kernel mount (pyfuse3's `close(unmount=False)`)
 * @throws {FuseStateError} if {@link main} is still running
 */
export function close(options: { unmount?: boolean } = {}): void {
  if (!current) return;
  current.close(options);
  current = undefined;
}

function mounted(what: string): FuseMount {
  if (!current) throw new FuseStateError(`${what} called before init(): nothing is mounted`);
  return current;
}

/**
 * Drops the kernel's cached attributes and (unless `attrOnly`) data of
 * `inode`; pyfuse3's `invalidate_inode`. Does not block the request loop.
 *
 * @param inode the inode
 * @param attrOnly keep cached data, drop only attributes
 * @returns resolves when the kernel has done it
 * @throws {ErrnoError} e.g. ENOENT when the kernel does not know the inode
 * @throws {FuseStateError} before {@link init}
 */
export function invalidateInode(inode: Inode, attrOnly = false): Promise<void> {
  return mounted("invalidateInode()").notifications.invalidateInode(inode, attrOnly);
}

/**
 * Drops the kernel's cached entry; with `deleted`, reports it deleted.
 * pyfuse3's `invalidate_entry`, but it never blocks the request loop.
 *
 * @param parentInode the directory
 * @param name the entry name
 * @param deleted the inode the entry pointed to, to report a deletion (0: plain invalidation)
 * @returns resolves when the kernel has done it
 * @throws {ErrnoError} e.g. ENOENT when nothing was cached
 * @throws {FuseStateError} before {@link init}
 */
export function invalidateEntry(
  parentInode: Inode,
  name: Uint8Array | string,
  deleted = 0,
): Promise<void> {
  return mounted("invalidateEntry()").notifications.invalidateEntry(parentInode, name, deleted);
}

/**
 * {@link invalidateEntry} without waiting; failures are logged. pyfuse3's
 * `invalidate_entry_async`.
 *
 * @param parentInode the directory
 * @param name the entry name
 * @param deleted the inode the entry pointed to, to report a deletion
 * @param ignoreEnoent do not log ENOENT (nothing was cached)
 * @throws {FuseStateError} before {@link init}
 */
export function invalidateEntryAsync(
  parentInode: Inode,
  name: Uint8Array | string,
  deleted = 0,
  ignoreEnoent = false,
): void {
  mounted("invalidateEntryAsync()").notifications.invalidateEntryAsync(
    parentInode,
    name,
    deleted,
    ignoreEnoent,
  );
}

/**
 * Places data in the kernel's page cache; pyfuse3's `notify_store`.
 *
 * @param inode the inode
 * @param offset where `data` starts
 * @param data the bytes
 * @returns resolves when stored
 * @throws {ErrnoError} e.g. ENOENT when the kernel does not know the inode
 * @throws {FuseStateError} before {@link init}
 */
export function notifyStore(inode: Inode, offset: number, data: Uint8Array): Promise<void> {
  return mounted("notifyStore()").notifications.notifyStore(inode, offset, data);
}

/**
 * Reports entry `name` of `parentInode` (pointing to `childInode`) deleted.
 *
 * @param parentInode the directory
 * @param childInode the inode the entry pointed to
 * @param name the entry name
 * @returns resolves when the kernel has done it
 * @throws {ErrnoError} e.g. ENOENT when nothing was cached
 * @throws {FuseStateError} before {@link init}
 */
export function notifyDelete(
  parentInode: Inode,
  childInode: Inode,
  name: Uint8Array | string,
): Promise<void> {
  return mounted("notifyDelete()").notifications.notifyDelete(parentInode, childInode, name);
}

/**
 * Reads back what the kernel has cached of `inode`.
 *
 * @param inode the inode
 * @param offset first byte
 * @param size bytes wanted
 * @returns the cached bytes (possibly fewer)
 * @throws {ErrnoError} e.g. ENOENT when the kernel does not know the inode
 * @throws {FuseStateError} before {@link init}
 */
export function notifyRetrieve(inode: Inode, offset: number, size: number): Promise<Uint8Array> {
  return mounted("notifyRetrieve()").notifications.notifyRetrieve(inode, offset, size);
}

/**
 * Makes every name the kernel has cached for the mount stale at once
 * (FUSE_NOTIFY_INC_EPOCH): the next use of each asks `lookup` again.
 * Needs libfuse 3.18 and Linux 6.16. (Not in pyfuse3.)
 *
 * @returns resolves when the kernel has done it
 * @throws {FuseOperationalError} when libfuse (< 3.18) or the kernel lacks it, naming which
 * @throws {FuseStateError} before {@link init}
 */
export function incrementEpoch(): Promise<void> {
  return mounted("incrementEpoch()").notifications.incrementEpoch();
}

/**
 * Request statistics of the filesystem mounted by {@link init}.
 *
 * @returns per handler name: answered requests, errors, latency percentiles (µs)
 * @throws {FuseStateError} before {@link init}
 */
export function statistics(): Record<string, OperationStats> {
  return mounted("statistics()").statistics();
}

/** A filesystem mounted with {@link mount}. */
export interface MountHandle extends AsyncDisposable, Notifications {
  /** The absolute mount point. */
  readonly mountpoint: string;
  /**
   * Settles once the filesystem has stopped serving and is unmounted,
   * whatever the cause (unmount(), fusermount3 -u, a signal).
   */
  readonly closed: Promise<void>;
  /** What FUSE_INIT negotiated (undefined until the kernel connected). */
  readonly connection: NegotiatedConn | undefined;
  /**
   * Request statistics so far: per operation, answered requests, errors and
   * latency percentiles in microseconds.
   *
   * @returns a snapshot keyed by handler name
   */
  statistics(): Record<string, OperationStats>;
  /**
   * Stops serving and unmounts.
   *
   * @returns resolves when done (the same as `closed`)
   */
  unmount(): Promise<void>;
}

/**
 * Mounts `ops` on `mountpoint` and starts serving at once. Any number of
 * filesystems can be mounted this way in one process.
 *
 * @param ops the filesystem
 * @param mountpoint an existing directory that is not a mount point
 * @param options a set of mount options (default {@link defaultOptions}), or
 *   `{ options, debug, handleSignals, graceMs }`
 * @returns a handle; `await using` unmounts it at the end of the scope
 * @throws {FuseLoadError} if libfuse3 cannot be loaded
 * @throws {FuseMountError} if mounting fails, naming the problem and its fix
 * @example
 * ```ts ignore
 * import { mount } from "../mod.ts";
 * await using fs = mount(ops, "/mnt/hello", { options: ["fsname=hello"], debug: true });
 * // Served on this thread: touch it from subprocesses (or, with -A, async APIs),
 * // or use mountInWorker() to read it from here with any API and flags.
 * await new Deno.Command("ls", { args: ["-l", "/mnt/hello"] }).output();
 * ```
 */
export function mount(
  ops: Operations,
  mountpoint: string,
  options?: Iterable<string> | MountOptions,
): MountHandle {
  const split = splitMountOptions(options);
  const fs = FuseMount.open(ops, mountpoint, split.options, split.loop);
  const closed = fs.serve().finally(() => fs.close());
  const unmount = () => {
    fs.terminate();
    return closed;
  };
  return {
    mountpoint: fs.mountpoint,
    get connection() {
      return fs.connection;
    },
    statistics: () => fs.statistics(),
    closed,
    unmount,
    [Symbol.asyncDispose]: unmount,
    invalidateInode: (...a) => fs.notifications.invalidateInode(...a),
    invalidateEntry: (...a) => fs.notifications.invalidateEntry(...a),
    invalidateEntryAsync: (...a) => fs.notifications.invalidateEntryAsync(...a),
    notifyStore: (...a) => fs.notifications.notifyStore(...a),
    notifyDelete: (...a) => fs.notifications.notifyDelete(...a),
    notifyRetrieve: (...a) => fs.notifications.notifyRetrieve(...a),
    incrementEpoch: () => fs.notifications.incrementEpoch(),
  };
}

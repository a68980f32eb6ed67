/**
 * The `PathOperations` interface: a filesystem's handlers keyed by path, in
 * fuse-native's shape (`getattr(path)`, `readdir(path)`, `open(path,
 * flags)`, `read(path, fh, length, position)`), promise- or value-returning
 * instead of callback-taking. {@link pathOperations} (paths/adapter.ts)
 * turns it into the inode API's `Operations`.
 *
 * Conventions shared by every handler:
 *
 * - Paths are absolute {@link Path}s: strings when every component is
 *   UTF-8, else bytes.
 * - A handler may return a value or a promise; it fails by throwing (or
 *   rejecting with) `new FUSEError(errno.X)`. Anything else thrown answers
 *   EIO and is logged. A handler left out answers ENOSYS.
 * - `fh` is the handler's own handle, as its `open`, `create` or `opendir`
 *   returned it (any number; the layer keeps its own table, so handles may
 *   repeat, e.g. 0 for every open).
 * - Calls made on an open file (read, write, flush, release, fsync,
 *   fallocate, lseek, copyFileRange, locks, and getattr, truncate, chmod,
 *   chown, utimens when the kernel names the file) get the file's current
 *   path — it follows renames of the file and of any directory above it —
 *   or `null` once the file has no name left (unlinked while open): answer
 *   those from `fh`. The layer keeps no `.fuse_hidden` files.
 * - Calls that create a name (mknod, mkdir, symlink, link, create) may
 *   return the new entry's attributes; when they return nothing the layer
 *   asks `getattr` for them.
 * - `ctx` says who asks (uid, gid, pid, umask) and carries the request's
 *   `AbortSignal`.
 *
 * @module
 */

import type {
  BytesLike,
  FileHandle,
  FileInfo,
  FileLock,
  MaybePromise,
  RequestContext,
  StatvfsData,
} from "../mod.ts";
import type { Path, PathName } from "./path.ts";
import type { PathStat, StatfsLike } from "./stat.ts";

/** What `open` and `create` return: the handler's handle, a `FileInfo` with it, or nothing (handle 0). */
export type OpenResult = FileHandle | FileInfo | void;

/**
 * One entry of a listing: its name, or its name with its attributes (which
 * spare the layer a getattr per entry when the kernel asks for them).
 */
export type DirEntry = PathName | { name: PathName; stat?: PathStat };

/**
 * A path-based filesystem. Every handler is optional.
 *
 * @example
 * ```ts
 * import { errno, FUSEError, type PathOperations } from "../paths.ts";
 *
 * const hello = new TextEncoder().encode("hello world\n");
 * const ops: PathOperations = {
 *   getattr(path) {
 *     if (path === "/") return { mode: 0o40755, nlink: 2 };
 *     if (path === "/hello") return { mode: 0o100444, size: hello.length };
 *     throw new FUSEError(errno.ENOENT);
 *   },
 *   readdir: (path) => (path === "/" ? ["hello"] : []),
 *   read: (_path, _fh, length, position) => hello.subarray(position, position + length),
 * };
 * ```
 */
export interface PathOperations {
  /**
   * Use the `ino` of the handler's stat answers as the inode numbers the
   * kernel and programs see (libfuse's `use_ino`). Two paths with the same
   * `ino` are then one file to the kernel: hard links made outside the
   * mount are recognized. Without it (the default) the layer numbers files
   * itself, keeping a number while the kernel knows the name, and a hard
   * link made through the mount shares its source's number while both are
   * known. The root is always inode 1 to the kernel; the handler's root
   * number and 1 trade places.
   */
  useIno?: boolean;
  /** Seconds the kernel may cache names (default 1, as libfuse's `entry_timeout`). */
  entryTimeout?: number;
  /** Seconds the kernel may cache attributes (default 1, as libfuse's `attr_timeout`). */
  attrTimeout?: number;
  /**
   * Seconds the kernel may remember that a name does not exist, when
   * getattr of it throws ENOENT during a lookup (libfuse's
   * `negative_timeout`; default 0: not remembered). Names created through
   * the mount replace such an entry at once; names created behind its back
   * appear only after the timeout.
   */
  negativeTimeout?: number;
  /** Ask for the writeback cache (`Operations.enableWritebackCache`). */
  enableWritebackCache?: boolean;
  /** Ask the kernel to enforce POSIX ACLs (`Operations.enableAcl`). */
  enableAcl?: boolean;
  /** The filesystem clears set-id bits itself (`Operations.handleKillpriv`). */
  handleKillpriv?: boolean;
  /**
   * The filesystem clears set-id bits where the kernel says so
   * (`Operations.handleKillprivV2`, same contract): `ctx.killSuidgid` then
   * comes with `write`, `open`, `create`, and `truncate` and `chown`
   * (the parts of a setattr that carry the kernel's flag).
   */
  handleKillprivV2?: boolean;
  /** Kernel passthrough for opens that return a `FileInfo` with `backingFd`. */
  enableKernelPassthrough?: boolean;

  /** Called once the kernel has connected, before any other handler. */
  init?(): void;
  /** Called once when the session ends; synchronous. */
  destroy?(): void;

  /**
   * The attributes of `path`. `fh` is given when the kernel asks for an
   * open file (fstat, or an append); `path` is null when that file has no
   * name left.
   */
  getattr?(
    path: Path | null,
    fh: FileHandle | undefined,
    ctx: RequestContext,
  ): MaybePromise<PathStat>;
  /** Whether the caller may access `path` with `mode` (R_OK 4, W_OK 2, X_OK 1, F_OK 0); false means EACCES. */
  access?(path: Path, mode: number, ctx: RequestContext): MaybePromise<boolean | void>;
  /** Filesystem statistics (`path` is always "/"). */
  statfs?(path: Path, ctx: RequestContext): MaybePromise<StatvfsData | StatfsLike>;

  /** The target of symlink `path`. */
  readlink?(path: Path, ctx: RequestContext): MaybePromise<BytesLike>;
  /** Create a regular file, FIFO, socket or device node. */
  mknod?(
    path: Path,
    mode: number,
    rdev: number,
    ctx: RequestContext,
  ): MaybePromise<PathStat | void>;
  /** Create a directory (`mode` holds the permission bits). */
  mkdir?(path: Path, mode: number, ctx: RequestContext): MaybePromise<PathStat | void>;
  /** Remove a non-directory. */
  unlink?(path: Path, ctx: RequestContext): MaybePromise<void>;
  /** Remove an empty directory. */
  rmdir?(path: Path, ctx: RequestContext): MaybePromise<void>;
  /** Create symlink `path` pointing at `target` (fuse-native's `symlink(src, dest)` order). */
  symlink?(target: Path, path: Path, ctx: RequestContext): MaybePromise<PathStat | void>;
  /**
   * Rename `from` to `to`; `flags` may hold RENAME_NOREPLACE (1) or
   * RENAME_EXCHANGE (2) (renameat2). A whole subtree moves with a directory:
   * the layer re-keys it, open files included.
   */
  rename?(from: Path, to: Path, flags: number, ctx: RequestContext): MaybePromise<void>;
  /** Create hard link `to` of the existing `from` (fuse-native's `link(src, dest)`). */
  link?(from: Path, to: Path, ctx: RequestContext): MaybePromise<PathStat | void>;

  /**
   * Set the size (truncate(2), or ftruncate(2) with `fh`). A setattr
   * request that changes several attributes calls truncate, chown, chmod
   * and utimens in that order, then getattr for the answer.
   */
  truncate?(
    path: Path | null,
    size: number,
    fh: FileHandle | undefined,
    ctx: RequestContext,
  ): MaybePromise<void>;
  /** Change the permission bits (`mode` holds the type bits too, as stat shows them). */
  chmod?(
    path: Path | null,
    mode: number,
    fh: FileHandle | undefined,
    ctx: RequestContext,
  ): MaybePromise<void>;
  /** Change owner and/or group; -1 leaves one unchanged, as in chown(2). */
  chown?(
    path: Path | null,
    uid: number,
    gid: number,
    fh: FileHandle | undefined,
    ctx: RequestContext,
  ): MaybePromise<void>;
  /**
   * Set access and/or modification time, in nanoseconds since the epoch
   * ("now" already resolved); `null` leaves that time unchanged
   * (UTIME_OMIT).
   */
  utimens?(
    path: Path | null,
    atimeNs: bigint | null,
    mtimeNs: bigint | null,
    fh: FileHandle | undefined,
    ctx: RequestContext,
  ): MaybePromise<void>;

  /** Open a file; `flags` are open(2)'s. */
  open?(path: Path, flags: number, ctx: RequestContext): MaybePromise<OpenResult>;
  /**
   * Create and open a file; may return `[handle or FileInfo, attributes]`
   * to spare the getattr that follows otherwise.
   */
  create?(
    path: Path,
    mode: number,
    flags: number,
    ctx: RequestContext,
  ): MaybePromise<OpenResult | [OpenResult, PathStat]>;
  /** Read up to `length` bytes at `position`; fewer means end of file. */
  read?(
    path: Path | null,
    fh: FileHandle,
    length: number,
    position: number,
    ctx: RequestContext,
  ): MaybePromise<Uint8Array>;
  /**
   * Write `buffer` at `position`; return the bytes written. `buffer` is a
   * view of the kernel's request, valid until the handler settles: copy
   * what you keep.
   */
  write?(
    path: Path | null,
    fh: FileHandle,
    buffer: Uint8Array,
    position: number,
    ctx: RequestContext,
  ): MaybePromise<number>;
  /** Each close(2) of a descriptor. */
  flush?(path: Path | null, fh: FileHandle, ctx: RequestContext): MaybePromise<void>;
  /** The last reference to the open file is gone. */
  release?(path: Path | null, fh: FileHandle, ctx: RequestContext): MaybePromise<void>;
  /** fsync(2) / fdatasync(2). */
  fsync?(
    path: Path | null,
    fh: FileHandle,
    datasync: boolean,
    ctx: RequestContext,
  ): MaybePromise<void>;

  /** Open a directory; the handle (default 0) comes back in readdir and releasedir. */
  opendir?(path: Path, ctx: RequestContext): MaybePromise<FileHandle | void>;
  /**
   * The directory's entries ("." and ".." may be left out: the layer adds
   * them). Called when a listing starts or is rewound; the layer serves the
   * rest of the listing from that answer, so offsets stay stable while the
   * directory changes.
   */
  readdir?(path: Path, fh: FileHandle, ctx: RequestContext): MaybePromise<Iterable<DirEntry>>;
  /** Close a directory handle. */
  releasedir?(path: Path | null, fh: FileHandle, ctx: RequestContext): MaybePromise<void>;
  /** fsync(2) of a directory. */
  fsyncdir?(
    path: Path | null,
    fh: FileHandle,
    datasync: boolean,
    ctx: RequestContext,
  ): MaybePromise<void>;

  /** Set extended attribute `name`; `flags` XATTR_CREATE 1 / XATTR_REPLACE 2. */
  setxattr?(
    path: Path,
    name: Uint8Array,
    value: Uint8Array,
    flags: number,
    ctx: RequestContext,
  ): MaybePromise<void>;
  /** The value of extended attribute `name`; throw ENODATA if absent. */
  getxattr?(path: Path, name: Uint8Array, ctx: RequestContext): MaybePromise<BytesLike>;
  /** The names of the extended attributes. */
  listxattr?(path: Path, ctx: RequestContext): MaybePromise<BytesLike[]>;
  /** Remove extended attribute `name`; throw ENODATA if absent. */
  removexattr?(path: Path, name: Uint8Array, ctx: RequestContext): MaybePromise<void>;

  /** F_GETLK: the first conflicting lock, or `lock` with type F_UNLCK. */
  getlk?(
    path: Path | null,
    fh: FileHandle,
    owner: bigint,
    lock: FileLock,
    ctx: RequestContext,
  ): MaybePromise<FileLock>;
  /** F_SETLK / F_SETLKW (`wait`); reject with `ctx.signal.reason` when interrupted. */
  setlk?(
    path: Path | null,
    fh: FileHandle,
    owner: bigint,
    lock: FileLock,
    wait: boolean,
    ctx: RequestContext,
  ): MaybePromise<void>;
  /** flock(2): LOCK_SH, LOCK_EX or LOCK_UN, maybe with LOCK_NB. */
  flock?(
    path: Path | null,
    fh: FileHandle,
    owner: bigint,
    op: number,
    ctx: RequestContext,
  ): MaybePromise<void>;
  /** fallocate(2). */
  fallocate?(
    path: Path | null,
    fh: FileHandle,
    mode: number,
    offset: number,
    length: number,
    ctx: RequestContext,
  ): MaybePromise<void>;
  /** lseek(2) with SEEK_DATA (3) or SEEK_HOLE (4). */
  lseek?(
    path: Path | null,
    fh: FileHandle,
    offset: number,
    whence: number,
    ctx: RequestContext,
  ): MaybePromise<number>;
  /** copy_file_range(2) within the filesystem; return the bytes copied. */
  copyFileRange?(
    pathIn: Path | null,
    fhIn: FileHandle,
    offIn: number,
    pathOut: Path | null,
    fhOut: FileHandle,
    offOut: number,
    length: number,
    flags: number,
    ctx: RequestContext,
  ): MaybePromise<number>;
}

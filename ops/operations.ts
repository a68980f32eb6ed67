/**
 * The `Operations` interface a filesystem implements: pyfuse3's
 * `Operations` class with TypeScript names. Every handler is optional; the
 * kernel gets ENOSYS for the ones left out (and then usually falls back or
 * stops asking).
 *
 * Names, symlink targets and xattr names and values are raw bytes
 * (`Uint8Array`), exactly as the kernel passes them; handlers may answer with
 * a string where bytes are expected, which is sent as UTF-8.
 *
 * Lookup counts work as in pyfuse3: every successful `lookup`, `mknod`,
 * `mkdir`, `symlink`, `link`, `create` and `tmpfile`, and every entry
 * `readdirReply` accepts in a READDIRPLUS listing, adds one to the inode's
 * count — except entries named "." and "..", for which the kernel takes no
 * reference; `forget` subtracts. Each of those handlers' docs says so.
 *
 * @module
 */

import type {
  BytesLike,
  EntryAttributes,
  FileHandle,
  FileInfo,
  Inode,
  MaybePromise,
  RequestContext,
  SetattrFields,
  StatvfsData,
} from "../core/types.ts";
import type { ReaddirToken } from "./readdir.ts";
import type { PollHandle } from "./poll.ts";
import type { FileLock, IoctlReply } from "../core/types.ts";
import type { StatxAttributes } from "../core/statx.ts";

/**
 * A filesystem's request handlers and capability flags.
 *
 * Throw (or reject with) `new FUSEError(errno.X)` to answer with an errno.
 * Any other error answers EIO and is logged with its stack; the filesystem
 * keeps serving.
 *
 * @example
 * ```ts
 * import { EntryAttributes, errno, FUSEError, type Operations, ROOT_INODE } from "../mod.ts";
 *
 * const ops: Operations = {
 *   async getattr(inode) {
 *     if (inode !== ROOT_INODE) throw new FUSEError(errno.ENOENT);
 *     return new EntryAttributes({ stIno: ROOT_INODE, stMode: 0o40755, stNlink: 2 });
 *   },
 * };
 * ```
 */
export interface Operations {
  /**
   * Whether `lookup` answers "." and ".." (needed for NFS export): pyfuse3's
   * `supports_dot_lookup`, and true by default as there. It asks the kernel
   * for FUSE_CAP_EXPORT_SUPPORT; set false if your lookup cannot answer them.
   */
  supportsDotLookup?: boolean;
  /**
   * Ask the kernel for writeback caching; pyfuse3's `enable_writeback_cache`.
   * The kernel then keeps written data in its page cache and writes pages
   * back later, which changes what handlers see: `write` comes at each
   * page's offset even for an O_APPEND open (the kernel appends itself), and
   * `read` may come through a handle opened O_WRONLY (to fill a partly
   * written page). A filesystem that forwards open flags to a backing file
   * must therefore open it without O_APPEND and with O_RDWR for O_WRONLY,
   * as libfuse's passthrough_ll does (pyfuse3's passthroughfs.py does not,
   * and appends written-back pages at the end of the backing file again).
   */
  enableWritebackCache?: boolean;
  /** Ask the kernel to enforce POSIX ACLs (stored as xattrs); pyfuse3's `enable_acl`. */
  enableAcl?: boolean;

  /**
   * The filesystem clears the set-user-ID and set-group-ID bits itself when
   * a file is written, truncated or opened with O_TRUNC
   * (FUSE_CAP_HANDLE_KILLPRIV). Off by default: the kernel then clears them
   * with a `setattr` of the mode. (libfuse turns it on by default; pyfuse3
   * inherits that.)
   */
  handleKillpriv?: boolean;

  /**
   * The filesystem clears set-id bits where the kernel says so
   * (FUSE_CAP_HANDLE_KILLPRIV_V2; libfuse 3.17+, Linux 5.11+). The kernel
   * then stops clearing them itself on write, truncate, open(O_TRUNC) and
   * chown, and stops asking for the `security.capability` xattr before
   * every write (a GETXATTR round trip per write(2) otherwise, for any
   * filesystem with a `getxattr` handler): it asks once per inode, and
   * still removes the xattr itself where it finds one.
   *
   * The contract: `ctx.killSuidgid` ({@link RequestContext.killSuidgid}) is
   * then `true` or `false` on every `write`, `setattr`, `open` and
   * `create`, and when it is `true` the handler MUST clear the file's
   * set-user-ID bit, and its set-group-ID bit when the file is
   * group-executable, as part of the request, before replying. The kernel
   * sets it when the caller lacks CAP_FSETID and writes, truncates
   * (`setattr` with `updateSize`) or opens or creates with O_TRUNC, and on
   * every chown (`updateUid`/`updateGid`) of a non-directory, by root too.
   * `fallocate` and `copyFileRange` carry no flag, and the kernel no
   * longer clears the bits on them either: decide those by a rule of your
   * own (the examples clear them for callers other than root).
   *
   * Where it cannot be negotiated (libfuse before 3.17, an older kernel,
   * or together with kernel passthrough, whose writes never reach the
   * filesystem) the mount works as without it and `ctx.killSuidgid` is
   * `undefined`: the kernel clears the bits itself except on
   * open(O_TRUNC), as it always did here. `MountHandle.connection.handleKillprivV2`
   * says which. Off by default. (Not in pyfuse3.)
   */
  handleKillprivV2?: boolean;

  /**
   * Let the kernel choose per request between READDIRPLUS and plain READDIR
   * (FUSE_CAP_READDIRPLUS_AUTO): it asks for attributes when a listing
   * starts and when programs look at the entries (`ls -l`), and for names,
   * inode numbers and types only otherwise. The `readdir` handler must then
   * check `token.plus`: only READDIRPLUS entries count as lookups. Off by
   * default, as in pyfuse3, where every entry is a lookup.
   */
  enableReaddirplusAuto?: boolean;

  /**
   * Kernel passthrough (FUSE_CAP_PASSTHROUGH; libfuse 3.17+, Linux 6.9+,
   * a server with CAP_SYS_ADMIN): an `open`, `create` or `tmpfile` that
   * returns a `FileInfo` with `backingFd` has its reads, writes and mmap
   * served by the kernel from that file, never reaching `read` or `write`.
   * Where libfuse or the kernel lacks it, or the kernel refuses the
   * server, the mount works without it and `MountHandle.connection`
   * says why (`passthrough`, `passthroughFallback`), as does the debug log.
   * The kernel does not combine it with the writeback cache: when both are
   * enabled and passthrough is available, `enableWritebackCache` is
   * dropped. Off by default. (Not in pyfuse3.)
   */
  enableKernelPassthrough?: boolean;

  /** Called once the kernel has connected (FUSE_INIT), before any other handler. */
  init?(): void;
  /**
   * Called once when the session ends (unmount or `close()`), after the
   * last request; release resources here. Synchronous. (Not in pyfuse3.)
   */
  destroy?(): void;

  /**
   * Look up `name` in directory `parentInode`: throw ENOENT if absent, or
   * return {@link EntryAttributes.negative} to let the kernel cache the
   * absence. A successful answer (any `stIno` but 0) counts as one lookup of
   * that inode, which a later `forget` gives back; so does an answer for
   * "." or ".." (with `supportsDotLookup`).
   */
  lookup?(parentInode: Inode, name: Uint8Array, ctx: RequestContext): MaybePromise<EntryAttributes>;
  /**
   * Decrease the lookup count of each inode by the given amount: the kernel
   * gives back the lookups that `lookup`, `create`, `mknod`, `mkdir`,
   * `symlink`, `link`, `tmpfile` and READDIRPLUS entries (`readdirReply`
   * with `token.plus`) counted. Once an inode's count is 0 and it has no
   * links left, it may be freed. No reply is sent; the debug log shows each
   * FORGET and BATCH_FORGET.
   */
  forget?(inodeList: Array<[Inode, number]>): MaybePromise<void>;
  /**
   * Attributes of `inode`. `fh` is the open file's handle when the kernel
   * asks on behalf of one (FUSE_GETATTR_FH: e.g. lseek(2) to SEEK_END, or an
   * appending write, which refresh the size of an open regular file), else
   * `null`; it lets a filesystem answer for an open file whose name is gone.
   * fstat(2) itself comes without it (the kernel asks by inode), so an
   * unlinked but open inode must stay answerable by its number too.
   * (pyfuse3's getattr has no `fh`; ported handlers may ignore it.)
   */
  getattr?(
    inode: Inode,
    ctx: RequestContext,
    fh?: FileHandle | null,
  ): MaybePromise<EntryAttributes>;
  /**
   * Change the attributes selected by `fields` to the values in `attr`; `fh`
   * is the open file's handle when called on one (ftruncate, futimens), else
   * `null`.
   */
  setattr?(
    inode: Inode,
    attr: EntryAttributes,
    fields: SetattrFields,
    fh: FileHandle | null,
    ctx: RequestContext,
  ): MaybePromise<EntryAttributes>;
  /** The target of symlink `inode`. */
  readlink?(inode: Inode, ctx: RequestContext): MaybePromise<BytesLike>;
  /**
   * Create a file, FIFO, socket or device node.
   * A successful answer counts as one lookup of the entry's inode, which a
   * later `forget` gives back.
   */
  mknod?(
    parentInode: Inode,
    name: Uint8Array,
    mode: number,
    rdev: number,
    ctx: RequestContext,
  ): MaybePromise<EntryAttributes>;
  /**
   * Create a directory.
   * A successful answer counts as one lookup of the entry's inode, which a
   * later `forget` gives back.
   */
  mkdir?(
    parentInode: Inode,
    name: Uint8Array,
    mode: number,
    ctx: RequestContext,
  ): MaybePromise<EntryAttributes>;
  /** Remove a non-directory entry. */
  unlink?(parentInode: Inode, name: Uint8Array, ctx: RequestContext): MaybePromise<void>;
  /** Remove an empty directory. */
  rmdir?(parentInode: Inode, name: Uint8Array, ctx: RequestContext): MaybePromise<void>;
  /**
   * Create symlink `name` pointing at `target`.
   * A successful answer counts as one lookup of the entry's inode, which a
   * later `forget` gives back.
   */
  symlink?(
    parentInode: Inode,
    name: Uint8Array,
    target: Uint8Array,
    ctx: RequestContext,
  ): MaybePromise<EntryAttributes>;
  /**
   * Rename an entry; `flags` may hold `RENAME_NOREPLACE` (1) or
   * `RENAME_EXCHANGE` (2).
   */
  rename?(
    parentInodeOld: Inode,
    nameOld: Uint8Array,
    parentInodeNew: Inode,
    nameNew: Uint8Array,
    flags: number,
    ctx: RequestContext,
  ): MaybePromise<void>;
  /**
   * Create hard link `newName` in `newParentInode` to `inode`.
   * A successful answer counts as one lookup of the entry's inode, which a
   * later `forget` gives back.
   */
  link?(
    inode: Inode,
    newParentInode: Inode,
    newName: Uint8Array,
    ctx: RequestContext,
  ): MaybePromise<EntryAttributes>;
  /** Open a file; `flags` are the open(2) flags. */
  open?(inode: Inode, flags: number, ctx: RequestContext): MaybePromise<FileInfo>;
  /** Read up to `size` bytes at `off`; fewer bytes means end of file. */
  read?(fh: FileHandle, off: number, size: number, ctx: RequestContext): MaybePromise<Uint8Array>;
  /**
   * Write `buf` at `off`; return the number of bytes written. `buf` is a
   * view of the kernel's request, not a copy: it is valid until the
   * returned promise settles (or the handler returns), so copy what you
   * keep (`buf.slice()`). It is a window into a larger receive buffer:
   * `buf.buffer` holds other bytes too (mind `byteOffset`).
   */
  write?(fh: FileHandle, off: number, buf: Uint8Array, ctx: RequestContext): MaybePromise<number>;
  /** Called on each close(2) of a file descriptor. */
  flush?(fh: FileHandle, ctx: RequestContext): MaybePromise<void>;
  /** The last reference to an open file is gone. */
  release?(fh: FileHandle, ctx: RequestContext): MaybePromise<void>;
  /** Flush file data (and metadata unless `datasync`) to stable storage. */
  fsync?(fh: FileHandle, datasync: boolean, ctx: RequestContext): MaybePromise<void>;
  /** Open a directory; return a handle for readdir. */
  opendir?(inode: Inode, ctx: RequestContext): MaybePromise<FileHandle>;
  /**
   * List directory entries after `startId` (0 for the first call), calling
   * `readdirReply(token, name, attr, nextId)` for each until it returns
   * false. `nextId` is the `startId` of the call that continues after that
   * entry. In a READDIRPLUS listing (`token.plus`, always unless
   * `enableReaddirplusAuto`) each entry `readdirReply` accepts counts as one
   * lookup of its inode, except "." and "..".
   */
  readdir?(
    fh: FileHandle,
    startId: number,
    token: ReaddirToken,
    ctx: RequestContext,
  ): MaybePromise<void>;
  /** Close a directory handle. */
  releasedir?(fh: FileHandle, ctx: RequestContext): MaybePromise<void>;
  /** Flush directory contents to stable storage. */
  fsyncdir?(fh: FileHandle, datasync: boolean, ctx: RequestContext): MaybePromise<void>;
  /** Filesystem statistics. */
  statfs?(ctx: RequestContext): MaybePromise<StatvfsData>;
  /**
   * Set extended attribute `name`. `flags` is setxattr(2)'s: `XATTR_CREATE`
   * (1) fails with EEXIST if it exists, `XATTR_REPLACE` (2) with ENODATA if
   * not. (pyfuse3 has no `flags`; ported handlers may ignore it.)
   */
  setxattr?(
    inode: Inode,
    name: Uint8Array,
    value: Uint8Array,
    ctx: RequestContext,
    flags: number,
  ): MaybePromise<void>;
  /** The value of extended attribute `name`; ENODATA if absent. */
  getxattr?(inode: Inode, name: Uint8Array, ctx: RequestContext): MaybePromise<BytesLike>;
  /** The names of all extended attributes. */
  listxattr?(inode: Inode, ctx: RequestContext): MaybePromise<BytesLike[]>;
  /** Remove extended attribute `name`; ENODATA if absent. */
  removexattr?(inode: Inode, name: Uint8Array, ctx: RequestContext): MaybePromise<void>;
  /** Whether the caller may access `inode` with `mode` (R_OK 4, W_OK 2, X_OK 1, F_OK 0). */
  access?(inode: Inode, mode: number, ctx: RequestContext): MaybePromise<boolean>;
  /**
   * Create and open a file.
   * A successful answer counts as one lookup of the entry's inode, which a
   * later `forget` gives back.
   */
  create?(
    parentInode: Inode,
    name: Uint8Array,
    mode: number,
    flags: number,
    ctx: RequestContext,
  ): MaybePromise<[FileInfo, EntryAttributes]>;

  // ---- Beyond pyfuse3: the rest of libfuse's low-level API ----

  /**
   * Create and open a file without a name in directory `parentInode`
   * (open(2) with O_TMPFILE): like `create`, but the new inode has no link
   * yet (`stNlink` 0); linkat(2) may give it one later, which arrives as
   * `link`. Needs libfuse 3.17 and Linux 6.1; with older libfuse the
   * handler is not registered and O_TMPFILE fails with EOPNOTSUPP.
   * A successful answer counts as one lookup of the entry's inode, which a
   * later `forget` gives back.
   */
  tmpfile?(
    parentInode: Inode,
    mode: number,
    flags: number,
    ctx: RequestContext,
  ): MaybePromise<[FileInfo, EntryAttributes]>;

  /**
   * statx(2) attributes of `inode`: what `getattr` answers plus the birth
   * time (`stat -c %W`), the `STATX_ATTR_*` flags and the validity mask,
   * as a {@link StatxAttributes}. `mask` holds the `STATX_*` fields the
   * kernel wants (Linux 6.18 always asks for `STATX_BASIC_STATS |
   * STATX_BTIME`), `flags` the `AT_STATX_*` sync flags (0 from Linux
   * 6.18), `fh` the open file's handle when asked on behalf of one, else
   * `null`. The kernel sends STATX only when a caller wants more than
   * `struct stat` holds (a birth time); plain stat(2) still arrives as
   * `getattr`, so implement both. Needs libfuse 3.18 (the handler is not
   * registered before) and Linux 6.6; with older libfuse the kernel falls
   * back to `getattr` for statx(2) too, which then reports no birth time,
   * and nothing else changes. (Not in pyfuse3.)
   */
  statx?(
    inode: Inode,
    mask: number,
    flags: number,
    fh: FileHandle | null,
    ctx: RequestContext,
  ): MaybePromise<StatxAttributes>;

  /**
   * Test for a POSIX record lock: return the first lock held by another
   * owner that conflicts with `lock`, or `lock` with `type` F_UNLCK if
   * none does. With getlk and setlk the kernel forwards fcntl locks here
   * instead of handling them locally (needed for network filesystems).
   */
  getlk?(
    inode: Inode,
    fh: FileHandle,
    lockOwner: bigint,
    lock: FileLock,
    ctx: RequestContext,
  ): MaybePromise<FileLock>;
  /**
   * Acquire, change or release (`type` F_UNLCK) a POSIX record lock of
   * `lockOwner`. On conflict: with `wait` false throw EAGAIN; with `wait`
   * true (F_SETLKW) resolve once acquired — asynchronously, so the loop keeps
   * serving — and reject with `ctx.signal.reason` if the request is
   * interrupted.
   */
  setlk?(
    inode: Inode,
    fh: FileHandle,
    lockOwner: bigint,
    lock: FileLock,
    wait: boolean,
    ctx: RequestContext,
  ): MaybePromise<void>;
  /**
   * BSD flock(2): `op` is LOCK_SH, LOCK_EX or LOCK_UN, possibly with LOCK_NB
   * (then throw EWOULDBLOCK/EAGAIN on conflict instead of waiting).
   */
  flock?(
    inode: Inode,
    fh: FileHandle,
    lockOwner: bigint,
    op: number,
    ctx: RequestContext,
  ): MaybePromise<void>;
  /**
   * fallocate(2): allocate, or with FALLOC_FL_PUNCH_HOLE (2, always with
   * FALLOC_FL_KEEP_SIZE 1) deallocate, `[offset, offset + length)`.
   */
  fallocate?(
    fh: FileHandle,
    mode: number,
    offset: number,
    length: number,
    ctx: RequestContext,
  ): MaybePromise<void>;
  /**
   * lseek(2) with SEEK_DATA (3) or SEEK_HOLE (4): the next data or hole at
   * or after `offset` (ENXIO past the end). The kernel handles the other
   * whence values itself.
   */
  lseek?(fh: FileHandle, offset: number, whence: number, ctx: RequestContext): MaybePromise<number>;
  /** copy_file_range(2) inside this filesystem; return the bytes copied. */
  copyFileRange?(
    fhIn: FileHandle,
    offIn: number,
    fhOut: FileHandle,
    offOut: number,
    length: number,
    flags: number,
    ctx: RequestContext,
  ): MaybePromise<number>;
  /**
   * A restricted ioctl(2): `inBuf` holds the argument's bytes (for _IOW
   * commands); answer with up to `outSize` bytes (for _IOR commands).
   */
  ioctl?(
    fh: FileHandle,
    cmd: number,
    inBuf: Uint8Array,
    outSize: number,
    flags: number,
    ctx: RequestContext,
  ): MaybePromise<IoctlReply | Uint8Array>;
  /**
   * poll(2) readiness: return the ready events among `events` (POLLIN 1,
   * POLLOUT 4, ...). Keep `handle` (when not null) to wake the poller later
   * with `notifyPoll(handle)`.
   */
  poll?(
    fh: FileHandle,
    handle: PollHandle | null,
    events: number,
    ctx: RequestContext,
  ): MaybePromise<number>;
  /** FIBMAP for block-device-backed (fuseblk) filesystems: the device block of `idx`. */
  bmap?(inode: Inode, blocksize: number, idx: number, ctx: RequestContext): MaybePromise<number>;
}

/** The names of the request handlers of {@link Operations}. */
export type HandlerName = Exclude<
  keyof Operations,
  | "supportsDotLookup"
  | "enableWritebackCache"
  | "enableAcl"
  | "handleKillpriv"
  | "handleKillprivV2"
  | "enableReaddirplusAuto"
  | "init"
  | "destroy"
>;

/**
 * The value types exchanged between the kernel and a filesystem's handlers,
 * counterparts of pyfuse3's `EntryAttributes`, `FileInfo`, `SetattrFields`,
 * `RequestContext` and `StatvfsData`.
 *
 * Integer members are JS numbers and must be safe integers (at most
 * 2^53 - 1): the library checks every reply and answers EIO, naming the
 * field, rather than round silently. Timestamps are nanoseconds since the
 * epoch as `bigint`, so they round-trip exactly.
 *
 * @module
 */

/** Bytes, or a string to be sent as UTF-8. */
export type BytesLike = Uint8Array | string;

/** An inode number, as the kernel knows it (a safe integer, at least 1). */
export type Inode = number;

/** A file handle chosen by `open`, `create` or `opendir`. */
export type FileHandle = number;

/** The inode number of the filesystem's root directory (always 1). */
export const ROOT_INODE: Inode = 1;

/**
 * Attributes of a filesystem object, plus how long the kernel may cache the
 * name lookup and the attributes. Returned by `lookup`, `getattr`, `setattr`,
 * `mknod`, `mkdir`, `symlink`, `link`, `create` and passed to `readdirReply`.
 *
 * A new value starts as pyfuse3's does: a regular file (`stMode`
 * `S_IFREG`, no permission bits) with one link, `stBlksize` 4096, both
 * timeouts 300 s, everything else 0. `stIno` 0 in a lookup's answer is a
 * negative entry: make one with {@link EntryAttributes.negative}.
 *
 * @example
 * ```ts
 * import { EntryAttributes } from "../mod.ts";
 * const attr = new EntryAttributes({ stIno: 2, stMode: 0o100644, stSize: 12 });
 * attr.stMtimeNs = 1_700_000_000_123_456_789n;
 * ```
 */
export class EntryAttributes {
  /** Inode number; also the `fuse_entry_param.ino` the kernel uses for the entry. */
  stIno: Inode = 0;
  /** Generation number, for filesystems that reuse inode numbers (NFS export). */
  generation = 0;
  /** Seconds the kernel may cache the name-to-inode lookup. */
  entryTimeout = 300;
  /** Seconds the kernel may cache these attributes. */
  attrTimeout = 300;
  /** File type and permission bits, e.g. `0o100644`; `S_IFREG` (0o100000) until set. */
  stMode = 0o100000;
  /** Number of hard links (1 until set). */
  stNlink = 1;
  /** Owner user id. */
  stUid = 0;
  /** Owner group id. */
  stGid = 0;
  /** Device number for character and block devices. */
  stRdev = 0;
  /** Size in bytes. */
  stSize = 0;
  /** Preferred I/O block size (4096 until set). */
  stBlksize = 4096;
  /** Allocated 512-byte blocks. */
  stBlocks = 0;
  /** Last access, nanoseconds since the epoch. */
  stAtimeNs = 0n;
  /** Last data modification, nanoseconds since the epoch. */
  stMtimeNs = 0n;
  /** Last status change, nanoseconds since the epoch. */
  stCtimeNs = 0n;

  /**
   * Creates the value; members not in `init` keep their defaults.
   *
   * @param init members to set; the rest keep pyfuse3's defaults (`S_IFREG`,
   *   one link, `stBlksize` 4096, timeouts 300 s, the rest 0)
   */
  constructor(init?: Partial<EntryAttributes>) {
    if (!init) return;
    // Member by member rather than Object.assign, which V8 runs through its
    // generic path: this constructor is on every lookup and getattr.
    if (init.stIno !== undefined) this.stIno = init.stIno;
    if (init.generation !== undefined) this.generation = init.generation;
    if (init.entryTimeout !== undefined) this.entryTimeout = init.entryTimeout;
    if (init.attrTimeout !== undefined) this.attrTimeout = init.attrTimeout;
    if (init.stMode !== undefined) this.stMode = init.stMode;
    if (init.stNlink !== undefined) this.stNlink = init.stNlink;
    if (init.stUid !== undefined) this.stUid = init.stUid;
    if (init.stGid !== undefined) this.stGid = init.stGid;
    if (init.stRdev !== undefined) this.stRdev = init.stRdev;
    if (init.stSize !== undefined) this.stSize = init.stSize;
    if (init.stBlksize !== undefined) this.stBlksize = init.stBlksize;
    if (init.stBlocks !== undefined) this.stBlocks = init.stBlocks;
    if (init.stAtimeNs !== undefined) this.stAtimeNs = init.stAtimeNs;
    if (init.stMtimeNs !== undefined) this.stMtimeNs = init.stMtimeNs;
    if (init.stCtimeNs !== undefined) this.stCtimeNs = init.stCtimeNs;
  }

  /**
   * A negative entry, for `lookup` to answer "no such name" and let the
   * kernel cache that answer for `entryTimeout` seconds (`stIno` 0 in
   * FUSE's entry reply). Throwing `FUSEError(ENOENT)` answers the same
   * but is not cached. A lookup that returns `stIno` 0 on an entry not made
   * here is also sent as negative, but logged once, since that is mostly a
   * forgotten `stIno`. Only `lookup` may return it.
   *
   * @param entryTimeout seconds the kernel may remember that the name is absent
   * @returns the negative entry
   * @example
   * ```ts
   * import { EntryAttributes, type Operations } from "../mod.ts";
   * const ops: Operations = {
   *   lookup: () => EntryAttributes.negative(60), // nothing here, ask again in a minute
   * };
   * ```
   */
  static negative(entryTimeout: number): EntryAttributes {
    const entry = new EntryAttributes({
      entryTimeout,
      attrTimeout: 0,
      stMode: 0,
      stNlink: 0,
      stBlksize: 0,
    });
    negativeEntries.add(entry);
    return entry;
  }
}

const negativeEntries = new WeakSet<EntryAttributes>();

/**
 * Whether `entry` was made by {@link EntryAttributes.negative} (a lookup
 * that returns any other `stIno` 0 entry is logged).
 *
 * @param entry a lookup's answer
 * @returns true for a deliberate negative entry
 */
export function isNegativeEntry(entry: EntryAttributes): boolean {
  return negativeEntries.has(entry);
}

/**
 * What an `open` or `create` handler tells the kernel about the new open
 * file. Defaults are pyfuse3's: `keepCache` true, the rest false.
 *
 * @example
 * ```ts
 * import { FileInfo } from "../mod.ts";
 * const info = new FileInfo({ fh: 7 }); // keepCache: true, as pyfuse3's FileInfo(fh=7)
 * const fresh = new FileInfo({ fh: 8, keepCache: false }); // drop cached pages at open
 * ```
 */
export class FileInfo {
  /** The handle passed back to read, write, flush, release, fsync. */
  fh: FileHandle = 0;
  /** Bypass the page cache for this open file. */
  directIo = false;
  /**
   * Keep the page cache from previous opens (true by default, as in
   * pyfuse3). Set it false when the file may have changed behind the
   * kernel's back since it was last open (data from a network or another
   * process): the kernel then drops the file's cached pages at open.
   * With the writeback cache, dropped pages also mean that an appending
   * or partial write first reads its page through this very open file, so
   * a write-only open must be able to read (open the backing file O_RDWR,
   * as libfuse's passthrough_ll does).
   */
  keepCache = true;
  /** The file is not seekable (pipes, sockets, streams). */
  nonseekable = false;
  /**
   * Skip FLUSH requests on close(2) for this open file. When left
   * undefined, denofuse sets it exactly when the filesystem has no `flush`
   * handler, saving a round trip per close. (Not in pyfuse3.)
   */
  noflush?: boolean;
  /**
   * A descriptor of the file whose data this open file mirrors, for kernel
   * passthrough (set `Operations.enableKernelPassthrough`; libfuse 3.17+,
   * Linux 6.9+, root): the kernel then reads, writes and mmaps that file
   * itself, and no `read` or `write` request reaches the filesystem for this
   * open file (flush, fsync, setattr, fallocate, lseek, locks still do).
   * It must be a real open descriptor of a regular file (not `O_PATH`); the
   * kernel reopens the file with this open's own flags, as the server's
   * user. The library registers it before replying and drops the
   * registration at release; the kernel holds its own reference, so the
   * filesystem may close the descriptor whenever it likes. All passthrough
   * opens of one inode share one registration (the kernel refuses two
   * backing files for one inode), made from the first open's descriptor.
   * Where passthrough is unavailable it is ignored and reads and writes
   * reach the handlers as usual (`MountHandle.connection.passthrough` says
   * which). While an inode is open in passthrough mode the kernel fails
   * (EIO) every other open of it that comes without a descriptor, so give
   * one on every open of the file; with `directIo` as well, that open's
   * reads and writes still reach the handlers and only mmap uses the
   * backing file. The kernel refuses `keepCache` and `nonseekable` with
   * passthrough, so they are not sent for an open that got a backing file.
   * Give each open file its own `fh`: release finds the registration by
   * inode and `fh`. (Not in pyfuse3.)
   */
  backingFd?: number;

  /**
   * Creates the value; members not in `init` keep their defaults.
   *
   * @param init members to set
   */
  constructor(init?: Partial<FileInfo>) {
    if (init) Object.assign(this, init);
  }
}

/** Which attributes a `setattr` call changes. */
export class SetattrFields {
  /** `attr.stAtimeNs` is to be set (already resolved for "now"). */
  updateAtime = false;
  /** `attr.stMtimeNs` is to be set (already resolved for "now"). */
  updateMtime = false;
  /** `attr.stCtimeNs` is to be set. */
  updateCtime = false;
  /** `attr.stMode` (permission bits) is to be set. */
  updateMode = false;
  /** `attr.stUid` is to be set. */
  updateUid = false;
  /** `attr.stGid` is to be set. */
  updateGid = false;
  /** `attr.stSize` is to be set (truncate). */
  updateSize = false;
  /**
   * The caller asked for "now" (UTIME_NOW) rather than an explicit atime;
   * `attr.stAtimeNs` holds the server's current time. (Not in pyfuse3: lets
   * a passthrough forward UTIME_NOW.)
   */
  updateAtimeNow = false;
  /** Like {@link updateAtimeNow}, for mtime. */
  updateMtimeNow = false;

  /**
   * Creates the value; members not in `init` keep their defaults.
   *
   * @param init members to set
   */
  constructor(init?: Partial<SetattrFields>) {
    if (init) Object.assign(this, init);
  }
}

/** Who sent a request. */
export interface RequestContext {
  /** Effective user id of the calling process. */
  readonly uid: number;
  /** Effective group id of the calling process. */
  readonly gid: number;
  /** Process id of the caller (0 when the kernel sends on its own behalf). */
  readonly pid: number;
  /** The caller's umask (for mknod, mkdir, create). */
  readonly umask: number;
  /**
   * Aborted when the kernel interrupts the request (FUSE_INTERRUPT, e.g.
   * the caller got a signal). A handler that rejects with the signal's
   * reason (an `AbortError`) answers EINTR. Registering costs one FFI
   * call, made only when this is first read. (Not in pyfuse3.)
   */
  readonly signal: AbortSignal;
  /**
   * Whether the kernel asks this request to clear the file's set-user-ID
   * and set-group-ID bits. Set on `write`, `setattr` and `open` and
   * `create` requests; `undefined` on every other. (Not in pyfuse3.)
   *
   * - `true`: clear set-user-ID, and set-group-ID when the file is
   *   group-executable (the kernel's own tmpfs also clears a set-group-ID
   *   bit without group execute when the caller is not in the file's
   *   group). The kernel sends it when the caller lacks CAP_FSETID (a
   *   write, a truncate, an open or create with O_TRUNC) and on any chown
   *   of a non-directory, and has then left the clearing to the filesystem.
   * - `false`: keep them: the caller has CAP_FSETID, or the request neither
   *   writes, truncates nor changes the owner.
   * - `undefined`: the kernel does not say, because
   *   {@link Operations.handleKillprivV2} is off or could not be negotiated.
   *   It then clears the bits itself on writes through the page cache,
   *   truncate, chown, fallocate and copy_file_range, but not on open or
   *   create with O_TRUNC (libfuse negotiates atomic O_TRUNC, which leaves
   *   that to the filesystem): decide those by a rule of your own (e.g. the
   *   caller is not root), as without this flag.
   *
   * A `write` through an open file with `directIo` is `true` whenever the
   * caller lacks CAP_FSETID, with handleKillprivV2 or without: the kernel
   * clears nothing itself on that path.
   */
  readonly killSuidgid?: boolean;
}

/** Filesystem statistics returned by `statfs`. */
export class StatvfsData {
  /** Filesystem block size. */
  fBsize = 0;
  /** Fragment size (the unit of fBlocks, fBfree, fBavail). */
  fFrsize = 0;
  /** Total blocks. */
  fBlocks = 0;
  /** Free blocks. */
  fBfree = 0;
  /** Free blocks for unprivileged users. */
  fBavail = 0;
  /** Total inodes. */
  fFiles = 0;
  /** Free inodes. */
  fFfree = 0;
  /** Free inodes for unprivileged users. */
  fFavail = 0;
  /** Longest file name. */
  fNamemax = 0;

  /**
   * Creates the value; members not in `init` keep their defaults.
   *
   * @param init members to set
   */
  constructor(init?: Partial<StatvfsData>) {
    if (init) Object.assign(this, init);
  }
}

/** fcntl lock types, for {@link FileLock.type}. */
export const F_RDLCK = 0;
/** A write (exclusive) lock. */
export const F_WRLCK = 1;
/** No lock / unlock. */
export const F_UNLCK = 2;

/** flock(2) operations, for the `flock` handler's `op`. */
export const LOCK_SH = 1;
/** Exclusive flock. */
export const LOCK_EX = 2;
/** Do not block (combined with LOCK_SH or LOCK_EX). */
export const LOCK_NB = 4;
/** Release the flock. */
export const LOCK_UN = 8;

/** A POSIX record lock (`struct flock`), for `getlk` and `setlk`. */
export class FileLock {
  /** F_RDLCK, F_WRLCK or F_UNLCK. */
  type: number = F_UNLCK;
  /** How `start` is measured; the kernel always sends SEEK_SET (0). */
  whence = 0;
  /** First byte of the range. */
  start = 0;
  /** Bytes in the range; 0 means "to the end of the file". */
  len = 0;
  /** The owning process (reported by getlk for a conflicting lock). */
  pid = 0;

  /**
   * Creates the value; members not in `init` keep their defaults.
   *
   * @param init members to set
   */
  constructor(init?: Partial<FileLock>) {
    if (init) Object.assign(this, init);
  }
}

/** What an `ioctl` handler answers: a result and the output bytes. */
export interface IoctlReply {
  /** The ioctl's return value (default 0). */
  result?: number;
  /** Output bytes, at most the `outSize` asked for. */
  data?: Uint8Array;
}

/** A handler may answer synchronously or with a promise. */
export type MaybePromise<T> = T | Promise<T>;

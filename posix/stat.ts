/**
 * `struct stat` and `struct statvfs` at nanosecond and 64-bit precision
 * (`Deno.lstat` rounds times to milliseconds): stat, lstat, fstat, fstatat,
 * statvfs and fstatvfs; and utimensat's timespecs.
 *
 * Identities that can exceed 2^53 (`dev`, `ino`) and times in nanoseconds
 * are `bigint`s; sizes and counts are numbers, and a value a number cannot
 * hold exactly fails with EOVERFLOW (as a 32-bit `stat` does in C) rather
 * than being rounded.
 *
 * @module
 */

import { errno } from "../core/errno.ts";
import { FUSEError } from "../core/errors.ts";
import { type Field, LAYOUT } from "../ffi/layout.ts";
import { UTIME } from "./constants.ts";
import { joinNs, splitNs } from "../core/time.ts";
import { AT } from "./constants.ts";
import { check, cpath, EMPTY, type PathLike, sym } from "./libc.ts";

/** The members of `struct stat` the passthrough uses, exactly. */
export interface Stat {
  /** `st_dev`: the filesystem. */
  dev: bigint;
  /** `st_ino`, full 64 bits. */
  ino: bigint;
  /** `st_mode`: type and permission bits. */
  mode: number;
  /** `st_nlink`. */
  nlink: number;
  /** `st_uid`. */
  uid: number;
  /** `st_gid`. */
  gid: number;
  /** `st_rdev`. */
  rdev: number;
  /** `st_size`. */
  size: number;
  /** `st_blksize`. */
  blksize: number;
  /** `st_blocks` (512-byte units). */
  blocks: number;
  /** `st_atim` in nanoseconds. */
  atimeNs: bigint;
  /** `st_mtim` in nanoseconds. */
  mtimeNs: bigint;
  /** `st_ctim` in nanoseconds. */
  ctimeNs: bigint;
}

const STAT = LAYOUT.stat.fields;
const statBuf = new Uint8Array(LAYOUT.stat.size);
const statView = new DataView(statBuf.buffer);

function big(field: Field): bigint {
  switch (field.kind) {
    case "u64":
      return statView.getBigUint64(field.offset, true);
    case "i64":
      return statView.getBigInt64(field.offset, true);
    case "u32":
      return BigInt(statView.getUint32(field.offset, true));
    case "i32":
      return BigInt(statView.getInt32(field.offset, true));
    default:
      throw new Error(`unexpected struct stat member kind ${field.kind}`);
  }
}

/** A 64-bit member as a number; EOVERFLOW rather than a rounded value. */
function num(field: Field): number {
  const v = big(field);
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < 0n) throw new FUSEError(errno.EOVERFLOW);
  return Number(v);
}

/**
 * fstatat(2) into a shared buffer (calls are synchronous, so one suffices).
 *
 * C: `int fstatat(int dirfd, const char *pathname, struct stat *statbuf, int flags)`
 *
 * @param dirfd a directory fd (`AT.FDCWD` for the working directory), or
 *   the object's own fd with `AT.EMPTY_PATH`
 * @param path the object (bytes or a UTF-8 string; a C string from
 *   {@link cstr} and {@link EMPTY} are taken as they are)
 * @param flags `AT.*` flags (`AT.SYMLINK_NOFOLLOW`, `AT.EMPTY_PATH`)
 * @returns the decoded members
 * @throws {FUSEError} with errno (ENOENT, ENOTDIR, EACCES, ...)
 * @example
 * ```ts
 * import { acquireLibc, AT, fstatat, releaseLibc } from "../posix.ts";
 * acquireLibc();
 * console.log(fstatat(AT.FDCWD, "/", 0).ino); // 2n on most filesystems
 * releaseLibc();
 * ```
 */
export function fstatat(dirfd: number, path: PathLike, flags: number): Stat {
  check(sym().fstatat(dirfd, cpath(path), statBuf, flags));
  return decodeStat();
}

function decodeStat(): Stat {
  return {
    dev: big(STAT.st_dev),
    ino: big(STAT.st_ino),
    mode: Number(big(STAT.st_mode)),
    nlink: num(STAT.st_nlink),
    uid: Number(big(STAT.st_uid)),
    gid: Number(big(STAT.st_gid)),
    rdev: num(STAT.st_rdev),
    size: num(STAT.st_size),
    blksize: num(STAT.st_blksize),
    blocks: num(STAT.st_blocks),
    atimeNs: joinNs(big(STAT.st_atime), big(STAT.st_atime_nsec)),
    mtimeNs: joinNs(big(STAT.st_mtime), big(STAT.st_mtime_nsec)),
    ctimeNs: joinNs(big(STAT.st_ctime), big(STAT.st_ctime_nsec)),
  };
}

/** Where a path starts and whether its last component is followed if a symlink. */
export interface PathOptions {
  /** The directory a relative path starts from (default: the working directory). */
  dirFd?: number;
  /** Whether a final symlink is followed (default true). */
  followSymlinks?: boolean;
}

/**
 * stat(2), like Python's `os.stat`: follows a final symlink unless
 * `followSymlinks` is false.
 *
 * C: `int fstatat(int dirfd, const char *pathname, struct stat *statbuf, int flags)`
 *
 * @param path the object
 * @param options `dirFd` and `followSymlinks`
 * @returns its attributes
 * @throws {FUSEError} with errno (ENOENT for a missing path, ...)
 * @example
 * ```ts
 * import { FUSEError } from "../mod.ts";
 * import { acquireLibc, releaseLibc, stat } from "../posix.ts";
 * acquireLibc();
 * console.log(stat("/tmp").mode.toString(8)); // "41777"
 * try {
 *   stat("/no/such/path");
 * } catch (e) {
 *   console.log((e as FUSEError).errno); // 2 (ENOENT): rethrow it from a handler
 * }
 * releaseLibc();
 * ```
 */
export function stat(path: PathLike, options: PathOptions = {}): Stat {
  const flags = options.followSymlinks === false ? AT.SYMLINK_NOFOLLOW : 0;
  return fstatat(options.dirFd ?? AT.FDCWD, path, flags);
}

/**
 * lstat(2): {@link stat} of a symlink itself.
 *
 * C: `int lstat(const char *pathname, struct stat *statbuf)`
 *
 * @param path the object
 * @param options `dirFd`: the directory a relative path starts from
 * @returns its attributes
 * @throws {FUSEError} with errno
 */
export function lstat(path: PathLike, options: { dirFd?: number } = {}): Stat {
  return fstatat(options.dirFd ?? AT.FDCWD, path, AT.SYMLINK_NOFOLLOW);
}

/**
 * fstat(2) (any descriptor, `O_PATH` ones included).
 *
 * C: `int fstat(int fd, struct stat *statbuf)`
 *
 * @param fd an open descriptor
 * @returns the attributes of the object it refers to
 * @throws {FUSEError} with errno (EBADF)
 */
export function fstat(fd: number): Stat {
  return fstatat(fd, EMPTY, AT.EMPTY_PATH | AT.SYMLINK_NOFOLLOW);
}

/** The members of `struct statvfs` that statfs replies carry. */
export interface Statvfs {
  /** `f_bsize`. */
  bsize: number;
  /** `f_frsize`. */
  frsize: number;
  /** `f_blocks`. */
  blocks: number;
  /** `f_bfree`. */
  bfree: number;
  /** `f_bavail`. */
  bavail: number;
  /** `f_files`. */
  files: number;
  /** `f_ffree`. */
  ffree: number;
  /** `f_favail`. */
  favail: number;
  /** `f_namemax`. */
  namemax: number;
}

/** `f_type` of filesystems that keep their data in memory (`<linux/magic.h>`). */
const MEMORY_FS_MAGIC: ReadonlySet<bigint> = new Set([
  0x01021994n, // TMPFS_MAGIC (tmpfs, /dev/shm)
  0x858458f6n, // RAMFS_MAGIC
]);

/**
 * Whether `fd` is on a filesystem that keeps its data in memory (tmpfs,
 * ramfs), where reads and writes never wait for a device.
 *
 * @param fd any fd on the filesystem (O_PATH is fine)
 * @returns true for tmpfs and ramfs
 * @throws {FUSEError} with errno if fstatfs(2) fails
 */
export function isMemoryBacked(fd: number): boolean {
  const buf = new Uint8Array(LAYOUT.statfs.size);
  check(sym().fstatfs(fd, buf));
  const type = new DataView(buf.buffer).getBigInt64(LAYOUT.statfs.fields.f_type.offset, true);
  return MEMORY_FS_MAGIC.has(type);
}

/**
 * fstatvfs(3).
 *
 * C: `int fstatvfs(int fd, struct statvfs *buf)`
 *
 * @param fd any fd on the filesystem (O_PATH is fine)
 * @returns the statistics
 * @throws {FUSEError} with errno (EOVERFLOW for a count beyond 2^53 - 1)
 */
export function fstatvfs(fd: number): Statvfs {
  const buf = new Uint8Array(LAYOUT.statvfs.size);
  check(sym().fstatvfs(fd, buf));
  return decodeStatvfs(buf);
}

/**
 * statvfs(3) by path, like Python's `os.statvfs`.
 *
 * C: `int statvfs(const char *path, struct statvfs *buf)`
 *
 * @param path any object on the filesystem
 * @returns the statistics
 * @throws {FUSEError} with errno (ENOENT, ...; EOVERFLOW for a count beyond 2^53 - 1)
 * @example
 * ```ts
 * import { acquireLibc, releaseLibc, statvfs } from "../posix.ts";
 * acquireLibc();
 * const v = statvfs("/");
 * console.log(v.bavail * v.frsize, "bytes available");
 * releaseLibc();
 * ```
 */
export function statvfs(path: PathLike): Statvfs {
  const buf = new Uint8Array(LAYOUT.statvfs.size);
  check(sym().statvfs(cpath(path), buf));
  return decodeStatvfs(buf);
}

function decodeStatvfs(buf: Uint8Array<ArrayBuffer>): Statvfs {
  const view = new DataView(buf.buffer);
  const F = LAYOUT.statvfs.fields;
  const get = (name: string) => {
    const v = view.getBigUint64(F[name].offset, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new FUSEError(errno.EOVERFLOW);
    return Number(v);
  };
  return {
    bsize: get("f_bsize"),
    frsize: get("f_frsize"),
    blocks: get("f_blocks"),
    bfree: get("f_bfree"),
    bavail: get("f_bavail"),
    files: get("f_files"),
    ffree: get("f_ffree"),
    favail: get("f_favail"),
    namemax: get("f_namemax"),
  };
}

/**
 * A time for utimensat(2) and the calls built on it: nanoseconds since the
 * epoch, `null` to leave the time as it is (`UTIME_OMIT`), or `"now"` for
 * the current time (`UTIME_NOW`, which the kernel allows to anyone who may
 * write the file, unlike an explicit time).
 */
export type TimeNs = bigint | null | "now";

/**
 * A `struct timespec[2]` for utimensat(2).
 *
 * @param atimeNs access time in ns, null to leave it (UTIME_OMIT) or "now"
 * @param mtimeNs modification time, the same way
 * @returns the array, as `{ tv_sec, tv_nsec }` pairs of 64-bit integers
 */
export function timespecs(atimeNs: TimeNs, mtimeNs: TimeNs): BigInt64Array<ArrayBuffer> {
  const out = new BigInt64Array(4);
  const put = (at: number, ns: TimeNs) => {
    if (ns === null || ns === "now") {
      out[at + 1] = BigInt(ns === null ? UTIME.OMIT : UTIME.NOW);
      return;
    }
    const [sec, nsec] = splitNs(ns);
    out[at] = sec;
    out[at + 1] = nsec;
  };
  put(0, atimeNs);
  put(2, mtimeNs);
  return out;
}

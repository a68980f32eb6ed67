/**
 * `struct stat` and `struct statvfs` at nanosecond and 64-bit precision
 * (`Deno.lstat` rounds times to milliseconds), and utimensat's timespecs.
 *
 * @module
 */

import { errno } from "../core/errno.ts";
import { FUSEError } from "../core/errors.ts";
import { type Field, LAYOUT } from "../ffi/layout.ts";
import { UTIME } from "./constants.ts";
import { joinNs, splitNs } from "../core/time.ts";
import { check, sym } from "./libc.ts";

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
 * @param dirfd a directory fd, or the object's own fd with `AT.EMPTY_PATH`
 * @param path a C string from {@link cstr}, or {@link EMPTY}
 * @param flags `AT.*` flags
 * @returns the decoded members
 * @throws {FUSEError} with errno
 */
export function fstatat(dirfd: number, path: Uint8Array<ArrayBuffer>, flags: number): Stat {
  check(sym().fstatat(dirfd, path, statBuf, flags));
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
 * @param fd any fd on the filesystem (O_PATH is fine)
 * @returns the statistics
 * @throws {FUSEError} with errno
 */
export function fstatvfs(fd: number): Statvfs {
  const buf = new Uint8Array(LAYOUT.statvfs.size);
  check(sym().fstatvfs(fd, buf));
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
 * A `struct timespec[2]` for utimensat(2).
 *
 * @param atimeNs access time in ns, or null to leave it (UTIME_OMIT)
 * @param mtimeNs modification time in ns, or null to leave it
 * @returns the array, as `{ tv_sec, tv_nsec }` pairs of 64-bit integers
 */
export function timespecs(atimeNs: bigint | null, mtimeNs: bigint | null): BigInt64Array {
  const out = new BigInt64Array(4);
  const put = (at: number, ns: bigint | null) => {
    if (ns === null) {
      out[at + 1] = BigInt(UTIME.OMIT);
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

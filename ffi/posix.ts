/**
 * POSIX system calls for filesystems that forward to a backing filesystem
 * (examples/passthrough.ts), bound through Deno FFI.
 *
 * Deno's own file APIs cannot express a faithful passthrough: `Deno.lstat`
 * rounds times to milliseconds and `ino` to a JS number, paths must be
 * UTF-8 strings, and there is no `*at()` family, `O_PATH`, xattrs, mknod,
 * renameat2 flags, nanosecond utimensat, fchownat or statvfs.
 *
 * ## errno and `nonblocking` calls
 *
 * A synchronous FFI call runs on the JS thread, so errno is read right
 * after it through the JS thread's `__errno_location()`. A `nonblocking: true`
 * call runs on one of Deno's worker threads, and errno is thread-local: the
 * failed call's errno lives on a thread we cannot name and may be overwritten
 * before we could ask for it. No libc wrapper of read/write/open/fsync
 * returns the error directly (glibc's `syscall()` also goes through errno).
 * So a nonblocking call that fails is repeated once synchronously on the JS
 * thread to learn its errno ({@link offThread}). That is sound for the calls
 * used that way: a failed `pread`, `pwrite`, `openat` or `getdents64` had no
 * effect, so repeating it is safe, and if the repetition succeeds its result
 * is simply used. `fsync` is the exception: Linux reports a writeback error
 * once, so a repetition that succeeds does not mean the data is safe; then
 * the failure is reported as EIO.
 *
 * Deno runs `nonblocking` calls on its blocking thread pool, which is
 * capped (32 threads on Deno 2.9: 40 concurrent `sleep(1)` calls take 2 s)
 * and shared with Deno's async file APIs. Calls beyond the cap queue rather
 * than fail. (The request loop's own wait does not use the pool: see
 * ffi/poller.ts.)
 *
 * @module
 */

import { errno } from "../utils/errno.ts";
import { FUSEError } from "../utils/errors.ts";
import { type Field, LAYOUT } from "./layout.ts";
import { nulTerminated } from "./codec.ts";

// ---------------------------------------------------------------------------
// Symbol table
// ---------------------------------------------------------------------------

/** The libc functions the passthrough example calls, with their C prototypes. */
export const PASSTHROUGH_LIBC_SYMBOLS = {
  // int *__errno_location(void)
  __errno_location: { parameters: [], result: "pointer" },
  // uid_t geteuid(void)
  geteuid: { parameters: [], result: "u32" },
  // mode_t umask(mode_t mask)
  umask: { parameters: [/* mask */ "u32"], result: "u32" },

  // int openat(int dirfd, const char *pathname, int flags, ... /* mode_t mode */)
  // (variadic; on the Linux x86_64 and aarch64 ABIs a trailing integer is
  // passed like a named one, as with ffi/symbols.ts's fcntl)
  openat: {
    parameters: [/* dirfd */ "i32", /* pathname */ "buffer", /* flags */ "i32", /* mode */ "u32"],
    result: "i32",
  },
  // Same function, off the JS thread: opening a file can wait for the
  // backing filesystem (NFS, FUSE, a disk spinning up).
  openat_nb: {
    name: "openat",
    parameters: [/* dirfd */ "i32", /* pathname */ "buffer", /* flags */ "i32", /* mode */ "u32"],
    result: "i32",
    nonblocking: true,
  },
  // int close(int fd)
  close: { parameters: [/* fd */ "i32"], result: "i32" },
  // int dup(int oldfd)
  dup: { parameters: [/* oldfd */ "i32"], result: "i32" },
  // off_t lseek(int fd, off_t offset, int whence)
  lseek: { parameters: [/* fd */ "i32", /* offset */ "i64", /* whence */ "i32"], result: "i64" },

  // ssize_t pread(int fd, void *buf, size_t count, off_t offset)
  pread: {
    parameters: [/* fd */ "i32", /* buf */ "buffer", /* count */ "usize", /* offset */ "i64"],
    result: "isize",
  },
  // Same function, off the JS thread: reading waits for the disk.
  pread_nb: {
    name: "pread",
    parameters: [/* fd */ "i32", /* buf */ "buffer", /* count */ "usize", /* offset */ "i64"],
    result: "isize",
    nonblocking: true,
  },
  // ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset)
  pwrite: {
    parameters: [/* fd */ "i32", /* buf */ "buffer", /* count */ "usize", /* offset */ "i64"],
    result: "isize",
  },
  // Same function, off the JS thread: writing may wait for dirty-page throttling.
  pwrite_nb: {
    name: "pwrite",
    parameters: [/* fd */ "i32", /* buf */ "buffer", /* count */ "usize", /* offset */ "i64"],
    result: "isize",
    nonblocking: true,
  },
  // int fsync(int fd)
  fsync: { parameters: [/* fd */ "i32"], result: "i32" },
  // Same function, off the JS thread: fsync waits for the disk by design.
  fsync_nb: { name: "fsync", parameters: [/* fd */ "i32"], result: "i32", nonblocking: true },
  // int fdatasync(int fd)
  fdatasync: { parameters: [/* fd */ "i32"], result: "i32" },
  // Same function, off the JS thread.
  fdatasync_nb: {
    name: "fdatasync",
    parameters: [/* fd */ "i32"],
    result: "i32",
    nonblocking: true,
  },
  // ssize_t getdents64(int fd, void *dirp, size_t count)
  getdents64: {
    parameters: [/* fd */ "i32", /* dirp */ "buffer", /* count */ "usize"],
    result: "isize",
  },
  // Same function, off the JS thread: a large directory is many disk blocks.
  getdents64_nb: {
    name: "getdents64",
    parameters: [/* fd */ "i32", /* dirp */ "buffer", /* count */ "usize"],
    result: "isize",
    nonblocking: true,
  },

  // int fstatat(int dirfd, const char *pathname, struct stat *statbuf, int flags)
  fstatat: {
    parameters: [
      /* dirfd */ "i32",
      /* pathname */ "buffer",
      /* statbuf */ "buffer",
      /* flags */ "i32",
    ],
    result: "i32",
    // glibc < 2.33 (Debian 11, Ubuntu 20.04, RHEL 8) has only __fxstatat.
    optional: true,
  },
  // int __fxstatat(int ver, int dirfd, const char *pathname, struct stat *statbuf, int flags)
  __fxstatat: {
    parameters: [
      /* ver */ "i32",
      /* dirfd */ "i32",
      /* pathname */ "buffer",
      /* statbuf */ "buffer",
      /* flags */ "i32",
    ],
    result: "i32",
    optional: true,
  },
  // int __xmknodat(int ver, int dirfd, const char *pathname, mode_t mode, dev_t *dev)
  __xmknodat: {
    parameters: [
      /* ver */ "i32",
      /* dirfd */ "i32",
      /* pathname */ "buffer",
      /* mode */ "u32",
      /* dev */ "buffer",
    ],
    result: "i32",
    optional: true,
  },
  // int fstatfs(int fd, struct statfs *buf)
  fstatfs: { parameters: [/* fd */ "i32", /* buf */ "buffer"], result: "i32" },
  // int fstatvfs(int fd, struct statvfs *buf)
  fstatvfs: { parameters: [/* fd */ "i32", /* buf */ "buffer"], result: "i32" },
  // ssize_t readlinkat(int dirfd, const char *pathname, char *buf, size_t bufsiz)
  readlinkat: {
    parameters: [
      /* dirfd */ "i32",
      /* pathname */ "buffer",
      /* buf */ "buffer",
      /* bufsiz */ "usize",
    ],
    result: "isize",
  },
  // int mkdirat(int dirfd, const char *pathname, mode_t mode)
  mkdirat: {
    parameters: [/* dirfd */ "i32", /* pathname */ "buffer", /* mode */ "u32"],
    result: "i32",
  },
  // int mknodat(int dirfd, const char *pathname, mode_t mode, dev_t dev)
  mknodat: {
    parameters: [/* dirfd */ "i32", /* pathname */ "buffer", /* mode */ "u32", /* dev */ "u64"],
    result: "i32",
    // glibc < 2.33 has only __xmknodat.
    optional: true,
  },
  // int symlinkat(const char *target, int newdirfd, const char *linkpath)
  symlinkat: {
    parameters: [/* target */ "buffer", /* newdirfd */ "i32", /* linkpath */ "buffer"],
    result: "i32",
  },
  // int unlinkat(int dirfd, const char *pathname, int flags)
  unlinkat: {
    parameters: [/* dirfd */ "i32", /* pathname */ "buffer", /* flags */ "i32"],
    result: "i32",
  },
  // int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
  //               unsigned int flags)
  renameat2: {
    parameters: [
      /* olddirfd */ "i32",
      /* oldpath */ "buffer",
      /* newdirfd */ "i32",
      /* newpath */ "buffer",
      /* flags */ "u32",
    ],
    result: "i32",
  },
  // int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)
  linkat: {
    parameters: [
      /* olddirfd */ "i32",
      /* oldpath */ "buffer",
      /* newdirfd */ "i32",
      /* newpath */ "buffer",
      /* flags */ "i32",
    ],
    result: "i32",
  },
  // int fchmodat(int dirfd, const char *pathname, mode_t mode, int flags)
  fchmodat: {
    parameters: [/* dirfd */ "i32", /* pathname */ "buffer", /* mode */ "u32", /* flags */ "i32"],
    result: "i32",
  },
  // int fchmod(int fd, mode_t mode)
  fchmod: { parameters: [/* fd */ "i32", /* mode */ "u32"], result: "i32" },
  // int fchownat(int dirfd, const char *pathname, uid_t owner, gid_t group, int flags)
  fchownat: {
    parameters: [
      /* dirfd */ "i32",
      /* pathname */ "buffer",
      /* owner */ "u32",
      /* group */ "u32",
      /* flags */ "i32",
    ],
    result: "i32",
  },
  // int fchown(int fd, uid_t owner, gid_t group)
  fchown: { parameters: [/* fd */ "i32", /* owner */ "u32", /* group */ "u32"], result: "i32" },
  // int utimensat(int dirfd, const char *pathname, const struct timespec times[2], int flags)
  utimensat: {
    parameters: [
      /* dirfd */ "i32",
      /* pathname */ "buffer",
      /* times */ "buffer",
      /* flags */ "i32",
    ],
    result: "i32",
  },
  // int truncate(const char *path, off_t length)
  truncate: { parameters: [/* path */ "buffer", /* length */ "i64"], result: "i32" },
  // int ftruncate(int fd, off_t length)
  ftruncate: { parameters: [/* fd */ "i32", /* length */ "i64"], result: "i32" },

  // ssize_t getxattr(const char *path, const char *name, void *value, size_t size)
  getxattr: {
    parameters: [
      /* path */ "buffer",
      /* name */ "buffer",
      /* value */ "buffer",
      /* size */ "usize",
    ],
    result: "isize",
  },
  // int setxattr(const char *path, const char *name, const void *value, size_t size, int flags)
  setxattr: {
    parameters: [
      /* path */ "buffer",
      /* name */ "buffer",
      /* value */ "buffer",
      /* size */ "usize",
      /* flags */ "i32",
    ],
    result: "i32",
  },
  // ssize_t listxattr(const char *path, char *list, size_t size)
  listxattr: {
    parameters: [/* path */ "buffer", /* list */ "buffer", /* size */ "usize"],
    result: "isize",
  },
  // int removexattr(const char *path, const char *name)
  removexattr: { parameters: [/* path */ "buffer", /* name */ "buffer"], result: "i32" },

  // int name_to_handle_at(int dirfd, const char *pathname, struct file_handle *handle,
  //                       int *mount_id, int flags)
  name_to_handle_at: {
    parameters: [
      /* dirfd */ "i32",
      /* pathname */ "buffer",
      /* handle */ "buffer",
      /* mount_id */ "buffer",
      /* flags */ "i32",
    ],
    result: "i32",
  },
  // int open_by_handle_at(int mount_fd, struct file_handle *handle, int flags)
  open_by_handle_at: {
    parameters: [/* mount_fd */ "i32", /* handle */ "buffer", /* flags */ "i32"],
    result: "i32",
  },
  // int getrlimit(int resource, struct rlimit *rlim)
  getrlimit: { parameters: [/* resource */ "i32", /* rlim */ "buffer"], result: "i32" },
  // int setrlimit(int resource, const struct rlimit *rlim)
  setrlimit: { parameters: [/* resource */ "i32", /* rlim */ "buffer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The loaded functions of {@link PASSTHROUGH_LIBC_SYMBOLS}. */
type LoadedSymbols = Deno.DynamicLibrary<typeof PASSTHROUGH_LIBC_SYMBOLS>["symbols"];
export type PassthroughLibc = Omit<LoadedSymbols, "fstatat" | "mknodat"> & {
  fstatat: NonNullable<LoadedSymbols["fstatat"]>;
  mknodat: NonNullable<LoadedSymbols["mknodat"]>;
};

/** glibc's stat/mknod structure versions for the < 2.33 entry points. */
const STAT_VER = Deno.build.arch === "x86_64" ? 1 : 0;
const MKNOD_VER = 0;

function withFallbacks(s: LoadedSymbols): PassthroughLibc {
  const dev = new BigUint64Array(1);
  const fstatat = s.fstatat ??
    (s.__fxstatat
      ? (
        dirfd: number,
        path: Uint8Array<ArrayBuffer> | null,
        buf: Uint8Array<ArrayBuffer> | null,
        flags: number,
      ) => s.__fxstatat!(STAT_VER, dirfd, path, buf, flags)
      : null);
  const mknodat = s.mknodat ??
    (s.__xmknodat
      ? (dirfd: number, path: Uint8Array<ArrayBuffer> | null, mode: number, rdev: bigint) => {
        dev[0] = BigInt(rdev);
        return s.__xmknodat!(MKNOD_VER, dirfd, path, mode, dev);
      }
      : null);
  if (!fstatat || !mknodat) throw new Error("libc.so.6 has neither fstatat nor __fxstatat");
  return { ...s, fstatat, mknodat } as PassthroughLibc;
}
let symbols: PassthroughLibc | undefined;

let library: Deno.DynamicLibrary<typeof PASSTHROUGH_LIBC_SYMBOLS> | undefined;
let users = 0;
let errnoView: Deno.UnsafePointerView | undefined;

/**
 * Loads libc (on first use) and takes a reference; each filesystem holds
 * one, so that the library is unloaded again when the last one closes (and
 * tests see no dynamic library left open).
 *
 * @returns the symbol table's functions
 */
export function acquireLibc(): PassthroughLibc {
  if (!library) {
    library = Deno.dlopen("libc.so.6", PASSTHROUGH_LIBC_SYMBOLS);
    symbols = withFallbacks(library.symbols);
    // errno's address is per thread; every synchronous call below runs on
    // this (the JS) thread, so one view serves them all.
    errnoView = new Deno.UnsafePointerView(library.symbols.__errno_location()!);
  }
  users++;
  return symbols!;
}

/** Drops a reference taken by {@link acquireLibc}; the last one unloads libc. */
export function releaseLibc(): void {
  if (users === 0 || --users > 0) return;
  library?.close();
  library = undefined;
  errnoView = undefined;
}

/**
 * The loaded symbols, for code running while a reference is held.
 *
 * @returns the symbol table's functions
 * @throws {Error} if no reference is held
 */
export function sym(): PassthroughLibc {
  if (!library) throw new Error("libc is not loaded: call acquireLibc() first");
  return symbols!;
}

// ---------------------------------------------------------------------------
// Constants (Linux; open flags differ between x86_64 and aarch64)
// ---------------------------------------------------------------------------

const ARCH_O = Deno.build.arch === "aarch64"
  ? { O_DIRECTORY: 0o40000, O_NOFOLLOW: 0o100000, O_DIRECT: 0o200000 }
  : { O_DIRECTORY: 0o200000, O_NOFOLLOW: 0o400000, O_DIRECT: 0o40000 };

/** open(2) flags. */
export const O = {
  O_RDONLY: 0,
  O_WRONLY: 1,
  O_RDWR: 2,
  O_ACCMODE: 3,
  O_CREAT: 0o100,
  O_EXCL: 0o200,
  O_NOCTTY: 0o400,
  O_TRUNC: 0o1000,
  O_APPEND: 0o2000,
  O_CLOEXEC: 0o2000000,
  O_PATH: 0o10000000,
  ...ARCH_O,
} as const;

/** `*at()` flags and the special directory fd. */
export const AT = {
  FDCWD: -100,
  SYMLINK_NOFOLLOW: 0x100,
  REMOVEDIR: 0x200,
  SYMLINK_FOLLOW: 0x400,
  EMPTY_PATH: 0x1000,
} as const;

/** `tv_nsec` values of utimensat(2). */
export const UTIME = { NOW: (1 << 30) - 1, OMIT: (1 << 30) - 2 } as const;

/** File type and special mode bits. */
export const S = {
  IFMT: 0o170000,
  IFDIR: 0o040000,
  IFREG: 0o100000,
  IFLNK: 0o120000,
  ISUID: 0o4000,
  ISGID: 0o2000,
} as const;

/** `uid_t`/`gid_t` -1: "leave unchanged" for fchownat. */
export const NO_ID = 0xffff_ffff;

/** `RLIMIT_NOFILE` (the same number on x86_64 and aarch64). */
export const RLIMIT_NOFILE = 7;

/** `MAX_HANDLE_SZ`: the largest `f_handle` any filesystem encodes (`<linux/exportfs.h>`). */
export const MAX_HANDLE_SZ = 128;

// ---------------------------------------------------------------------------
// errno
// ---------------------------------------------------------------------------

/**
 * One FUSEError per errno, made on first use. Constructing an Error costs
 * about 1 µs in Deno, as much as a whole request, and failed calls are
 * everyday answers (a negative lookup before every create and mkdir);
 * FUSEErrors are immutable, so one instance can answer any number of them.
 */
const errorsByErrno = new Map<number, FUSEError>();

/**
 * The JS thread's errno, as a FUSEError. Call it right after the failing
 * synchronous call, before anything else that could touch errno.
 *
 * @returns the (shared) error to throw (EIO if errno was, unexpectedly, 0)
 */
export function lastError(): FUSEError {
  const raw = errnoView?.getInt32(0) ?? 0;
  const e = raw > 0 ? raw : errno.EIO;
  let error = errorsByErrno.get(e);
  if (!error) errorsByErrno.set(e, error = new FUSEError(e));
  return error;
}

/**
 * Throws the JS thread's errno when `rc` is negative.
 *
 * @param rc a libc return value
 * @returns `rc` as a number
 * @throws {FUSEError} with errno when `rc < 0`
 */
export function check(rc: number | bigint): number {
  const n = Number(rc);
  if (n < 0) throw lastError();
  return n;
}

/**
 * Runs a call off the JS thread; if it fails, repeats it synchronously to
 * learn errno (see the module documentation for why that is safe).
 *
 * @param nonblocking the call on a worker thread
 * @param sync the same call on the JS thread
 * @param replayable false when a successful repetition does not undo the
 *   first failure (fsync): then the failure is reported as EIO
 * @returns the non-negative result
 * @throws {FUSEError} with the errno of the repeated call
 */
export async function offThread(
  nonblocking: () => Promise<number | bigint>,
  sync: () => number | bigint,
  replayable = true,
): Promise<number> {
  const rc = Number(await nonblocking());
  if (rc >= 0) return rc;
  const again = check(sync());
  if (!replayable) throw new FUSEError(errno.EIO);
  return again;
}

// ---------------------------------------------------------------------------
// Strings and structs
// ---------------------------------------------------------------------------

const encoder = new TextEncoder();

/**
 * A NUL-terminated copy of a name or path.
 *
 * @param value raw bytes, or a string encoded as UTF-8
 * @returns the bytes plus a trailing NUL
 * @throws {FUSEError} EINVAL if the value contains a NUL byte
 */
export function cstr(value: Uint8Array | string): Uint8Array<ArrayBuffer> {
  const bytes = typeof value === "string" ? encoder.encode(value) : value;
  if (bytes.includes(0)) throw new FUSEError(errno.EINVAL);
  return nulTerminated(bytes);
}

/** The empty C string, for `AT_EMPTY_PATH` calls. */
export const EMPTY: Uint8Array<ArrayBuffer> = new Uint8Array(1);

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

const NS = 1_000_000_000n;

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
    atimeNs: big(STAT.st_atime) * NS + big(STAT.st_atime_nsec),
    mtimeNs: big(STAT.st_mtime) * NS + big(STAT.st_mtime_nsec),
    ctimeNs: big(STAT.st_ctime) * NS + big(STAT.st_ctime_nsec),
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
    let sec = ns / NS, nsec = ns % NS;
    if (nsec < 0n) {
      nsec += NS;
      sec -= 1n;
    }
    out[at] = sec;
    out[at + 1] = nsec;
  };
  put(0, atimeNs);
  put(2, mtimeNs);
  return out;
}

/**
 * Splits getdents64(2) output into entries.
 *
 * @param buf the buffer the call filled
 * @param length the byte count it returned
 * @returns `{ ino, type, name }` per `struct linux_dirent64`
 */
export function parseDirents(
  buf: Uint8Array,
  length: number,
): Array<{ ino: bigint; type: number; name: Uint8Array }> {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out = [];
  // struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
  for (let at = 0; at < length;) {
    const reclen = view.getUint16(at + 16, true);
    const nameStart = at + 19;
    let nameEnd = buf.indexOf(0, nameStart);
    if (nameEnd < 0 || nameEnd > at + reclen) nameEnd = at + reclen;
    out.push({
      ino: view.getBigUint64(at, true),
      type: view.getUint8(at + 18),
      name: buf.slice(nameStart, nameEnd),
    });
    at += reclen;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Resource limits
// ---------------------------------------------------------------------------

/** A resource limit's soft and hard values; `Infinity` for `RLIM_INFINITY`. */
export interface ResourceLimit {
  /** `rlim_cur`: what the kernel enforces. */
  soft: number;
  /** `rlim_max`: how far an unprivileged process may raise `soft`. */
  hard: number;
}

const RLIM_INFINITY = 0xffff_ffff_ffff_ffffn;
const rlimitBuf = new BigUint64Array(2);
const rlimitBytes = new Uint8Array(rlimitBuf.buffer);
const fromRlim = (v: bigint) => v === RLIM_INFINITY ? Infinity : Number(v);

/**
 * getrlimit(2) of `RLIMIT_NOFILE`: how many descriptors this process may hold.
 *
 * @returns the soft and hard limit
 * @throws {FUSEError} with errno
 */
export function nofileLimit(): ResourceLimit {
  check(sym().getrlimit(RLIMIT_NOFILE, rlimitBytes));
  return { soft: fromRlim(rlimitBuf[0]), hard: fromRlim(rlimitBuf[1]) };
}

/**
 * Raises the soft `RLIMIT_NOFILE` to the hard limit, which needs no
 * privilege. Where the hard limit is unlimited (which the kernel refuses as
 * a descriptor count), the soft limit is left as it is.
 *
 * @returns the limits in force afterwards
 * @throws {FUSEError} with errno if the limit cannot be read or set
 */
export function raiseNofileLimit(): ResourceLimit {
  const { soft, hard } = nofileLimit();
  if (soft < hard && hard !== Infinity) {
    rlimitBuf[0] = rlimitBuf[1];
    check(sym().setrlimit(RLIMIT_NOFILE, rlimitBytes));
  }
  return nofileLimit();
}

// ---------------------------------------------------------------------------
// File handles
// ---------------------------------------------------------------------------

/** `struct file_handle { u32 handle_bytes; i32 handle_type; u8 f_handle[]; }`, largest size. */
const handleBuf = new Uint8Array(8 + MAX_HANDLE_SZ);
const handleView = new DataView(handleBuf.buffer);
const mountIdBuf = new Uint8Array(4);

/**
 * name_to_handle_at(2) of the object `fd` refers to (`AT_EMPTY_PATH`, so
 * `O_PATH` descriptors and symlinks work): a handle that open_by_handle_at(2)
 * turns back into a descriptor on the same object, as long as it exists,
 * whatever its names are by then.
 *
 * @param fd a descriptor on the object
 * @returns the `struct file_handle`, ready to pass to open_by_handle_at
 * @throws {FUSEError} with errno: EOPNOTSUPP where the filesystem cannot encode handles
 */
export function fileHandle(fd: number): Uint8Array<ArrayBuffer> {
  handleView.setUint32(0, MAX_HANDLE_SZ, true);
  check(sym().name_to_handle_at(fd, EMPTY, handleBuf, mountIdBuf, AT.EMPTY_PATH));
  return handleBuf.slice(0, 8 + handleView.getUint32(0, true));
}

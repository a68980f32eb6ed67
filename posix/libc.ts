/**
 * libc for the POSIX helpers: the symbol table with its C prototypes, the
 * loader, errno, and C strings.
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

import { errno } from "../core/errno.ts";
import { FUSEError } from "../core/errors.ts";
import { nulTerminated } from "../ffi/codec.ts";

/** The libc functions the POSIX helpers call, with their C prototypes. */
export const POSIX_SYMBOLS = {
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

/** The loaded functions of {@link POSIX_SYMBOLS}. */
export type LoadedSymbols = Deno.DynamicLibrary<typeof POSIX_SYMBOLS>["symbols"];

/**
 * The functions of {@link POSIX_SYMBOLS} as {@link sym} returns them:
 * `fstatat` and `mknodat` always present (on glibc < 2.33 they are made
 * from `__fxstatat` and `__xmknodat`).
 */
export type PosixLibc = Omit<LoadedSymbols, "fstatat" | "mknodat"> & {
  fstatat: NonNullable<LoadedSymbols["fstatat"]>;
  mknodat: NonNullable<LoadedSymbols["mknodat"]>;
};

/** glibc's stat/mknod structure versions for the < 2.33 entry points. */
const STAT_VER = Deno.build.arch === "x86_64" ? 1 : 0;
const MKNOD_VER = 0;

function withFallbacks(s: LoadedSymbols): PosixLibc {
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
  return { ...s, fstatat, mknodat } as PosixLibc;
}
let symbols: PosixLibc | undefined;

let library: Deno.DynamicLibrary<typeof POSIX_SYMBOLS> | undefined;
let users = 0;
let errnoView: Deno.UnsafePointerView | undefined;

/**
 * Loads libc (on first use) and takes a reference; each filesystem holds
 * one, so that the library is unloaded again when the last one closes (and
 * tests see no dynamic library left open).
 *
 * @returns the symbol table's functions
 */
export function acquireLibc(): PosixLibc {
  if (!library) {
    library = Deno.dlopen("libc.so.6", POSIX_SYMBOLS);
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
export function sym(): PosixLibc {
  if (!library) throw new Error("libc is not loaded: call acquireLibc() first");
  return symbols!;
}

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

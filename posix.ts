/**
 * POSIX system calls for filesystems that forward to a backing filesystem
 * (overlays, mirrors, union and encrypted-name filesystems), bound through
 * Deno FFI: what Python's `os` gives a pyfuse3 filesystem, so that a port
 * of pyfuse3's `passthroughfs.py` needs no libc stand-ins, and the `*at()`
 * family that `examples/passthrough.ts` is built on.
 *
 * Deno's own file APIs cannot express a faithful passthrough: `Deno.lstat`
 * rounds times to milliseconds and `ino` to a JS number, paths must be UTF-8
 * strings, and there is no `*at()` family, `O_PATH`, xattrs, mknod,
 * renameat2 flags, nanosecond utimensat, fchownat, statvfs or file handles.
 *
 * ## The calls
 *
 * - descriptors: {@link open}, {@link close}, {@link read}, {@link write},
 *   {@link pread}, {@link pwrite}, {@link lseek}, {@link fsync},
 *   {@link fdatasync}, {@link ftruncate}, {@link truncate}; and
 *   {@link preadAsync}, {@link pwriteAsync}, {@link fsyncAsync},
 *   {@link fdatasyncAsync}, which wait on a worker thread;
 * - attributes: {@link stat}, {@link lstat}, {@link fstat}, {@link fstatat},
 *   {@link statvfs}, {@link fstatvfs}, {@link chmod}, {@link fchmod},
 *   {@link chown}, {@link fchown}, {@link lchown}, {@link utime},
 *   {@link futimens}, {@link utimensat};
 * - the namespace: {@link mkdir}, {@link rmdir}, {@link unlink},
 *   {@link rename} (with `RENAME_*` flags), {@link link}, {@link symlink},
 *   {@link readlink}, {@link mknod}, {@link listdir}, {@link access};
 * - extended attributes: {@link getxattr}, {@link setxattr},
 *   {@link listxattr}, {@link removexattr}, each also as `l*` (the symlink
 *   itself) and `f*` (a descriptor).
 *
 * The README has a table from Python's `os` to these.
 *
 * ## Conventions
 *
 * - **Errors**: every call throws a `FUSEError` carrying errno when libc
 *   fails (ENOENT from {@link stat} of a missing path), so a handler's
 *   `catch (e) { throw e }`, or no `catch` at all, answers the kernel that
 *   errno. Arguments out of range throw `RangeError` (a bug, not an errno).
 * - **Paths and names** are bytes (`Uint8Array`, taken byte for byte: Linux
 *   names need not be UTF-8) or strings (encoded as UTF-8). A `nameKey()`
 *   key is not a path: pass `nameBytes(key)`. Names come back as bytes
 *   ({@link listdir}, {@link readlink}, {@link listxattr}), as Python's `os`
 *   does for bytes arguments.
 * - **Numbers**: byte counts, sizes, modes and ids are numbers; offsets and
 *   lengths are accepted as a number or a `bigint` ({@link Offset}: files
 *   may be up to 2^63 - 1 bytes); results are numbers, and EOVERFLOW stands
 *   for one a number cannot hold exactly. Identities that can exceed 2^53
 *   (`Stat.dev`, `Stat.ino`) and nanosecond times are `bigint`s, as in
 *   `EntryAttributes`.
 * - **Threads**: the calls are synchronous FFI on the JS thread, like
 *   Python's `os`: right for tmpfs, the page cache and local disks. Where a
 *   backing store can make them wait long (a network filesystem), use the
 *   `*Async` variants, or {@link offThread} with the `_nb` symbols. (A
 *   synchronous call on a mount this same thread serves would wait for ever:
 *   see the README's "Touching your own mount from the same process".)
 *
 * Every libc function of {@link POSIX_SYMBOLS} (with its C prototype) is
 * also reachable raw through {@link sym}; {@link check} and
 * {@link lastError} turn its results into the same `FUSEError`s, and
 * {@link cstr} makes its C strings.
 *
 * Hold a reference with {@link acquireLibc} while using them (one per
 * filesystem, released in its `destroy`), so that libc is unloaded again
 * when the last user is done.
 *
 * @example
 * ```ts
 * import { acquireLibc, close, fstat, O, open, pread, releaseLibc, stat } from "./posix.ts";
 * acquireLibc();
 * try {
 *   const st = stat("/");
 *   console.log(st.ino, st.mtimeNs);
 *   const fd = open("/proc/self/status", O.O_RDONLY);
 *   try {
 *     console.log(pread(fd, 64, 0).length, fstat(fd).mode.toString(8));
 *   } finally {
 *     close(fd);
 *   }
 * } finally {
 *   releaseLibc();
 * }
 * ```
 *
 * @module
 */

export {
  acquireLibc,
  check,
  cstr,
  EMPTY,
  lastError,
  type LoadedSymbols,
  type Offset,
  offThread,
  type PathLike,
  POSIX_SYMBOLS,
  type PosixLibc,
  releaseLibc,
  sym,
} from "./posix/libc.ts";
export { ACCESS, AT, MAX_HANDLE_SZ, NO_ID, O, RLIMIT_NOFILE, S, UTIME } from "./posix/constants.ts";
export {
  RENAME_EXCHANGE,
  RENAME_NOREPLACE,
  RENAME_WHITEOUT,
  SEEK_CUR,
  SEEK_DATA,
  SEEK_END,
  SEEK_HOLE,
  SEEK_SET,
  XATTR_CREATE,
  XATTR_REPLACE,
} from "./core/constants.ts";
export {
  fstat,
  fstatat,
  fstatvfs,
  isMemoryBacked,
  lstat,
  type PathOptions,
  type Stat,
  stat,
  type Statvfs,
  statvfs,
  type TimeNs,
  timespecs,
} from "./posix/stat.ts";
export {
  close,
  fdatasync,
  fdatasyncAsync,
  fsync,
  fsyncAsync,
  ftruncate,
  lseek,
  open,
  pread,
  preadAsync,
  pwrite,
  pwriteAsync,
  read,
  truncate,
  write,
} from "./posix/files.ts";
export { chmod, chown, fchmod, fchown, futimens, lchown, utime, utimensat } from "./posix/attrs.ts";
export {
  access,
  link,
  listdir,
  mkdir,
  mknod,
  readlink,
  rename,
  rmdir,
  symlink,
  unlink,
} from "./posix/namespace.ts";
export {
  fgetxattr,
  flistxattr,
  fremovexattr,
  fsetxattr,
  getxattr,
  lgetxattr,
  listxattr,
  llistxattr,
  lremovexattr,
  lsetxattr,
  removexattr,
  setxattr,
} from "./posix/xattr.ts";
export { parseDirents } from "./posix/dirents.ts";
/** The error every call throws, the same class as the main entry's. */
export { FUSEError } from "./core/errors.ts";
export { fileHandle, nofileLimit, raiseNofileLimit, type ResourceLimit } from "./posix/limits.ts";

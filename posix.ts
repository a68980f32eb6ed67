/**
 * POSIX system calls for filesystems that forward to a backing filesystem
 * (overlays, mirrors, union and encrypted-name filesystems), bound through
 * Deno FFI: `examples/passthrough.ts` is built on them.
 *
 * Deno's own file APIs cannot express a faithful passthrough: `Deno.lstat`
 * rounds times to milliseconds and `ino` to a JS number, paths must be UTF-8
 * strings, and there is no `*at()` family, `O_PATH`, xattrs, mknod,
 * renameat2 flags, nanosecond utimensat, fchownat, statvfs or file handles.
 * Here every libc function is reachable through {@link sym} (with its C
 * prototype in {@link POSIX_SYMBOLS}), failures become `FUSEError`s carrying
 * errno ({@link check}, {@link lastError}), and the structs are decoded at
 * full precision ({@link fstatat}, {@link fstatvfs}, {@link parseDirents}).
 *
 * Hold a reference with {@link acquireLibc} while using them (one per
 * filesystem, released in its `destroy`), so that libc is unloaded again
 * when the last user is done.
 *
 * @example
 * ```ts
 * import { acquireLibc, AT, cstr, fstatat, releaseLibc } from "./posix.ts";
 * acquireLibc();
 * try {
 *   const st = fstatat(AT.FDCWD, cstr("/"), 0);
 *   console.log(st.ino, st.mtimeNs);
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
  offThread,
  POSIX_SYMBOLS,
  type PosixLibc,
  releaseLibc,
  sym,
} from "./posix/libc.ts";
export { AT, MAX_HANDLE_SZ, NO_ID, O, RLIMIT_NOFILE, S, UTIME } from "./posix/constants.ts";
export {
  fstatat,
  fstatvfs,
  isMemoryBacked,
  type Stat,
  type Statvfs,
  timespecs,
} from "./posix/stat.ts";
export { parseDirents } from "./posix/dirents.ts";
export { fileHandle, nofileLimit, raiseNofileLimit, type ResourceLimit } from "./posix/limits.ts";

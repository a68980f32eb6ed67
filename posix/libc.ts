/**
 * libc for the POSIX helpers: the symbol table with its C prototypes, the
 * loader, errno, C strings, and the checks of path, count and offset
 * arguments that the calls share.
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
import {
  acquireLibc as acquireFfiLibc,
  type LibC,
  releaseLibc as releaseFfiLibc,
} from "../ffi/libc.ts";
import { POSIX_SYMBOLS } from "../ffi/symbols.ts";

export { POSIX_SYMBOLS };

/** The loaded libc functions (every one denofuse binds; see {@link POSIX_SYMBOLS}). */
export type LoadedSymbols = LibC;

/**
 * The functions of {@link POSIX_SYMBOLS} as {@link sym} returns them:
 * `fstatat`, `mknodat` and `getdents64` always present (on glibc < 2.33
 * the first two are made from `__fxstatat` and `__xmknodat`).
 */
export type PosixLibc = Omit<LoadedSymbols, "fstatat" | "mknodat" | "getdents64"> & {
  fstatat: NonNullable<LoadedSymbols["fstatat"]>;
  mknodat: NonNullable<LoadedSymbols["mknodat"]>;
  getdents64: NonNullable<LoadedSymbols["getdents64"]>;
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
  if (!s.getdents64) throw new Error("libc.so.6 has no getdents64: glibc 2.30 or newer is needed");
  return { ...s, fstatat, mknodat } as PosixLibc;
}

let symbols: PosixLibc | undefined;
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
  const loaded = acquireFfiLibc();
  if (users === 0) {
    try {
      symbols = withFallbacks(loaded);
    } catch (error) {
      releaseFfiLibc();
      throw error;
    }
    // errno's address is per thread; every synchronous call below runs on
    // this (the JS) thread, so one view serves them all.
    errnoView = new Deno.UnsafePointerView(loaded.__errno_location()!);
  }
  users++;
  return symbols!;
}

/** Drops a reference taken by {@link acquireLibc}; the last one unloads libc. */
export function releaseLibc(): void {
  if (users === 0) return;
  if (--users === 0) {
    symbols = undefined;
    errnoView = undefined;
  }
  releaseFfiLibc();
}

/**
 * The loaded symbols, for code running while a reference is held.
 *
 * @returns the symbol table's functions
 * @throws {Error} if no reference is held
 */
export function sym(): PosixLibc {
  if (!symbols) throw new Error("libc is not loaded: call acquireLibc() first");
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
 * A path or name argument of the posix calls: bytes as they are (Linux
 * names need not be UTF-8), or a string, encoded as UTF-8. Bytes ending in
 * their only NUL ({@link cstr}'s output, {@link EMPTY}) are taken as an
 * already terminated C string. A `nameKey()` key is not a path: turn it
 * back with `nameBytes(key)` first.
 */
export type PathLike = Uint8Array | string;

/**
 * A NUL-terminated copy of a name or path, for the raw calls of {@link sym}.
 *
 * A `Uint8Array` is taken byte for byte; a string is encoded as UTF-8. So a
 * string made by `nameKey()` (one character per byte) must not be passed
 * here: its characters U+0080 to U+00FF would each become two bytes, and a
 * non-UTF-8 name would silently name another file. Pass the kernel's bytes,
 * or `nameBytes(key)`.
 *
 * @param value raw bytes, or a string encoded as UTF-8
 * @returns the bytes plus a trailing NUL
 * @throws {FUSEError} EINVAL if the value contains a NUL byte
 * @example
 * ```ts
 * import { nameBytes, nameKey } from "../mod.ts";
 * import { cstr } from "../posix.ts";
 * const raw = new Uint8Array([0x61, 0xe9]); // "a" and Latin-1 "é": not UTF-8
 * console.log(cstr(raw)); // Uint8Array(3) [ 97, 233, 0 ]
 * console.log(cstr(nameBytes(nameKey(raw)))); // the same bytes
 * console.log(cstr(nameKey(raw))); // wrong: [ 97, 195, 169, 0 ], another name
 * ```
 */
export function cstr(value: PathLike): Uint8Array<ArrayBuffer> {
  const bytes = typeof value === "string" ? encoder.encode(value) : value;
  if (bytes.includes(0)) throw new FUSEError(errno.EINVAL);
  return nulTerminated(bytes);
}

/**
 * A path argument as a C string: like {@link cstr}, except that bytes
 * already ending in their only NUL ({@link cstr}'s output, {@link EMPTY})
 * are used as they are, so the calls take both.
 *
 * @param value a path, a name, or a C string
 * @returns a NUL-terminated array
 * @throws {FUSEError} EINVAL if the value contains a NUL byte before its end
 */
export function cpath(value: PathLike): Uint8Array<ArrayBuffer> {
  if (
    typeof value !== "string" && value.length > 0 && value[value.length - 1] === 0 &&
    value.indexOf(0) === value.length - 1 && value.buffer instanceof ArrayBuffer
  ) {
    return value as Uint8Array<ArrayBuffer>;
  }
  return cstr(value);
}

/**
 * Bytes as FFI takes them: the array itself when it is on an `ArrayBuffer`,
 * else (a `SharedArrayBuffer`) a copy.
 *
 * @param data any byte array
 * @returns an array on an `ArrayBuffer` with the same bytes
 */
export function ffiBytes(data: Uint8Array): Uint8Array<ArrayBuffer> {
  return data.buffer instanceof ArrayBuffer ? data as Uint8Array<ArrayBuffer> : data.slice();
}

/**
 * A libc return value that is a count or an offset (`ssize_t`, `off_t`),
 * as a number.
 *
 * @param rc the raw result
 * @returns `rc` as a number
 * @throws {FUSEError} with errno when `rc < 0`, EOVERFLOW above 2^53 - 1
 */
export function checkSize(rc: number | bigint): number {
  if (typeof rc === "bigint") {
    if (rc < 0n) throw lastError();
    if (rc > BigInt(Number.MAX_SAFE_INTEGER)) throw new FUSEError(errno.EOVERFLOW);
    return Number(rc);
  }
  if (rc < 0) throw lastError();
  return rc;
}

/**
 * An offset or a length (`off_t`): a safe integer, or a `bigint` for values
 * beyond 2^53 - 1 (files may be up to 2^63 - 1 bytes).
 */
export type Offset = number | bigint;

const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;

/**
 * An {@link Offset} as FFI takes an `i64`, checked.
 *
 * @param value the offset or length
 * @param what the argument's name, for the error
 * @returns the value as a `bigint` (what FFI's `i64` parameters are typed as)
 * @throws {RangeError} if it is not a safe integer nor a `bigint` in `off_t`'s range
 */
export function int64(value: Offset, what: string): bigint {
  if (
    typeof value === "bigint" ? value < I64_MIN || value > I64_MAX : !Number.isSafeInteger(value)
  ) {
    throw new RangeError(`${what} must be a safe integer or a 64-bit bigint, got ${value}`);
  }
  return BigInt(value);
}

/**
 * A byte count argument (`size_t`), checked.
 *
 * @param value the count
 * @param what the argument's name, for the error
 * @returns the value as a `bigint` (what FFI's `usize` parameters are typed as)
 * @throws {RangeError} if it is not a non-negative safe integer
 */
export function count(value: number, what: string): bigint {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${what} must be a non-negative safe integer, got ${value}`);
  }
  return BigInt(value);
}

/** The empty C string, for `AT_EMPTY_PATH` calls. */
export const EMPTY: Uint8Array<ArrayBuffer> = new Uint8Array(1);

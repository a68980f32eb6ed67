/**
 * Descriptors and their data, as Python's `os` has them: open, close,
 * read, write, pread, pwrite, lseek, fsync, fdatasync, ftruncate and
 * truncate, plus `*Async` variants of pread, pwrite, fsync and fdatasync
 * that wait on a worker thread instead of the JS thread.
 *
 * Byte counts are numbers; offsets and lengths are {@link Offset}s (a
 * number, or a `bigint` beyond 2^53 - 1); results are numbers. Every call
 * throws a `FUSEError` carrying errno when libc fails, so a handler that
 * rethrows it answers the kernel that errno.
 *
 * @module
 */

import { AT, O } from "./constants.ts";
import {
  check,
  checkSize,
  count,
  cpath,
  ffiBytes,
  int64,
  type Offset,
  offThread,
  type PathLike,
  sym,
} from "./libc.ts";

/**
 * open(2), relative to a directory descriptor: `openat(dirFd, path, flags |
 * O_CLOEXEC, mode)`. Like Python's `os.open`, the descriptor is not
 * inherited by child processes (`O_CLOEXEC` is always added).
 *
 * C: `int openat(int dirfd, const char *pathname, int flags, mode_t mode)`
 *
 * @param path the file (relative paths from `dirFd`, default the working directory)
 * @param flags `O.*` flags, e.g. `O.O_RDWR | O.O_CREAT`
 * @param mode the permission bits of a created file (before the umask)
 * @param options `dirFd`: the directory relative paths start from
 * @returns the new descriptor
 * @throws {FUSEError} with errno (ENOENT, EACCES, EEXIST, ...)
 * @example
 * ```ts
 * import { acquireLibc, close, O, open, releaseLibc, write } from "../posix.ts";
 * acquireLibc();
 * const dir = Deno.makeTempDirSync();
 * const fd = open(`${dir}/f`, O.O_WRONLY | O.O_CREAT, 0o644);
 * write(fd, new TextEncoder().encode("hi"));
 * close(fd);
 * Deno.removeSync(dir, { recursive: true });
 * releaseLibc();
 * ```
 */
export function open(
  path: PathLike,
  flags: number,
  mode = 0o777,
  options: { dirFd?: number } = {},
): number {
  return check(sym().openat(options.dirFd ?? AT.FDCWD, cpath(path), flags | O.O_CLOEXEC, mode));
}

/**
 * close(2).
 *
 * C: `int close(int fd)`
 *
 * @param fd an open descriptor
 * @throws {FUSEError} with errno (EBADF; EIO for a failed deferred write,
 *   after which the descriptor is closed all the same)
 */
export function close(fd: number): void {
  check(sym().close(fd));
}

/**
 * read(2) at the descriptor's position, which advances.
 *
 * C: `ssize_t read(int fd, void *buf, size_t count)`
 *
 * @param fd an open descriptor
 * @param size the most bytes to read
 * @returns the bytes read: fewer than `size` near the end, none at the end
 * @throws {FUSEError} with errno
 * @throws {RangeError} if `size` is not a non-negative safe integer
 * @example
 * ```ts
 * import { acquireLibc, close, O, open, read, releaseLibc } from "../posix.ts";
 * acquireLibc();
 * const fd = open("/proc/self/stat", O.O_RDONLY);
 * console.log(read(fd, 4096).length > 0);
 * close(fd);
 * releaseLibc();
 * ```
 */
export function read(fd: number, size: number): Uint8Array<ArrayBuffer> {
  const n64 = count(size, "size");
  const buf = new Uint8Array(size);
  const n = checkSize(sym().read(fd, buf, n64));
  return n === size ? buf : buf.subarray(0, n);
}

/**
 * write(2) at the descriptor's position (at the end with `O_APPEND`).
 *
 * C: `ssize_t write(int fd, const void *buf, size_t count)`
 *
 * @param fd an open descriptor
 * @param data the bytes to write
 * @returns how many were written (fewer than `data.length` is possible, as in C)
 * @throws {FUSEError} with errno (EBADF, ENOSPC, EFBIG, ...)
 */
export function write(fd: number, data: Uint8Array): number {
  return checkSize(sym().write(fd, ffiBytes(data), BigInt(data.length)));
}

/**
 * pread(2): reads at an offset, leaving the descriptor's position alone.
 *
 * C: `ssize_t pread(int fd, void *buf, size_t count, off_t offset)`
 *
 * @param fd an open descriptor
 * @param size the most bytes to read
 * @param offset where to start
 * @returns the bytes read: fewer than `size` near the end of the file, none beyond it
 * @throws {FUSEError} with errno (EBADF, EISDIR, EINVAL for a negative offset, ...)
 * @throws {RangeError} if `size` or `offset` is not an integer in range
 * @example
 * ```ts
 * import { acquireLibc, close, O, open, pread, pwrite, releaseLibc } from "../posix.ts";
 * acquireLibc();
 * const dir = Deno.makeTempDirSync();
 * const fd = open(`${dir}/f`, O.O_RDWR | O.O_CREAT, 0o644);
 * pwrite(fd, new TextEncoder().encode("hello"), 0);
 * console.log(new TextDecoder().decode(pread(fd, 3, 2))); // "llo"
 * close(fd);
 * Deno.removeSync(dir, { recursive: true });
 * releaseLibc();
 * ```
 */
export function pread(fd: number, size: number, offset: Offset): Uint8Array<ArrayBuffer> {
  const n64 = count(size, "size");
  const buf = new Uint8Array(size);
  const n = checkSize(sym().pread(fd, buf, n64, int64(offset, "offset")));
  return n === size ? buf : buf.subarray(0, n);
}

/**
 * pwrite(2): writes at an offset, leaving the descriptor's position alone
 * (Linux writes at the end instead when the file was opened `O_APPEND`).
 *
 * C: `ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset)`
 *
 * @param fd an open descriptor
 * @param data the bytes to write
 * @param offset where to write them
 * @returns how many were written
 * @throws {FUSEError} with errno
 * @throws {RangeError} if `offset` is not an integer in range
 */
export function pwrite(fd: number, data: Uint8Array, offset: Offset): number {
  return checkSize(sym().pwrite(fd, ffiBytes(data), BigInt(data.length), int64(offset, "offset")));
}

/**
 * lseek(2): moves the descriptor's position (or finds data and holes).
 *
 * C: `off_t lseek(int fd, off_t offset, int whence)`
 *
 * @param fd an open descriptor
 * @param offset the distance, from where `whence` says
 * @param whence `SEEK_SET`, `SEEK_CUR`, `SEEK_END`, `SEEK_DATA` or `SEEK_HOLE`
 * @returns the new position
 * @throws {FUSEError} with errno (ENXIO for SEEK_DATA/SEEK_HOLE beyond the
 *   end; EOVERFLOW for a position beyond 2^53 - 1, which a number cannot hold)
 */
export function lseek(fd: number, offset: Offset, whence: number): number {
  return checkSize(sym().lseek(fd, int64(offset, "offset"), whence));
}

/**
 * fsync(2): waits until the file's data and metadata are on the device.
 * This waits on the JS thread; {@link fsyncAsync} waits on a worker thread.
 *
 * C: `int fsync(int fd)`
 *
 * @param fd an open descriptor
 * @throws {FUSEError} with errno (EIO for a lost write)
 */
export function fsync(fd: number): void {
  check(sym().fsync(fd));
}

/**
 * fdatasync(2): like {@link fsync}, without metadata that reading the data
 * does not need (such as the modification time).
 *
 * C: `int fdatasync(int fd)`
 *
 * @param fd an open descriptor
 * @throws {FUSEError} with errno
 */
export function fdatasync(fd: number): void {
  check(sym().fdatasync(fd));
}

/**
 * ftruncate(2): sets the file's size, cutting or extending it with zeros.
 *
 * C: `int ftruncate(int fd, off_t length)`
 *
 * @param fd a descriptor open for writing
 * @param length the new size
 * @throws {FUSEError} with errno (EINVAL for a descriptor not open for writing)
 * @throws {RangeError} if `length` is not an integer in range
 */
export function ftruncate(fd: number, length: Offset): void {
  check(sym().ftruncate(fd, int64(length, "length")));
}

/**
 * truncate(2): sets a file's size by path (following symlinks).
 *
 * C: `int truncate(const char *path, off_t length)`
 *
 * @param path the file
 * @param length the new size
 * @throws {FUSEError} with errno (ENOENT, EISDIR, EACCES, ...)
 * @throws {RangeError} if `length` is not an integer in range
 */
export function truncate(path: PathLike, length: Offset): void {
  check(sym().truncate(cpath(path), int64(length, "length")));
}

/**
 * {@link pread} on a worker thread, for handlers whose backing store may
 * make them wait (a disk, NFS, another FUSE filesystem): the JS thread keeps
 * serving meanwhile. On tmpfs and page-cache hits the plain call is faster.
 *
 * @param fd an open descriptor
 * @param size the most bytes to read
 * @param offset where to start
 * @returns the bytes read
 * @throws {FUSEError} with errno (learnt by repeating the failed call on the
 *   JS thread, see `offThread`)
 * @example
 * ```ts
 * import { acquireLibc, close, O, open, preadAsync, releaseLibc } from "../posix.ts";
 * acquireLibc();
 * const fd = open("/proc/self/stat", O.O_RDONLY);
 * console.log((await preadAsync(fd, 100, 0)).length > 0);
 * close(fd);
 * releaseLibc();
 * ```
 */
export async function preadAsync(
  fd: number,
  size: number,
  offset: Offset,
): Promise<Uint8Array<ArrayBuffer>> {
  const n64 = count(size, "size");
  const off = int64(offset, "offset");
  const buf = new Uint8Array(size);
  const n = await offThread(
    () => sym().pread_nb(fd, buf, n64, off),
    () => sym().pread(fd, buf, n64, off),
  );
  return n === size ? buf : buf.subarray(0, n);
}

/**
 * {@link pwrite} on a worker thread (see {@link preadAsync}). `data` must
 * not change until the promise settles.
 *
 * @param fd an open descriptor
 * @param data the bytes to write
 * @param offset where to write them
 * @returns how many were written
 * @throws {FUSEError} with errno
 */
export function pwriteAsync(fd: number, data: Uint8Array, offset: Offset): Promise<number> {
  const bytes = ffiBytes(data);
  const off = int64(offset, "offset");
  const length = BigInt(bytes.length);
  return offThread(
    () => sym().pwrite_nb(fd, bytes, length, off),
    () => sym().pwrite(fd, bytes, length, off),
  );
}

/**
 * {@link fsync} on a worker thread. Linux reports a lost write once, so a
 * failure is answered EIO (the errno of a repeated call could be a success).
 *
 * @param fd an open descriptor
 * @throws {FUSEError} EIO, or the errno of a call that fails again (EBADF)
 */
export async function fsyncAsync(fd: number): Promise<void> {
  await offThread(() => sym().fsync_nb(fd), () => sym().fsync(fd), false);
}

/**
 * {@link fdatasync} on a worker thread (failures as for {@link fsyncAsync}).
 *
 * @param fd an open descriptor
 * @throws {FUSEError} EIO, or the errno of a call that fails again (EBADF)
 */
export async function fdatasyncAsync(fd: number): Promise<void> {
  await offThread(() => sym().fdatasync_nb(fd), () => sym().fdatasync(fd), false);
}

/**
 * Changing attributes, as Python's `os` has them: chmod, fchmod, chown,
 * fchown, lchown, utime, futimens and utimensat. Every call throws a
 * `FUSEError` carrying errno when libc fails.
 *
 * @module
 */

import { AT, NO_ID } from "./constants.ts";
import { check, cpath, type PathLike, sym } from "./libc.ts";
import { type PathOptions, type TimeNs, timespecs } from "./stat.ts";

const followFlag = (options: PathOptions) =>
  options.followSymlinks === false ? AT.SYMLINK_NOFOLLOW : 0;

/** A user or group id; -1 (or {@link NO_ID}) leaves it unchanged. */
const id = (value: number, what: string): number => {
  if (value === -1) return NO_ID;
  if (!Number.isInteger(value) || value < 0 || value > NO_ID) {
    throw new RangeError(`${what} must be an id from 0 to 2^32 - 1, or -1, got ${value}`);
  }
  return value;
};

/**
 * chmod(2) by path, like Python's `os.chmod`.
 *
 * C: `int fchmodat(int dirfd, const char *pathname, mode_t mode, int flags)`
 *
 * @param path the object
 * @param mode the permission bits (and set-id and sticky bits), e.g. `0o644`
 * @param options `dirFd`; `followSymlinks: false` changes a symlink itself,
 *   which Linux refuses (EOPNOTSUPP) for symlinks
 * @throws {FUSEError} with errno (ENOENT, EPERM, ...)
 * @example
 * ```ts
 * import { acquireLibc, chmod, releaseLibc, stat } from "../posix.ts";
 * acquireLibc();
 * const file = Deno.makeTempFileSync();
 * chmod(file, 0o600);
 * console.log((stat(file).mode & 0o777).toString(8)); // "600"
 * Deno.removeSync(file);
 * releaseLibc();
 * ```
 */
export function chmod(path: PathLike, mode: number, options: PathOptions = {}): void {
  check(sym().fchmodat(options.dirFd ?? AT.FDCWD, cpath(path), mode, followFlag(options)));
}

/**
 * fchmod(2).
 *
 * C: `int fchmod(int fd, mode_t mode)`
 *
 * @param fd an open descriptor (not `O_PATH`: EBADF)
 * @param mode the permission bits
 * @throws {FUSEError} with errno
 */
export function fchmod(fd: number, mode: number): void {
  check(sym().fchmod(fd, mode));
}

/**
 * chown(2) by path, like Python's `os.chown`.
 *
 * C: `int fchownat(int dirfd, const char *pathname, uid_t owner, gid_t group, int flags)`
 *
 * @param path the object
 * @param uid the new owner, or -1 to leave it
 * @param gid the new group, or -1 to leave it
 * @param options `dirFd`; `followSymlinks: false` changes a symlink itself (see {@link lchown})
 * @throws {FUSEError} with errno (EPERM without `CAP_CHOWN`, ...)
 * @throws {RangeError} if an id is out of range
 * @example
 * ```ts
 * import { acquireLibc, chown, releaseLibc } from "../posix.ts";
 * acquireLibc();
 * const file = Deno.makeTempFileSync();
 * chown(file, -1, -1); // changes nothing, needs no privilege
 * Deno.removeSync(file);
 * releaseLibc();
 * ```
 */
export function chown(path: PathLike, uid: number, gid: number, options: PathOptions = {}): void {
  check(
    sym().fchownat(
      options.dirFd ?? AT.FDCWD,
      cpath(path),
      id(uid, "uid"),
      id(gid, "gid"),
      followFlag(options),
    ),
  );
}

/**
 * fchown(2).
 *
 * C: `int fchown(int fd, uid_t owner, gid_t group)`
 *
 * @param fd an open descriptor
 * @param uid the new owner, or -1 to leave it
 * @param gid the new group, or -1 to leave it
 * @throws {FUSEError} with errno
 * @throws {RangeError} if an id is out of range
 */
export function fchown(fd: number, uid: number, gid: number): void {
  check(sym().fchown(fd, id(uid, "uid"), id(gid, "gid")));
}

/**
 * lchown(2): {@link chown} of a symlink itself.
 *
 * C: `int lchown(const char *pathname, uid_t owner, gid_t group)`
 *
 * @param path the object
 * @param uid the new owner, or -1 to leave it
 * @param gid the new group, or -1 to leave it
 * @throws {FUSEError} with errno
 * @throws {RangeError} if an id is out of range
 */
export function lchown(path: PathLike, uid: number, gid: number): void {
  chown(path, uid, gid, { followSymlinks: false });
}

/**
 * Sets access and modification times by path, like Python's
 * `os.utime(path, ns=(atime_ns, mtime_ns))`; without `ns`, both become the
 * current time (`os.utime(path)`). Times are nanoseconds as `bigint`, as
 * in `Stat` and `EntryAttributes`.
 *
 * C: `int utimensat(int dirfd, const char *pathname, const struct timespec times[2], int flags)`
 *
 * @param path the object
 * @param ns `[atimeNs, mtimeNs]`, each a `bigint`, `null` (leave it) or `"now"`
 * @param options `dirFd`; `followSymlinks: false` sets a symlink's own times
 * @throws {FUSEError} with errno (EPERM/EACCES: only the owner may set explicit times)
 * @example
 * ```ts
 * import { acquireLibc, releaseLibc, stat, utime } from "../posix.ts";
 * acquireLibc();
 * const file = Deno.makeTempFileSync();
 * utime(file, [null, 1_700_000_000_123_456_789n]);
 * console.log(stat(file).mtimeNs); // 1700000000123456789n
 * Deno.removeSync(file);
 * releaseLibc();
 * ```
 */
export function utime(
  path: PathLike,
  ns?: readonly [atimeNs: TimeNs, mtimeNs: TimeNs],
  options: PathOptions = {},
): void {
  check(
    sym().utimensat(
      options.dirFd ?? AT.FDCWD,
      cpath(path),
      ns ? timespecs(ns[0], ns[1]) : null,
      followFlag(options),
    ),
  );
}

/**
 * futimens(3): sets a descriptor's times.
 *
 * C: `int futimens(int fd, const struct timespec times[2])`
 *
 * @param fd an open descriptor (not `O_PATH`: use {@link utimensat} with
 *   `AT.EMPTY_PATH` for those, Linux 5.8+)
 * @param atimeNs the access time: a `bigint`, `null` (leave it) or `"now"` (the default)
 * @param mtimeNs the modification time, the same way
 * @throws {FUSEError} with errno
 */
export function futimens(fd: number, atimeNs: TimeNs = "now", mtimeNs: TimeNs = "now"): void {
  check(sym().futimens(fd, timespecs(atimeNs, mtimeNs)));
}

/**
 * utimensat(2) with its own arguments.
 *
 * C: `int utimensat(int dirfd, const char *pathname, const struct timespec times[2], int flags)`
 *
 * @param dirfd a directory fd, `AT.FDCWD`, or the object's own fd with `AT.EMPTY_PATH`
 * @param path the object (or `EMPTY`)
 * @param atimeNs the access time: a `bigint`, `null` (leave it) or `"now"`
 * @param mtimeNs the modification time, the same way
 * @param flags `AT.SYMLINK_NOFOLLOW`, `AT.EMPTY_PATH`
 * @throws {FUSEError} with errno (EINVAL for `AT.EMPTY_PATH` before Linux 5.8)
 */
export function utimensat(
  dirfd: number,
  path: PathLike,
  atimeNs: TimeNs,
  mtimeNs: TimeNs,
  flags = 0,
): void {
  check(sym().utimensat(dirfd, cpath(path), timespecs(atimeNs, mtimeNs), flags));
}

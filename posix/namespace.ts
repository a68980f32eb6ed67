/**
 * The namespace, as Python's `os` has it: mkdir, rmdir, unlink, rename
 * (with renameat2's flags), link, symlink, readlink, mknod, listdir and
 * access. Every call throws a `FUSEError` carrying errno when libc fails.
 *
 * Paths and names go in as bytes or UTF-8 strings ({@link PathLike}) and
 * come out as bytes (`readlink`, `listdir`): Linux names need not be UTF-8,
 * and bytes round-trip any of them. Decode with `TextDecoder` to display
 * one, or key a `Map` with `nameKey()`.
 *
 * @module
 */

import { AT, O } from "./constants.ts";
import { parseDirents } from "./dirents.ts";
import { check, checkSize, cpath, type PathLike, sym } from "./libc.ts";
import type { PathOptions } from "./stat.ts";

/**
 * mkdir(2), like Python's `os.mkdir`.
 *
 * C: `int mkdirat(int dirfd, const char *pathname, mode_t mode)`
 *
 * @param path the new directory
 * @param mode its permission bits (before the umask)
 * @param options `dirFd`: the directory a relative path starts from
 * @throws {FUSEError} with errno (EEXIST, ENOENT for a missing parent, ...)
 * @example
 * ```ts
 * import { acquireLibc, listdir, mkdir, releaseLibc, rmdir } from "../posix.ts";
 * acquireLibc();
 * const dir = Deno.makeTempDirSync();
 * mkdir(`${dir}/sub`, 0o755);
 * console.log(listdir(dir).map((n) => new TextDecoder().decode(n))); // [ "sub" ]
 * rmdir(`${dir}/sub`);
 * rmdir(dir);
 * releaseLibc();
 * ```
 */
export function mkdir(path: PathLike, mode = 0o777, options: { dirFd?: number } = {}): void {
  check(sym().mkdirat(options.dirFd ?? AT.FDCWD, cpath(path), mode));
}

/**
 * rmdir(2): removes an empty directory.
 *
 * C: `int unlinkat(int dirfd, const char *pathname, int flags)` with `AT_REMOVEDIR`
 *
 * @param path the directory
 * @param options `dirFd`: the directory a relative path starts from
 * @throws {FUSEError} with errno (ENOTEMPTY, ENOTDIR, ENOENT, ...)
 */
export function rmdir(path: PathLike, options: { dirFd?: number } = {}): void {
  check(sym().unlinkat(options.dirFd ?? AT.FDCWD, cpath(path), AT.REMOVEDIR));
}

/**
 * unlink(2): removes a name that is not a directory.
 *
 * C: `int unlinkat(int dirfd, const char *pathname, int flags)`
 *
 * @param path the name
 * @param options `dirFd`: the directory a relative path starts from
 * @throws {FUSEError} with errno (ENOENT, EISDIR, ...)
 */
export function unlink(path: PathLike, options: { dirFd?: number } = {}): void {
  check(sym().unlinkat(options.dirFd ?? AT.FDCWD, cpath(path), 0));
}

/**
 * rename(2), with renameat2's flags: `RENAME_NOREPLACE` (EEXIST instead of
 * replacing), `RENAME_EXCHANGE` (swap the two), `RENAME_WHITEOUT`. Python's
 * `os.rename`, and `os.replace`, are this call without flags.
 *
 * C: `int renameat2(int olddirfd, const char *oldpath, int newdirfd,
 * const char *newpath, unsigned int flags)`
 *
 * @param src the existing name
 * @param dst the new name
 * @param options `srcDirFd`, `dstDirFd`: where relative paths start;
 *   `flags`: the `RENAME_*` flags (default 0)
 * @throws {FUSEError} with errno (ENOENT, EEXIST, EXDEV, EINVAL for flags
 *   the filesystem does not support, ...)
 * @example
 * ```ts
 * import { RENAME_NOREPLACE } from "../mod.ts";
 * import { acquireLibc, releaseLibc, rename } from "../posix.ts";
 * acquireLibc();
 * const dir = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${dir}/a`, "a");
 * Deno.writeTextFileSync(`${dir}/b`, "b");
 * try {
 *   rename(`${dir}/a`, `${dir}/b`, { flags: RENAME_NOREPLACE });
 * } catch (e) {
 *   console.log(String(e)); // EEXIST: b is left as it is
 * }
 * Deno.removeSync(dir, { recursive: true });
 * releaseLibc();
 * ```
 */
export function rename(
  src: PathLike,
  dst: PathLike,
  options: { srcDirFd?: number; dstDirFd?: number; flags?: number } = {},
): void {
  check(
    sym().renameat2(
      options.srcDirFd ?? AT.FDCWD,
      cpath(src),
      options.dstDirFd ?? AT.FDCWD,
      cpath(dst),
      options.flags ?? 0,
    ),
  );
}

/**
 * link(2): a new name for an existing file. As in Python's `os.link`, a
 * symlink `src` is followed unless `followSymlinks` is false (link(2) in C
 * on Linux does not follow it: pass `followSymlinks: false` to match).
 *
 * C: `int linkat(int olddirfd, const char *oldpath, int newdirfd,
 * const char *newpath, int flags)`
 *
 * @param src the existing file
 * @param dst the new name
 * @param options `srcDirFd`, `dstDirFd`; `followSymlinks` (default true)
 * @throws {FUSEError} with errno (EEXIST, EXDEV, EPERM for a directory, ...)
 */
export function link(
  src: PathLike,
  dst: PathLike,
  options: { srcDirFd?: number; dstDirFd?: number; followSymlinks?: boolean } = {},
): void {
  check(
    sym().linkat(
      options.srcDirFd ?? AT.FDCWD,
      cpath(src),
      options.dstDirFd ?? AT.FDCWD,
      cpath(dst),
      options.followSymlinks === false ? 0 : AT.SYMLINK_FOLLOW,
    ),
  );
}

/**
 * symlink(2): a symlink at `linkpath` whose content is `target` (taken as
 * it is; it need not exist).
 *
 * C: `int symlinkat(const char *target, int newdirfd, const char *linkpath)`
 *
 * @param target the link's content
 * @param linkpath the new name
 * @param options `dirFd`: the directory a relative `linkpath` starts from
 * @throws {FUSEError} with errno (EEXIST, ENAMETOOLONG, ...)
 * @example
 * ```ts
 * import { acquireLibc, readlink, releaseLibc, symlink } from "../posix.ts";
 * acquireLibc();
 * const dir = Deno.makeTempDirSync();
 * symlink("no/such/target", `${dir}/l`);
 * console.log(new TextDecoder().decode(readlink(`${dir}/l`))); // "no/such/target"
 * Deno.removeSync(dir, { recursive: true });
 * releaseLibc();
 * ```
 */
export function symlink(
  target: PathLike,
  linkpath: PathLike,
  options: { dirFd?: number } = {},
): void {
  check(sym().symlinkat(cpath(target), options.dirFd ?? AT.FDCWD, cpath(linkpath)));
}

/**
 * readlink(2): a symlink's content, as bytes (whatever the argument's type,
 * unlike Python, which answers a `str` path with a `str`).
 *
 * C: `ssize_t readlinkat(int dirfd, const char *pathname, char *buf, size_t bufsiz)`
 *
 * @param path the symlink (or `EMPTY` with the symlink's own `O_PATH` fd as `dirFd`)
 * @param options `dirFd`: the directory a relative path starts from
 * @returns the content, exactly
 * @throws {FUSEError} with errno (EINVAL if it is not a symlink, ENOENT, ...)
 */
export function readlink(
  path: PathLike,
  options: { dirFd?: number } = {},
): Uint8Array<ArrayBuffer> {
  const p = cpath(path);
  const dirfd = options.dirFd ?? AT.FDCWD;
  // Linux's limit is PATH_MAX (4096) for most filesystems; grow if one has more.
  for (let size = 4096;; size *= 4) {
    const buf = new Uint8Array(size);
    const n = checkSize(sym().readlinkat(dirfd, p, buf, BigInt(size)));
    if (n < size) return buf.slice(0, n);
  }
}

/**
 * mknod(2): a regular file, FIFO, socket or device node, like Python's
 * `os.mknod`.
 *
 * C: `int mknodat(int dirfd, const char *pathname, mode_t mode, dev_t dev)`
 *
 * @param path the new name
 * @param mode the type (`S.IFREG`, `S.IFIFO`, `S.IFSOCK`, `S.IFCHR`,
 *   `S.IFBLK`) and permission bits, e.g. `S.IFIFO | 0o644`
 * @param device a device node's number (`makedev(major, minor)`), else 0
 * @param options `dirFd`: the directory a relative path starts from
 * @throws {FUSEError} with errno (EEXIST, EPERM for devices without `CAP_MKNOD`, ...)
 */
export function mknod(
  path: PathLike,
  mode = 0o600,
  device: number | bigint = 0,
  options: { dirFd?: number } = {},
): void {
  check(sym().mknodat(options.dirFd ?? AT.FDCWD, cpath(path), mode, BigInt(device)));
}

/** One batch of directory entries (the kernel returns what fits). */
const DIRENTS_BUFFER = 32 * 1024;

/**
 * The names in a directory, without `.` and `..`, in the directory's own
 * order, like Python's `os.listdir(bytes)`: each name is the exact bytes
 * (Linux names need not be UTF-8), whether `path` was bytes or a string.
 *
 * C: `int openat(int dirfd, const char *pathname, int flags)`, then
 * `ssize_t getdents64(int fd, void *dirp, size_t count)` until it returns 0
 *
 * @param path the directory (default: the working directory)
 * @param options `dirFd`: the directory a relative path starts from
 * @returns the names
 * @throws {FUSEError} with errno (ENOENT, ENOTDIR, EACCES, ...)
 * @example
 * ```ts
 * import { nameKey } from "../mod.ts";
 * import { acquireLibc, listdir, releaseLibc } from "../posix.ts";
 * acquireLibc();
 * const names = new Set(listdir("/").map(nameKey)); // keys compare by bytes
 * console.log(names.has(nameKey("tmp"))); // true
 * releaseLibc();
 * ```
 */
export function listdir(path: PathLike = ".", options: { dirFd?: number } = {}): Uint8Array[] {
  const c = sym();
  const fd = check(
    c.openat(
      options.dirFd ?? AT.FDCWD,
      cpath(path),
      O.O_RDONLY | O.O_DIRECTORY | O.O_CLOEXEC,
      0,
    ),
  );
  try {
    const buf = new Uint8Array(DIRENTS_BUFFER);
    const names: Uint8Array[] = [];
    for (;;) {
      const n = checkSize(c.getdents64(fd, buf, BigInt(buf.length)));
      if (n === 0) return names;
      for (const entry of parseDirents(buf, n)) {
        const name = entry.name;
        const dots = name[0] === 0x2e &&
          (name.length === 1 || (name.length === 2 && name[1] === 0x2e));
        if (!dots) names.push(name);
      }
    }
  } finally {
    c.close(fd);
  }
}

/**
 * access(2): whether the caller may use a path as `mode` says. Unlike
 * Python's `os.access`, which answers `False`, a refusal throws, so that a
 * handler's `access` can rethrow it: EACCES, ENOENT, EROFS, ...
 *
 * C: `int faccessat(int dirfd, const char *pathname, int mode, int flags)`
 *
 * @param path the object
 * @param mode `ACCESS.F_OK`, or any of `ACCESS.R_OK | ACCESS.W_OK | ACCESS.X_OK`
 * @param options `dirFd`; `effectiveIds` checks with the effective rather
 *   than the real ids (`AT_EACCESS`); `followSymlinks` (default true)
 * @throws {FUSEError} with errno when access is refused
 * @example
 * ```ts
 * import { access, ACCESS, acquireLibc, releaseLibc } from "../posix.ts";
 * acquireLibc();
 * access("/", ACCESS.R_OK | ACCESS.X_OK); // returns: allowed
 * try {
 *   access("/no/such/path", ACCESS.F_OK);
 * } catch (e) {
 *   console.log(String(e)); // ENOENT
 * }
 * releaseLibc();
 * ```
 */
export function access(
  path: PathLike,
  mode: number,
  options: PathOptions & { effectiveIds?: boolean } = {},
): void {
  const flags = (options.effectiveIds ? AT.EACCESS : 0) |
    (options.followSymlinks === false ? AT.SYMLINK_NOFOLLOW : 0);
  check(sym().faccessat(options.dirFd ?? AT.FDCWD, cpath(path), mode, flags));
}

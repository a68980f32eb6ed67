/**
 * Extended attributes by path (following a final symlink), by path of the
 * symlink itself (`l*`) and by descriptor (`f*`): getxattr, setxattr,
 * listxattr and removexattr, as Python's `os` has them (there with
 * `follow_symlinks` or an fd as the path). Values and listed names are
 * bytes; names go in as bytes or UTF-8 strings. Sizes are found by the
 * calls themselves (with a retry when a value grows meanwhile), so ERANGE
 * never reaches the caller. Every call throws a `FUSEError` carrying errno
 * when libc fails: ENODATA for a missing attribute, ENOTSUP where the
 * filesystem or namespace has none.
 *
 * @module
 */

import { errno } from "../core/errno.ts";
import { check, checkSize, cpath, ffiBytes, lastError, type PathLike, sym } from "./libc.ts";

/** First guess at a value's or a list's size; most fit, saving the probing call. */
const FIRST_TRY = 1024;

/** Runs a sized call (value or list): a first guess, then the size the call reports. */
function sized(call: (buf: Uint8Array<ArrayBuffer>, size: bigint) => number | bigint): Uint8Array {
  let size = FIRST_TRY;
  for (;;) {
    const buf = new Uint8Array(size);
    const rc = Number(call(buf, BigInt(size)));
    if (rc >= 0) return buf.slice(0, rc);
    const error = lastError();
    if (error.errno !== errno.ERANGE) throw error;
    // Size 0 asks for the current size; it may have changed again by the next call.
    size = Math.max(checkSize(call(new Uint8Array(0), 0n)), 1);
  }
}

/** Splits listxattr's NUL-separated names. */
function splitNames(list: Uint8Array): Uint8Array[] {
  const names: Uint8Array[] = [];
  for (let at = 0; at < list.length;) {
    let end = list.indexOf(0, at);
    if (end < 0) end = list.length;
    if (end > at) names.push(list.slice(at, end));
    at = end + 1;
  }
  return names;
}

/**
 * getxattr(2): an attribute's value.
 *
 * C: `ssize_t getxattr(const char *path, const char *name, void *value, size_t size)`
 *
 * @param path the object (a final symlink is followed)
 * @param name the attribute, e.g. `"user.comment"`
 * @returns the value
 * @throws {FUSEError} with errno (ENODATA if it has no such attribute, ENOTSUP, ...)
 * @example
 * ```ts
 * import { acquireLibc, getxattr, releaseLibc, setxattr } from "../posix.ts";
 * acquireLibc();
 * const dir = Deno.makeTempDirSync({ dir: "/var/tmp" }); // tmpfs takes user.* only on 6.6+
 * setxattr(dir, "user.note", new TextEncoder().encode("hi"));
 * console.log(new TextDecoder().decode(getxattr(dir, "user.note"))); // "hi"
 * Deno.removeSync(dir);
 * releaseLibc();
 * ```
 */
export function getxattr(path: PathLike, name: PathLike): Uint8Array {
  const p = cpath(path), n = cpath(name);
  return sized((buf, size) => sym().getxattr(p, n, buf, size));
}

/**
 * lgetxattr(2): {@link getxattr} of a symlink itself.
 *
 * C: `ssize_t lgetxattr(const char *path, const char *name, void *value, size_t size)`
 *
 * @param path the object (a final symlink is not followed)
 * @param name the attribute
 * @returns the value
 * @throws {FUSEError} with errno
 */
export function lgetxattr(path: PathLike, name: PathLike): Uint8Array {
  const p = cpath(path), n = cpath(name);
  return sized((buf, size) => sym().lgetxattr(p, n, buf, size));
}

/**
 * fgetxattr(2): {@link getxattr} through a descriptor.
 *
 * C: `ssize_t fgetxattr(int fd, const char *name, void *value, size_t size)`
 *
 * @param fd an open descriptor (not `O_PATH`: EBADF)
 * @param name the attribute
 * @returns the value
 * @throws {FUSEError} with errno
 */
export function fgetxattr(fd: number, name: PathLike): Uint8Array {
  const n = cpath(name);
  return sized((buf, size) => sym().fgetxattr(fd, n, buf, size));
}

/**
 * setxattr(2): sets an attribute.
 *
 * C: `int setxattr(const char *path, const char *name, const void *value, size_t size, int flags)`
 *
 * @param path the object (a final symlink is followed)
 * @param name the attribute
 * @param value its value
 * @param flags 0, `XATTR_CREATE` (EEXIST if it exists) or `XATTR_REPLACE` (ENODATA if not)
 * @throws {FUSEError} with errno (ENOTSUP, E2BIG, ENOSPC, EPERM, ...)
 */
export function setxattr(path: PathLike, name: PathLike, value: Uint8Array, flags = 0): void {
  check(sym().setxattr(cpath(path), cpath(name), ffiBytes(value), BigInt(value.length), flags));
}

/**
 * lsetxattr(2): {@link setxattr} on a symlink itself (Linux allows only
 * `trusted.*` and `security.*` there: EPERM for `user.*`).
 *
 * C: `int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)`
 *
 * @param path the object (a final symlink is not followed)
 * @param name the attribute
 * @param value its value
 * @param flags 0, `XATTR_CREATE` or `XATTR_REPLACE`
 * @throws {FUSEError} with errno
 */
export function lsetxattr(path: PathLike, name: PathLike, value: Uint8Array, flags = 0): void {
  check(sym().lsetxattr(cpath(path), cpath(name), ffiBytes(value), BigInt(value.length), flags));
}

/**
 * fsetxattr(2): {@link setxattr} through a descriptor.
 *
 * C: `int fsetxattr(int fd, const char *name, const void *value, size_t size, int flags)`
 *
 * @param fd an open descriptor
 * @param name the attribute
 * @param value its value
 * @param flags 0, `XATTR_CREATE` or `XATTR_REPLACE`
 * @throws {FUSEError} with errno
 */
export function fsetxattr(fd: number, name: PathLike, value: Uint8Array, flags = 0): void {
  check(sym().fsetxattr(fd, cpath(name), ffiBytes(value), BigInt(value.length), flags));
}

/**
 * listxattr(2): the names of an object's attributes.
 *
 * C: `ssize_t listxattr(const char *path, char *list, size_t size)`
 *
 * @param path the object (a final symlink is followed)
 * @returns the names, as bytes (those the caller may not read, such as
 *   `trusted.*` for non-root, are left out by the kernel)
 * @throws {FUSEError} with errno
 */
export function listxattr(path: PathLike): Uint8Array[] {
  const p = cpath(path);
  return splitNames(sized((buf, size) => sym().listxattr(p, buf, size)));
}

/**
 * llistxattr(2): {@link listxattr} of a symlink itself.
 *
 * C: `ssize_t llistxattr(const char *path, char *list, size_t size)`
 *
 * @param path the object (a final symlink is not followed)
 * @returns the names
 * @throws {FUSEError} with errno
 */
export function llistxattr(path: PathLike): Uint8Array[] {
  const p = cpath(path);
  return splitNames(sized((buf, size) => sym().llistxattr(p, buf, size)));
}

/**
 * flistxattr(2): {@link listxattr} through a descriptor.
 *
 * C: `ssize_t flistxattr(int fd, char *list, size_t size)`
 *
 * @param fd an open descriptor
 * @returns the names
 * @throws {FUSEError} with errno
 */
export function flistxattr(fd: number): Uint8Array[] {
  return splitNames(sized((buf, size) => sym().flistxattr(fd, buf, size)));
}

/**
 * removexattr(2).
 *
 * C: `int removexattr(const char *path, const char *name)`
 *
 * @param path the object (a final symlink is followed)
 * @param name the attribute
 * @throws {FUSEError} with errno (ENODATA if there is no such attribute)
 */
export function removexattr(path: PathLike, name: PathLike): void {
  check(sym().removexattr(cpath(path), cpath(name)));
}

/**
 * lremovexattr(2): {@link removexattr} on a symlink itself.
 *
 * C: `int lremovexattr(const char *path, const char *name)`
 *
 * @param path the object (a final symlink is not followed)
 * @param name the attribute
 * @throws {FUSEError} with errno
 */
export function lremovexattr(path: PathLike, name: PathLike): void {
  check(sym().lremovexattr(cpath(path), cpath(name)));
}

/**
 * fremovexattr(2): {@link removexattr} through a descriptor.
 *
 * C: `int fremovexattr(int fd, const char *name)`
 *
 * @param fd an open descriptor
 * @param name the attribute
 * @throws {FUSEError} with errno
 */
export function fremovexattr(fd: number, name: PathLike): void {
  check(sym().fremovexattr(fd, cpath(name)));
}

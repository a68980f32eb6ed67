/**
 * Descriptors: the `RLIMIT_NOFILE` limits, and file handles
 * (name_to_handle_at(2)) that reopen an object without keeping a
 * descriptor open.
 *
 * @module
 */

import { AT, MAX_HANDLE_SZ, RLIMIT_NOFILE } from "./constants.ts";
import { check, EMPTY, sym } from "./libc.ts";

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

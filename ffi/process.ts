/**
 * Process credentials through libc, so that filesystems can report their
 * owner without Deno's `--allow-sys` permission (they already need
 * `--allow-ffi`).
 *
 * @module
 */

import type { LoadedLibraries } from "./library.ts";
import { acquireLibc, releaseLibc } from "./libc.ts";
import { nulTerminated } from "./codec.ts";

/**
 * The real user and group id of this process (getuid(2), getgid(2)).
 *
 * @returns `{ uid, gid }`
 * @throws {FuseLoadError} without FFI permission
 * @example
 * ```ts ignore
 * import { processIds } from "../mod.ts";
 * const { uid, gid } = processIds();
 * ```
 */
export function processIds(): { uid: number; gid: number } {
  // libc alone: no need to load libfuse for two ids.
  const libc = acquireLibc();
  try {
    return { uid: libc.getuid(), gid: libc.getgid() };
  } finally {
    releaseLibc();
  }
}

/**
 * Whether this process may read and write a path (access(2) with R_OK|W_OK),
 * for checking /dev/fuse before mounting.
 *
 * @param libs the loaded libraries
 * @param path the path
 * @returns 0, or the errno access(2) failed with
 */
export function accessErrno(libs: LoadedLibraries, path: string): number {
  const R_OK = 4, W_OK = 2;
  if (libs.libc.access(nulTerminated(path), R_OK | W_OK) === 0) return 0;
  return new Deno.UnsafePointerView(libs.libc.__errno_location()!).getInt32(0);
}

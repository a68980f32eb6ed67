/**
 * Process credentials through libc, so that filesystems can report their
 * owner without Deno's `--allow-sys` permission (they already need
 * `--allow-ffi`).
 *
 * @module
 */

import { acquireLibraries, releaseLibraries } from "./library.ts";

/**
 * The real user and group id of this process (getuid(2), getgid(2)).
 *
 * @returns `{ uid, gid }`
 * @throws {FuseLoadError} if libfuse3 (loaded together with libc) is missing
 * @example
 * ```ts ignore
 * import { processIds } from "../mod.ts";
 * const { uid, gid } = processIds();
 * ```
 */
export function processIds(): { uid: number; gid: number } {
  const { libc } = acquireLibraries();
  try {
    return { uid: libc.getuid(), gid: libc.getgid() };
  } finally {
    releaseLibraries();
  }
}

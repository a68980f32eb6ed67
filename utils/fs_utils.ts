/**
 * pyfuse3's utility functions: `listdir`, `syncfs`, `getSupGroups`, and the
 * path-level `setxattr` / `getxattr`, with pyfuse3's argument order. Like
 * pyfuse3's (which raise `OSError`), every one of them throws
 * {@link ErrnoError} carrying the errno. All are safe to call on a
 * filesystem served by this very process: none blocks the JS thread.
 *
 * @module
 */

import { blockingSyscall } from "../ffi/blocking_syscall.ts";
import { nulTerminated } from "../ffi/codec.ts";
import { ErrnoError } from "../core/errors.ts";
import { errno } from "../core/errno.ts";

const encoder = new TextEncoder();

/**
 * The names in a directory, like pyfuse3's `listdir` (and `os.listdir`):
 * without "." and "..", in the order the filesystem returns them.
 *
 * @param path the directory
 * @returns the entry names
 * @throws {ErrnoError} e.g. ENOENT, ENOTDIR, EACCES
 * @example
 * ```ts
 * import { listdir } from "./fs_utils.ts";
 * const names = await listdir("/");
 * console.log(names.includes("tmp"));
 * ```
 */
export async function listdir(path: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(path)) names.push(entry.name);
  } catch (error) {
    throw asErrnoError(error, `listdir(${path})`);
  }
  return names;
}

/**
 * A Deno error as an ErrnoError, by its errno name (EIO when it has none).
 * A missing Deno permission stays as it is: no errno describes it.
 */
function asErrnoError(error: unknown, what: string): Error {
  if (error instanceof Deno.errors.NotCapable) return error;
  const code = (error as { code?: unknown })?.code;
  const value = typeof code === "string" ? errno[code as keyof typeof errno] : undefined;
  return new ErrnoError(value ?? errno.EIO, what, { cause: error });
}

/**
 * Writes out all dirty data of the filesystem containing `path`
 * (syncfs(2)), like pyfuse3's `syncfs`.
 *
 * @param path any file or directory on that filesystem
 * @returns resolves when done
 * @throws {ErrnoError} with the errno of open(2) or syncfs(2)
 */
export async function syncfs(path: string): Promise<void> {
  const r = await blockingSyscall({ op: "syncfs", path: nulTerminated(path) });
  if (r.result < 0) throw new ErrnoError(r.errno, `syncfs(${path})`);
}

/**
 * The supplementary group ids of a process, from /proc/PID/status, like
 * pyfuse3's `get_sup_groups` (use `ctx.pid` of a request).
 *
 * @param pid the process id
 * @returns its supplementary groups
 * @throws {ErrnoError} ESRCH if the process is gone
 * @example
 * ```ts
 * import { getSupGroups } from "./fs_utils.ts";
 * console.log(getSupGroups(Deno.pid));
 * ```
 */
export function getSupGroups(pid: number): Set<number> {
  let status: string;
  try {
    status = Deno.readTextFileSync(`/proc/${pid}/status`);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new ErrnoError(errno.ESRCH, `getSupGroups(${pid})`, { cause: error });
    }
    throw asErrnoError(error, `getSupGroups(${pid})`);
  }
  const line = status.split("\n").find((l) => l.startsWith("Groups:")) ?? "Groups:";
  return new Set(line.slice("Groups:".length).trim().split(/\s+/).filter(Boolean).map(Number));
}

/** Extended attribute namespaces, as in pyfuse3. */
export type XattrNamespace = "user" | "system" | "trusted" | "security";

/**
 * Sets an extended attribute of a path (following symlinks), like
 * pyfuse3's `setxattr(path, name, value, namespace)`.
 *
 * @param path the file
 * @param name the attribute name without namespace, e.g. `"comment"`
 * @param value the value (a string is stored as UTF-8)
 * @param namespace the namespace (default "user")
 * @param flags 0, or XATTR_CREATE (1) / XATTR_REPLACE (2)
 * @returns resolves when set
 * @throws {ErrnoError} e.g. ENOTSUP, EEXIST (XATTR_CREATE), ENODATA (XATTR_REPLACE)
 */
export async function setxattr(
  path: string,
  name: string,
  value: Uint8Array | string,
  namespace: XattrNamespace = "user",
  flags = 0,
): Promise<void> {
  const bytes = typeof value === "string" ? encoder.encode(value) : value;
  const r = await blockingSyscall({
    op: "setxattr",
    path: nulTerminated(path),
    name: nulTerminated(`${namespace}.${name}`),
    value: bytes,
    flags,
  });
  if (r.result < 0) throw new ErrnoError(r.errno, `setxattr(${path}, ${namespace}.${name})`);
}

/**
 * Reads an extended attribute of a path (following symlinks), like
 * pyfuse3's `getxattr(path, name, size_guess=128, namespace='user')`, in
 * that order; retries with the real size when `sizeGuess` was too small.
 *
 * @param path the file
 * @param name the attribute name without namespace
 * @param sizeGuess the first buffer size to try (default 128)
 * @param namespace the namespace (default "user")
 * @returns the value
 * @throws {ErrnoError} ENODATA if the attribute does not exist
 * @throws {TypeError} if a namespace is passed third (the order before 0.2)
 */
export async function getxattr(
  path: string,
  name: string,
  sizeGuess = 128,
  namespace: XattrNamespace = "user",
): Promise<Uint8Array> {
  if (typeof sizeGuess !== "number") {
    throw new TypeError(
      `getxattr(path, name, sizeGuess, namespace) takes the size guess third, as pyfuse3 ` +
        `does; got ${JSON.stringify(sizeGuess)}: pass getxattr(path, name, 128, namespace)`,
    );
  }
  const full = `${namespace}.${name}`;
  let size = sizeGuess;
  for (let attempt = 0; attempt < 5; attempt++) {
    const r = await blockingSyscall({
      op: "getxattr",
      path: nulTerminated(path),
      name: nulTerminated(full),
      size,
    });
    if (r.result >= 0) return r.data ?? new Uint8Array(0);
    if (r.errno !== errno.ERANGE) throw new ErrnoError(r.errno, `getxattr(${path}, ${full})`);
    // Probe the size, then try again: the value may change in between.
    const probe = await blockingSyscall({
      op: "getxattr",
      path: nulTerminated(path),
      name: nulTerminated(full),
      size: 0,
    });
    if (probe.result < 0) throw new ErrnoError(probe.errno, `getxattr(${path}, ${full})`);
    size = probe.result;
  }
  throw new ErrnoError(errno.ERANGE, `getxattr(${path}, ${full}) (value kept growing)`);
}

/**
 * Which inode-API handlers a path filesystem backs: a `PathFilesystem`
 * serves a request only when the path filesystem has a handler for it
 * (the inode API registers a handler when it is a function, so the others
 * are hidden and the kernel hears ENOSYS, then usually stops asking), and
 * the path handlers are bound to their object once, so that a class works
 * as well as an object literal.
 *
 * @module
 */

import { errno, FUSEError, type HandlerName } from "../mod.ts";
import type { PathOperations } from "./operations.ts";

const NOT_IMPLEMENTED = new FUSEError(errno.ENOSYS);

/**
 * A handler, or ENOSYS when there is none.
 *
 * @param handler a path handler, maybe missing
 * @returns the handler
 * @throws {FUSEError} ENOSYS when it is missing
 * @example
 * ```ts
 * import { need } from "./handlers.ts";
 * console.log(need(() => 1)()); // 1
 * ```
 */
export function need<F>(handler: F | undefined): F {
  if (handler === undefined) throw NOT_IMPLEMENTED;
  return handler;
}

/** Inode API handlers served only when the path filesystem has one of these. */
const REQUIRES: [HandlerName, (keyof PathOperations)[]][] = [
  ["lookup", ["getattr"]],
  ["forget", ["getattr"]],
  ["getattr", ["getattr"]],
  ["setattr", ["truncate", "chmod", "chown", "utimens"]],
  ["readlink", ["readlink"]],
  ["mknod", ["mknod"]],
  ["mkdir", ["mkdir"]],
  ["unlink", ["unlink"]],
  ["rmdir", ["rmdir"]],
  ["symlink", ["symlink"]],
  ["rename", ["rename"]],
  ["link", ["link"]],
  ["open", ["open", "read", "write"]],
  ["release", ["open", "read", "write", "create"]],
  ["read", ["read"]],
  ["write", ["write"]],
  ["flush", ["flush"]],
  ["fsync", ["fsync"]],
  ["opendir", ["readdir"]],
  ["readdir", ["readdir"]],
  ["releasedir", ["readdir"]],
  ["fsyncdir", ["fsyncdir"]],
  ["statfs", ["statfs"]],
  ["setxattr", ["setxattr"]],
  ["getxattr", ["getxattr"]],
  ["listxattr", ["listxattr"]],
  ["removexattr", ["removexattr"]],
  ["access", ["access"]],
  ["create", ["create"]],
  ["getlk", ["getlk"]],
  ["setlk", ["setlk"]],
  ["flock", ["flock"]],
  ["fallocate", ["fallocate"]],
  ["lseek", ["lseek"]],
  ["copyFileRange", ["copyFileRange"]],
];

/** The handlers of {@link PathOperations}, bound to their object once (so classes work). */
const PATH_HANDLERS: (keyof PathOperations)[] = [
  "init",
  "destroy",
  ...new Set(REQUIRES.flatMap(([, wants]) => wants)),
  "opendir",
  "releasedir",
  "release",
  "create",
];

/**
 * The path filesystem's handlers, each bound to it.
 *
 * @param ops the path filesystem (an object literal or a class instance)
 * @returns an object with the same handlers, bound
 * @example
 * ```ts
 * import { bindHandlers } from "./handlers.ts";
 * class Fs { n = 1; statfs() { return { namemax: this.n }; } }
 * console.log(bindHandlers(new Fs()).statfs!("/", {} as never)); // { namemax: 1 }
 * ```
 */
export function bindHandlers(ops: PathOperations): PathOperations {
  const bound: Record<string, unknown> = {};
  for (const name of new Set(PATH_HANDLERS)) {
    const f = ops[name];
    if (typeof f === "function") bound[name] = f.bind(ops);
  }
  return bound as PathOperations;
}

/** Handlers of the inode API the path layer never serves (no path counterpart). */
const NEVER: HandlerName[] = ["tmpfile", "ioctl", "poll", "bmap"];

/**
 * Hides, on `target`, the inode-API handlers `ops` cannot back (and those
 * with no path counterpart: tmpfile, ioctl, poll, bmap).
 *
 * @param target the inode-API filesystem
 * @param ops the path filesystem
 */
export function hideUnbacked(target: object, ops: PathOperations): void {
  const hide = (name: HandlerName) =>
    Object.defineProperty(target, name, { value: undefined, enumerable: false });
  for (const [name, wants] of REQUIRES) {
    if (!wants.some((w) => typeof ops[w] === "function")) hide(name);
  }
  for (const name of NEVER) hide(name);
}

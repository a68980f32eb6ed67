/**
 * denofuse's path-based API (`@denofuse/fuse/paths`): write a filesystem
 * as handlers keyed by path, in the shape of Node's fuse-native and
 * fuse-bindings (`getattr(path)`, `readdir(path)`, `open(path, flags)`,
 * `read(path, fh, length, position)`), returning values or promises
 * instead of calling callbacks.
 *
 * It is a layer above the inode API: {@link pathOperations} turns a
 * {@link PathOperations} into the `Operations` that `mount`, `init`/`main`,
 * `testMount` and `mountInWorker` serve, and keeps what a path filesystem
 * should not have to: inode numbers per path (or the handler's, with
 * `useIno`), the kernel's lookup counts and forgets, renames of whole
 * subtrees (open files and working directories inside them included), hard
 * links, open files whose name was unlinked (still reachable by handle, no
 * `.fuse_hidden` files), "." and "..", readdir offsets that stay stable while
 * a directory changes, READDIRPLUS attributes, and requests that race each
 * other's renames.
 *
 * Paths are strings when every component is UTF-8, else `Uint8Array`s of
 * their bytes (see {@link Path}).
 *
 * @example
 * ```ts ignore
 * // fuse-native's README example, ported.
 * import { errno, FUSEError, mountPaths, type PathOperations } from "jsr:@denofuse/fuse/paths";
 *
 * const ops: PathOperations = {
 *   readdir(path) {
 *     if (path === "/") return ["test"];
 *     throw new FUSEError(errno.ENOENT);
 *   },
 *   getattr(path) {
 *     if (path === "/") return { mtime: new Date(), atime: new Date(), ctime: new Date(), nlink: 1, size: 100, mode: 0o40755, uid: 0, gid: 0 };
 *     if (path === "/test") return { mtime: new Date(), atime: new Date(), ctime: new Date(), nlink: 1, size: 12, mode: 0o100644, uid: 0, gid: 0 };
 *     throw new FUSEError(errno.ENOENT);
 *   },
 *   open: () => 42,
 *   read(path, fh, length, position) {
 *     const str = new TextEncoder().encode("hello world\n").subarray(position, position + length);
 *     return str;
 *   },
 * };
 * await using fs = mountPaths(ops, "./mnt");
 * await fs.closed; // until Ctrl-C or fusermount3 -u ./mnt
 * ```
 *
 * @module
 */

import { mount, type MountHandle, type MountOptions } from "./mod.ts";
import { pathOperations } from "./paths/adapter.ts";
import type { PathOperations } from "./paths/operations.ts";

export { PathFilesystem, pathOperations } from "./paths/adapter.ts";
export type { DirEntry, OpenResult, PathOperations } from "./paths/operations.ts";
export {
  componentKey,
  decodeName,
  joinPath,
  type Path,
  pathComponents,
  type PathName,
  showPath,
  toBytes,
} from "./paths/path.ts";
export {
  type PathStat,
  type StatfsLike,
  type StatLike,
  type TimeLike,
  timeNs,
  toEntryAttributes,
  toStatvfs,
} from "./paths/stat.ts";
export { NodeTable, PathNode } from "./paths/node_table.ts";
export type { Link } from "./paths/node_table.ts";
export { HandleTable, type Slot } from "./paths/handles.ts";
export { UNKNOWN_INO } from "./paths/listing.ts";

// The lifecycle and the value types, so that a path filesystem needs one import.
export {
  type BytesLike,
  close,
  defaultOptions,
  EntryAttributes,
  errno,
  F_RDLCK,
  F_UNLCK,
  F_WRLCK,
  type FileHandle,
  FileInfo,
  FileLock,
  type FilesystemModule,
  FUSEError,
  type FuseMountOptions,
  type HandlerName,
  init,
  type Inode,
  type IoctlReply,
  LOCK_EX,
  LOCK_NB,
  LOCK_SH,
  LOCK_UN,
  main,
  type MaybePromise,
  mount,
  type MountHandle,
  mountInWorker,
  type MountOptions,
  type NegotiatedConn,
  type Notifications,
  type Operations,
  type OperationStats,
  PollHandle,
  processIds,
  ReaddirToken,
  RENAME_EXCHANGE,
  RENAME_NOREPLACE,
  type RequestContext,
  ROOT_INODE,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  S_IFSOCK,
  SetattrFields,
  StatvfsData,
  type StatxAttributes,
  terminate,
  type WorkerMountHandle,
  XATTR_CREATE,
  XATTR_REPLACE,
} from "./mod.ts";

/**
 * Mounts a path filesystem and starts serving: `mount(pathOperations(ops),
 * mountpoint, options)`.
 *
 * @param ops the path filesystem
 * @param mountpoint an existing directory that is not a mount point
 * @param options mount options (default `defaultOptions`), or `{ options, debug, ... }`
 * @returns the mount's handle; `await using` unmounts it at the end of the scope
 * @throws {FuseLoadError} if libfuse3 cannot be loaded
 * @throws {FuseMountError} if mounting fails
 * @example
 * ```ts ignore
 * import { mountPaths } from "./paths.ts";
 * await using fs = mountPaths({ getattr: () => ({ mode: 0o40755, nlink: 2 }) }, "/mnt/x");
 * ```
 */
export function mountPaths(
  ops: PathOperations,
  mountpoint: string,
  options?: Iterable<string> | MountOptions,
): MountHandle {
  return mount(pathOperations(ops), mountpoint, options);
}

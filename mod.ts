/**
 * denofuse: write Linux filesystems in TypeScript. Binds libfuse3's
 * low-level API through Deno FFI; the API mirrors Python's pyfuse3 with
 * TypeScript names (`init`/`main`/`terminate`/`close`, an `Operations`
 * interface of async handlers, `EntryAttributes`, `readdirReply`, ...), and
 * adds {@link mount} for several filesystems per process.
 *
 * Run with `--allow-ffi` (loading libfuse3) and `--allow-read` (mountpoint
 * checks).
 *
 * @example
 * ```ts ignore
 * import * as fuse from "jsr:@denofuse/fuse";
 *
 * const ops: fuse.Operations = {
 *   async getattr(inode) {
 *     if (inode !== fuse.ROOT_INODE) throw new fuse.FUSEError(fuse.errno.ENOENT);
 *     return new fuse.EntryAttributes({ stIno: inode, stMode: 0o40755, stNlink: 2 });
 *   },
 * };
 * fuse.init(ops, "/mnt/empty", fuse.defaultOptions);
 * try {
 *   await fuse.main();
 * } finally {
 *   fuse.close();
 * }
 * ```
 *
 * @module
 */

export {
  close,
  defaultOptions,
  incrementEpoch,
  init,
  invalidateEntry,
  invalidateEntryAsync,
  invalidateInode,
  main,
  mount,
  type MountHandle,
  type MountOptions,
  notifyDelete,
  notifyRetrieve,
  notifyStore,
  statistics,
  terminate,
} from "./ops/api.ts";
export { mountInWorker, type WorkerMountHandle } from "./ops/worker_mount.ts";
export type { FilesystemModule } from "./ops/worker_protocol.ts";
export type { OperationStats } from "./ops/stats.ts";
export { DEBUG_ENV, type FuseMountOptions } from "./ops/mount.ts";
export type { Notifications } from "./ops/notifications.ts";
export type { HandlerName, Operations } from "./ops/operations.ts";
export { readdirReply, ReaddirToken } from "./ops/readdir.ts";
export { notifyPoll, PollHandle } from "./ops/poll.ts";
export {
  type BytesLike,
  EntryAttributes,
  F_RDLCK,
  F_UNLCK,
  F_WRLCK,
  type FileHandle,
  FileInfo,
  FileLock,
  type Inode,
  type IoctlReply,
  LOCK_EX,
  LOCK_NB,
  LOCK_SH,
  LOCK_UN,
  type MaybePromise,
  type RequestContext,
  ROOT_INODE,
  SetattrFields,
  StatvfsData,
} from "./core/types.ts";
export { StatxAttributes, type StatxExtras } from "./core/statx.ts";
export { processIds } from "./ffi/process.ts";
export { FUSE_CAP, type NegotiatedConn } from "./ffi/conn.ts";
export {
  getSupGroups,
  getxattr,
  listdir,
  setxattr,
  syncfs,
  type XattrNamespace,
} from "./utils/fs_utils.ts";
export { errno, type ErrnoName, errnoName } from "./core/errno.ts";
export * from "./core/constants.ts";
export { nameBytes, nameKey } from "./core/names.ts";
export {
  ErrnoError,
  FUSEError,
  FuseLoadError,
  FuseMountError,
  FuseOperationalError,
  FuseStateError,
} from "./core/errors.ts";

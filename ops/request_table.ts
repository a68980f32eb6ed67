/**
 * The request table: one row per libfuse low-level request, in the order of
 * `struct fuse_lowlevel_ops`. A row says how each C argument after `req` is
 * decoded (`args`, in C order; the C prototypes and slots are in
 * ffi/lowlevel_ops.ts), which handler it calls and with what (`call`), and
 * how the handler's value is replied (`reply`). ops/dispatch.ts runs any
 * row the same way: decode, call, reply exactly once.
 *
 * Requests that are not request/reply pairs (init, destroy, forget,
 * retrieve_reply) are in ops/lifecycle.ts.
 *
 * @module
 */

import { EFBIG, UnsafeIntegerError } from "../ffi/codec.ts";
import { KILL_SUIDGID, type KillFlag } from "../ffi/layout.ts";
import type { RequestPointer } from "../ffi/reply.ts";
import type { LowLevelOpName } from "../ffi/lowlevel_ops.ts";
import type { Context } from "./context.ts";
import {
  BOOL,
  type Decoder,
  DIR_OFFSET,
  FH,
  FH_OR_NULL,
  FILE_INFO,
  FILE_OFFSET,
  FLOCK,
  INODE,
  INT,
  NAME,
  OFFSET,
  POINTER,
  SIZE,
  STAT,
  U64,
  UINT,
} from "./decoders.ts";
import type { DispatchHost } from "./host.ts";
import type { HandlerName, Operations } from "./operations.ts";
import { PollHandle } from "./poll.ts";
import { ReaddirToken } from "./readdir.ts";
import * as reply from "./replies.ts";
import { F_UNLCK, FileLock, LOCK_UN, type MaybePromise, SetattrFields } from "../core/types.ts";
import { FUSEError } from "../core/errors.ts";
import { errno } from "../core/errno.ts";

/**
 * What a row's `call` may use besides the handler's arguments. One object
 * per callback, updated for each request (an allocation per request showed
 * in profiles): read it in the synchronous part of `call` only.
 */
export interface RequestEnv {
  readonly req: RequestPointer;
  readonly host: DispatchHost;
}

/** One request: its arguments, its handler, its reply. */
export interface RequestRow<A extends Record<string, unknown>, R> {
  /** The handler it calls; also the key of its statistics. */
  readonly handler: HandlerName;
  /** Whether a filesystem gets this request (default: it implements `handler`). */
  readonly wanted?: (ops: Operations) => boolean;
  /** The C arguments after `req`, in C order, each with its decoder. */
  readonly args: { readonly [K in keyof A]: Decoder<A[K]> };
  /**
   * Where the kernel's request holds its set-id kill flag, which libfuse
   * does not pass on: the dispatcher reads it into `ctx.killSuidgid`.
   */
  readonly kill?: KillFlag;
  /** Calls the handler (throws or rejects to answer an error). */
  readonly call: (
    ops: Operations,
    a: NoInfer<A>,
    ctx: Context,
    env: RequestEnv,
  ) => MaybePromise<NoInfer<R>>;
  /** Sends the reply for the handler's value. */
  readonly reply: reply.Reply<R, NoInfer<A>>;
}

/** A row of any request, as the dispatcher sees it. */
// deno-lint-ignore no-explicit-any
export type AnyRequestRow = RequestRow<any, any>;

/** Types a row: infers the decoded arguments from `args` and the value from `call`. */
function row<A extends Record<string, unknown>, R>(r: RequestRow<A, R>): AnyRequestRow {
  return r;
}

/**
 * Whether the filesystem keeps POSIX record locks itself (then the kernel
 * forwards fcntl locks to it).
 *
 * @param ops the filesystem
 * @returns true when both getlk and setlk are implemented
 */
export function hasPosixLocks(ops: Operations): boolean {
  return typeof ops.getlk === "function" && typeof ops.setlk === "function";
}

const has = (ops: Operations, h: HandlerName) => typeof ops[h] === "function";

// fuse_set_attr_* bits of setattr's to_set.
const SET_ATTR = {
  MODE: 1 << 0,
  UID: 1 << 1,
  GID: 1 << 2,
  SIZE: 1 << 3,
  ATIME: 1 << 4,
  MTIME: 1 << 5,
  ATIME_NOW: 1 << 7,
  MTIME_NOW: 1 << 8,
  CTIME: 1 << 10,
} as const;

function setattrFields(toSet: number): SetattrFields {
  return new SetattrFields({
    updateMode: (toSet & SET_ATTR.MODE) !== 0,
    updateUid: (toSet & SET_ATTR.UID) !== 0,
    updateGid: (toSet & SET_ATTR.GID) !== 0,
    updateSize: (toSet & SET_ATTR.SIZE) !== 0,
    updateAtime: (toSet & (SET_ATTR.ATIME | SET_ATTR.ATIME_NOW)) !== 0,
    updateMtime: (toSet & (SET_ATTR.MTIME | SET_ATTR.MTIME_NOW)) !== 0,
    updateCtime: (toSet & SET_ATTR.CTIME) !== 0,
    updateAtimeNow: (toSet & SET_ATTR.ATIME_NOW) !== 0,
    updateMtimeNow: (toSet & SET_ATTR.MTIME_NOW) !== 0,
  });
}

/**
 * Calls the write handler with the data as a view of the receive buffer,
 * which stays reserved until the handler's promise settles (a copy only
 * when too many buffers are held already, see RequestMemory.keep).
 */
function write(
  ops: Operations,
  a: { buf: Deno.PointerValue; size: number; offset: number; fh: number },
  ctx: Context,
  { host }: RequestEnv,
): MaybePromise<number> {
  if (a.offset + a.size > Number.MAX_SAFE_INTEGER) {
    throw new UnsafeIntegerError("write end", EFBIG);
  }
  const { bytes: data, release } = host.request.keep(a.buf, a.size);
  let result: MaybePromise<number>;
  try {
    result = ops.write!(a.fh, a.offset, data, ctx);
  } catch (error) {
    release?.();
    throw error;
  }
  if (!(result instanceof Promise)) release?.();
  else if (release) result.finally(release).catch(() => {});
  return result;
}

/** readdir and readdirplus: the handler fills a token whose buffer is the reply. */
const readdir = (plus: boolean) =>
  row({
    handler: "readdir",
    wanted: plus
      ? (ops) => has(ops, "readdir")
      // Without a readdir slot libfuse leaves READDIRPLUS_AUTO off and the
      // kernel sends READDIRPLUS only.
      : (ops) => has(ops, "readdir") && ops.enableReaddirplusAuto === true,
    args: { inode: INODE, size: SIZE, offset: DIR_OFFSET, fh: FH },
    call: (ops, a, ctx): MaybePromise<ReaddirToken> => {
      const token = new ReaddirToken(a.size, plus);
      if (a.offset < 0) return token; // past any cookie issued: the end
      const done = ops.readdir!(a.fh, a.offset, token, ctx);
      return done instanceof Promise ? done.then(() => token) : token;
    },
    reply: reply.dirents,
  });

const ENTRY = { parent: INODE, name: NAME };
const FILE = { inode: INODE, fh: FH };
const OPEN = { inode: INODE, fi: FILE_INFO };

/** Every request of `struct fuse_lowlevel_ops` that has a handler, by libfuse name. */
export const REQUESTS: Partial<Record<LowLevelOpName, AnyRequestRow>> = {
  lookup: row({
    handler: "lookup",
    args: ENTRY,
    call: (ops, a, ctx) => ops.lookup!(a.parent, a.name, ctx),
    reply: reply.lookupEntry,
  }),
  getattr: row({
    handler: "getattr",
    args: { inode: INODE, fh: FH_OR_NULL },
    call: (ops, a, ctx) => ops.getattr!(a.inode, ctx, a.fh),
    reply: reply.attr,
  }),
  setattr: row({
    handler: "setattr",
    args: { inode: INODE, attr: STAT, toSet: INT, fh: FH_OR_NULL },
    kill: KILL_SUIDGID.setattr,
    call: (ops, a, ctx, env) => {
      const fields = setattrFields(a.toSet);
      if (fields.updateAtimeNow || fields.updateMtimeNow) {
        const now = env.host.replier.nowNs();
        if (fields.updateAtimeNow) a.attr.stAtimeNs = now;
        if (fields.updateMtimeNow) a.attr.stMtimeNs = now;
      }
      return ops.setattr!(a.inode, a.attr, fields, a.fh, ctx);
    },
    reply: reply.attr,
  }),
  readlink: row({
    handler: "readlink",
    args: { inode: INODE },
    call: (ops, a, ctx) => ops.readlink!(a.inode, ctx),
    reply: reply.readlink,
  }),
  mknod: row({
    handler: "mknod",
    args: { ...ENTRY, mode: UINT, rdev: U64("rdev") },
    call: (ops, a, ctx) => ops.mknod!(a.parent, a.name, a.mode, a.rdev, ctx),
    reply: reply.entry,
  }),
  mkdir: row({
    handler: "mkdir",
    args: { ...ENTRY, mode: UINT },
    call: (ops, a, ctx) => ops.mkdir!(a.parent, a.name, a.mode, ctx),
    reply: reply.entry,
  }),
  unlink: row({
    handler: "unlink",
    args: ENTRY,
    call: (ops, a, ctx) => ops.unlink!(a.parent, a.name, ctx),
    reply: reply.ok,
  }),
  rmdir: row({
    handler: "rmdir",
    args: ENTRY,
    call: (ops, a, ctx) => ops.rmdir!(a.parent, a.name, ctx),
    reply: reply.ok,
  }),
  symlink: row({
    handler: "symlink",
    args: { target: NAME, parent: INODE, name: NAME },
    call: (ops, a, ctx) => ops.symlink!(a.parent, a.name, a.target, ctx),
    reply: reply.entry,
  }),
  rename: row({
    handler: "rename",
    args: { parent: INODE, name: NAME, newParent: INODE, newName: NAME, flags: UINT },
    call: (ops, a, ctx) => ops.rename!(a.parent, a.name, a.newParent, a.newName, a.flags, ctx),
    reply: reply.ok,
  }),
  link: row({
    handler: "link",
    args: { inode: INODE, newParent: INODE, newName: NAME },
    call: (ops, a, ctx) => ops.link!(a.inode, a.newParent, a.newName, ctx),
    reply: reply.entry,
  }),
  open: row({
    handler: "open",
    args: OPEN,
    kill: KILL_SUIDGID.open,
    call: (ops, a, ctx) => ops.open!(a.inode, a.fi.flags, ctx),
    reply: reply.opened,
  }),
  read: row({
    handler: "read",
    args: { inode: INODE, size: SIZE, offset: OFFSET, fh: FH },
    call: (ops, a, ctx) => ops.read!(a.fh, a.offset, a.size, ctx),
    reply: reply.data,
  }),
  write: row({
    handler: "write",
    args: { inode: INODE, buf: POINTER, size: SIZE, offset: FILE_OFFSET, fh: FH },
    kill: KILL_SUIDGID.write,
    call: write,
    reply: reply.count,
  }),
  // The kernel leaves dropping a closing file's locks to the filesystem:
  // POSIX locks of the lock owner at FLUSH, flock locks at the last RELEASE.
  // Like libfuse's high-level API, do it here by calling setlk / flock.
  flush: row({
    handler: "flush",
    wanted: (ops) => has(ops, "flush") || hasPosixLocks(ops),
    args: OPEN,
    call: async (ops, a, ctx) => {
      if (hasPosixLocks(ops)) {
        const unlock = new FileLock({ type: F_UNLCK });
        await ops.setlk!(a.inode, a.fi.fh, a.fi.lockOwner, unlock, false, ctx);
      }
      await ops.flush?.(a.fi.fh, ctx);
    },
    reply: reply.ok,
  }),
  release: row({
    handler: "release",
    wanted: (ops) =>
      has(ops, "release") || has(ops, "flock") || ops.enableKernelPassthrough === true,
    args: OPEN,
    call: (ops, a, ctx, env) => {
      // Before the handler, which may fail: the open file is gone either way.
      env.host.passthrough?.release(env.req, a.inode, a.fi.fh);
      const flockRelease = (a.fi.bits & (1 << env.host.replier.bits.flock_release)) !== 0;
      if (!flockRelease || !has(ops, "flock")) return ops.release?.(a.fi.fh, ctx);
      return (async () => {
        await ops.flock!(a.inode, a.fi.fh, a.fi.lockOwner, LOCK_UN, ctx);
        await ops.release?.(a.fi.fh, ctx);
      })();
    },
    reply: reply.ok,
  }),
  fsync: row({
    handler: "fsync",
    args: { inode: INODE, datasync: BOOL, fh: FH },
    call: (ops, a, ctx) => ops.fsync!(a.fh, a.datasync, ctx),
    reply: reply.ok,
  }),
  opendir: row({
    handler: "opendir",
    args: OPEN,
    call: (ops, a, ctx) => ops.opendir!(a.inode, ctx),
    reply: reply.openedDir,
  }),
  readdir: readdir(false),
  releasedir: row({
    handler: "releasedir",
    args: FILE,
    call: (ops, a, ctx) => ops.releasedir!(a.fh, ctx),
    reply: reply.ok,
  }),
  fsyncdir: row({
    handler: "fsyncdir",
    args: { inode: INODE, datasync: BOOL, fh: FH },
    call: (ops, a, ctx) => ops.fsyncdir!(a.fh, a.datasync, ctx),
    reply: reply.ok,
  }),
  statfs: row({
    handler: "statfs",
    args: { inode: INODE },
    call: (ops, _a, ctx) => ops.statfs!(ctx),
    reply: reply.statfs,
  }),
  setxattr: row({
    handler: "setxattr",
    args: { inode: INODE, name: NAME, value: POINTER, size: SIZE, flags: INT },
    call: (ops, a, ctx, { host }) =>
      ops.setxattr!(a.inode, a.name, host.request.copy(a.value, a.size), ctx, a.flags),
    reply: reply.ok,
  }),
  getxattr: row({
    handler: "getxattr",
    args: { inode: INODE, name: NAME, size: SIZE },
    call: (ops, a, ctx) => ops.getxattr!(a.inode, a.name, ctx),
    reply: reply.xattrValue,
  }),
  listxattr: row({
    handler: "listxattr",
    args: { inode: INODE, size: SIZE },
    call: (ops, a, ctx) => ops.listxattr!(a.inode, ctx),
    reply: reply.xattrNames,
  }),
  removexattr: row({
    handler: "removexattr",
    args: { inode: INODE, name: NAME },
    call: (ops, a, ctx) => ops.removexattr!(a.inode, a.name, ctx),
    reply: reply.ok,
  }),
  access: row({
    handler: "access",
    args: { inode: INODE, mask: INT },
    call: (ops, a, ctx) => ops.access!(a.inode, a.mask, ctx),
    reply: reply.access,
  }),
  create: row({
    handler: "create",
    args: { ...ENTRY, mode: UINT, fi: FILE_INFO },
    kill: KILL_SUIDGID.create,
    call: (ops, a, ctx) => ops.create!(a.parent, a.name, a.mode, a.fi.flags, ctx),
    reply: reply.created,
  }),
  getlk: row({
    handler: "getlk",
    wanted: hasPosixLocks,
    args: { inode: INODE, fi: FILE_INFO, lock: FLOCK },
    call: (ops, a, ctx) => ops.getlk!(a.inode, a.fi.fh, a.fi.lockOwner, a.lock, ctx),
    reply: reply.lock,
  }),
  setlk: row({
    handler: "setlk",
    wanted: hasPosixLocks,
    args: { inode: INODE, fi: FILE_INFO, lock: FLOCK, sleep: BOOL },
    call: (ops, a, ctx) => ops.setlk!(a.inode, a.fi.fh, a.fi.lockOwner, a.lock, a.sleep, ctx),
    reply: reply.ok,
  }),
  bmap: row({
    handler: "bmap",
    args: { inode: INODE, blocksize: SIZE, index: U64("block index") },
    call: (ops, a, ctx) => ops.bmap!(a.inode, a.blocksize, a.index, ctx),
    reply: reply.block,
  }),
  ioctl: row({
    handler: "ioctl",
    args: {
      inode: INODE,
      cmd: UINT,
      arg: POINTER,
      fh: FH,
      flags: UINT,
      inBuf: POINTER,
      inSize: SIZE,
      outSize: SIZE,
    },
    call: (ops, a, ctx, { host }) => {
      // Unrestricted ioctls need the retry protocol, which only CUSE drivers use.
      if (a.flags & FUSE_IOCTL_UNRESTRICTED) throw new FUSEError(errno.ENOSYS);
      const input = host.request.copy(a.inBuf, a.inSize);
      return ops.ioctl!(a.fh, a.cmd, input, a.outSize, a.flags, ctx);
    },
    reply: reply.ioctl,
  }),
  poll: row({
    handler: "poll",
    args: { inode: INODE, fi: FILE_INFO, ph: POINTER },
    call: (ops, a, ctx, { host }) => {
      const handle = a.ph === null ? null : new PollHandle(a.ph, host);
      if (handle) host.pollHandleCreated(handle);
      return ops.poll!(a.fi.fh, handle, a.fi.pollEvents, ctx);
    },
    reply: reply.revents,
  }),
  flock: row({
    handler: "flock",
    args: { inode: INODE, fi: FILE_INFO, op: INT },
    call: (ops, a, ctx) => ops.flock!(a.inode, a.fi.fh, a.fi.lockOwner, a.op, ctx),
    reply: reply.ok,
  }),
  fallocate: row({
    handler: "fallocate",
    args: { inode: INODE, mode: INT, offset: FILE_OFFSET, length: FILE_OFFSET, fh: FH },
    call: (ops, a, ctx) => {
      if (a.offset + a.length > Number.MAX_SAFE_INTEGER) {
        throw new UnsafeIntegerError("fallocate end", EFBIG);
      }
      return ops.fallocate!(a.fh, a.mode, a.offset, a.length, ctx);
    },
    reply: reply.ok,
  }),
  readdirplus: readdir(true),
  copy_file_range: row({
    handler: "copyFileRange",
    args: {
      inodeIn: INODE,
      offsetIn: OFFSET,
      fhIn: FH,
      inodeOut: INODE,
      offsetOut: FILE_OFFSET,
      fhOut: FH,
      size: SIZE,
      flags: INT,
    },
    call: (ops, a, ctx) => {
      if (a.offsetOut + a.size > Number.MAX_SAFE_INTEGER) {
        throw new UnsafeIntegerError("copy_file_range output end", EFBIG);
      }
      return ops.copyFileRange!(a.fhIn, a.offsetIn, a.fhOut, a.offsetOut, a.size, a.flags, ctx);
    },
    reply: reply.count,
  }),
  lseek: row({
    handler: "lseek",
    args: { inode: INODE, offset: OFFSET, whence: INT, fh: FH },
    call: (ops, a, ctx) => ops.lseek!(a.fh, a.offset, a.whence, ctx),
    reply: reply.offset,
  }),
  // Registered for every release; buildLowLevelOps leaves it out before 3.17.
  tmpfile: row({
    handler: "tmpfile",
    args: { parent: INODE, mode: UINT, fi: FILE_INFO },
    call: (ops, a, ctx) => ops.tmpfile!(a.parent, a.mode, a.fi.flags, ctx),
    reply: reply.created,
  }),
  // Registered for every release; buildLowLevelOps leaves it out before 3.18.
  statx: row({
    handler: "statx",
    args: { inode: INODE, flags: INT, mask: INT, fh: FH_OR_NULL },
    call: (ops, a, ctx) => ops.statx!(a.inode, a.mask, a.flags, a.fh, ctx),
    reply: reply.statx,
  }),
};

const FUSE_IOCTL_UNRESTRICTED = 1 << 1;

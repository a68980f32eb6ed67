/**
 * The POSIX rules a filesystem that keeps its own inodes has to apply itself
 * (rather than leave to a backing filesystem): name and xattr-name limits,
 * sticky directories, clearing set-id bits, relatime, access(2) without
 * `default_permissions`, and a nanosecond clock that never repeats. They are
 * the kernel tmpfs's rules, as examples/tmpfs.ts applies them; any
 * filesystem with its own store can use them (examples/sqlitefs.ts does).
 *
 * @module
 */

import * as fuse from "../../mod.ts";

const { S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK } = fuse;

export {
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  S_IFSOCK,
} from "../../mod.ts";
/** Set-group-ID bit. */
export const S_ISGID = 0o2000;
/** Sticky bit. */
export const S_ISVTX = 0o1000;
/** The bits chmod(2) may change. */
export const PERMISSION_BITS = 0o7777;

/** Longest name of a directory entry, in bytes (NAME_MAX). */
export const NAME_MAX = 255;
/** Longest extended attribute name (XATTR_NAME_MAX). */
export const XATTR_NAME_MAX = 255;
/** Largest extended attribute value (XATTR_SIZE_MAX). */
export const XATTR_SIZE_MAX = 65536;
/** The kernel's tmpfs counts 20 bytes of directory size per entry (BOGO_DIRENT_SIZE). */
export const BOGO_DIRENT_SIZE = 20;

const S_ISUID = 0o4000;
const S_IXGRP = 0o010;
/** relatime refreshes an access time at least once a day. */
const RELATIME_INTERVAL_NS = 24n * 3600n * 1_000_000_000n;
const FALLOC_FL_KEEP_SIZE = 0x01;
const FALLOC_FL_PUNCH_HOLE = 0x02;
const FALLOC_FL_ZERO_RANGE = 0x10;

const enc = new TextEncoder();
const TRUSTED_PREFIX = enc.encode("trusted.");
const XATTR_PREFIXES = ["user.", "trusted.", "security."].map((p) => enc.encode(p));

/**
 * Nanosecond wall-clock timestamps that never repeat or go backwards, so
 * that every change is visible as a newer time.
 */
export class Clock {
  // performance.now() has sub-millisecond resolution; Date.now() does not.
  readonly #originNs = BigInt(Math.round(performance.timeOrigin * 1e6));
  #lastNs = 0n;

  /** The current time in nanoseconds since the epoch, later than any time returned before. */
  now(): bigint {
    const wall = this.#originNs + BigInt(Math.round(performance.now() * 1e6));
    this.#lastNs = wall > this.#lastNs ? wall : this.#lastNs + 1n;
    return this.#lastNs;
  }

  /**
   * Takes note of a timestamp the kernel resolved as "now" (utimensat with
   * UTIME_NOW reads CLOCK_REALTIME, which may run slightly ahead of our
   * clock), so that later changes are never stamped earlier than it.
   *
   * @param ns a timestamp set by the caller
   */
  observe(ns: bigint): void {
    const now = this.now();
    // Explicit times far in the future (touch -d) must not drag the clock along.
    if (ns > now && ns - now < 1_000_000_000n) this.#lastNs = ns;
  }
}

/**
 * ENAMETOOLONG for names over NAME_MAX: the kernel passes names of up to
 * 1024 bytes (FUSE_NAME_MAX) through.
 *
 * @param name a directory entry name
 */
export function checkName(name: Uint8Array): void {
  if (name.length > NAME_MAX) throw new fuse.FUSEError(fuse.errno.ENAMETOOLONG);
}

/**
 * The kernel hands FUSE every xattr namespace; like the kernel's tmpfs,
 * accept only user., trusted. and security. (system.* would be ACLs, which
 * these filesystems do not implement).
 *
 * @param name an extended attribute name
 */
export function checkXattrName(name: Uint8Array): void {
  if (name.length === 0 || name.length > XATTR_NAME_MAX) {
    throw new fuse.FUSEError(fuse.errno.ERANGE);
  }
  if (!XATTR_PREFIXES.some((prefix) => hasPrefix(name, prefix))) {
    throw new fuse.FUSEError(fuse.errno.EOPNOTSUPP);
  }
}

/**
 * listxattr shows trusted.* only to root, as on the kernel's tmpfs.
 *
 * @param names all names
 * @param ctx the caller
 * @returns the names the caller may see
 */
export function visibleXattrs(names: Uint8Array[], ctx: fuse.RequestContext): Uint8Array[] {
  return ctx.uid === 0 ? names : names.filter((n) => !hasPrefix(n, TRUSTED_PREFIX));
}

function hasPrefix(name: Uint8Array, prefix: Uint8Array): boolean {
  return name.length > prefix.length && prefix.every((b, i) => name[i] === b);
}

/** The attributes the rules below look at. */
export interface Owned {
  mode: number;
  uid: number;
  gid: number;
}

/**
 * In a sticky directory only the owner of the entry, the owner of the
 * directory or root may remove or rename it. The kernel checks this too
 * (may_delete), so this guards callers that bypass the VFS.
 *
 * @param dir the directory holding the entry
 * @param victim the inode the entry names
 * @param ctx the caller
 */
export function checkSticky(dir: Owned, victim: Owned, ctx: fuse.RequestContext): void {
  if (!(dir.mode & S_ISVTX) || ctx.uid === 0) return;
  if (ctx.uid !== victim.uid && ctx.uid !== dir.uid) throw new fuse.FUSEError(fuse.errno.EPERM);
}

/**
 * The mode after clearing set-user-ID, and set-group-ID if group-executable
 * or if the caller is not in the file's group, as the kernel's tmpfs does on
 * write, truncate and chown of a regular file. With `handleKillprivV2` the
 * kernel leaves this to the filesystem where `ctx.killSuidgid` says so;
 * without it the kernel does most of it itself, but with atomic O_TRUNC it
 * leaves open(O_TRUNC) to the filesystem; clearing twice is harmless. Only
 * the caller's primary group is known.
 *
 * @param node the inode
 * @param caller who writes, truncates or chowns
 * @returns the new mode (unchanged for anything but a regular file)
 */
export function killPriv(node: Owned, caller: { uid: number; gid: number }): number {
  if ((node.mode & S_IFMT) !== S_IFREG) return node.mode;
  let mode = node.mode & ~S_ISUID;
  if ((mode & S_ISGID) && ((mode & S_IXGRP) || (caller.uid !== 0 && caller.gid !== node.gid))) {
    mode &= ~S_ISGID;
  }
  return mode;
}

/**
 * access(2) for mounts without `default_permissions`. Only the primary
 * group is known: the request carries no supplementary groups.
 *
 * @param node the inode
 * @param want R_OK 4 | W_OK 2 | X_OK 1, or F_OK 0
 * @param ctx the caller
 * @returns whether access is granted
 */
export function mayAccess(node: Owned, want: number, ctx: fuse.RequestContext): boolean {
  want &= 7;
  if (want === 0) return true;
  if (ctx.uid === 0) {
    // Root may read and write anything, but execute only what someone may.
    return (want & 1) === 0 || (node.mode & S_IFMT) === S_IFDIR || (node.mode & 0o111) !== 0;
  }
  const granted = ctx.uid === node.uid
    ? (node.mode >> 6) & 7
    : ctx.gid === node.gid
    ? (node.mode >> 3) & 7
    : node.mode & 7;
  return (granted & want) === want;
}

/**
 * relatime: an access time is refreshed only if it is not newer than the
 * modification or change time, or is a day old.
 *
 * @param t the inode's times
 * @param now the current time
 * @returns whether reading should set the access time to `now`
 */
export function relatimeDue(
  t: { atimeNs: bigint; mtimeNs: bigint; ctimeNs: bigint },
  now: bigint,
): boolean {
  return t.atimeNs <= t.mtimeNs || t.atimeNs <= t.ctimeNs ||
    now - t.atimeNs >= RELATIME_INTERVAL_NS;
}

/**
 * The mode of a new inode: the umask applied (again: the kernel has
 * usually applied it already, and masking is idempotent, so this covers
 * kernels that leave it to the filesystem), and set-group-ID inherited by
 * subdirectories of a set-group-ID directory.
 *
 * @param parent the directory it is created in
 * @param mode the requested type and mode
 * @param ctx the caller
 * @returns the mode and group of the new inode
 */
export function newInodeMode(
  parent: Owned,
  mode: number,
  ctx: fuse.RequestContext,
): { mode: number; gid: number } {
  const type = mode & S_IFMT;
  if (type !== S_IFLNK) mode &= ~(ctx.umask & 0o777);
  let gid = ctx.gid;
  if (parent.mode & S_ISGID) {
    gid = parent.gid;
    if (type === S_IFDIR) mode |= S_ISGID;
  }
  return { mode, gid };
}

/**
 * The file type mknod(2) creates: a regular file when the mode names none,
 * else a FIFO, socket or device node (directories and symlinks have calls of
 * their own).
 *
 * @param mode mknod's mode argument
 * @returns the `S_IF*` type
 * @throws {fuse.FUSEError} EINVAL for any other type
 */
export function mknodType(mode: number): number {
  const type = (mode & S_IFMT) || S_IFREG;
  if (![S_IFREG, S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK].includes(type)) {
    throw new fuse.FUSEError(fuse.errno.EINVAL);
  }
  return type;
}

/** A file taking part in a rename: its owner and mode, and whether it is a directory. */
export interface RenameNode extends Owned {
  readonly isDir: boolean;
}

/**
 * renameat2(2)'s flags: RENAME_NOREPLACE (1) or RENAME_EXCHANGE (2), not
 * both, nothing else (RENAME_WHITEOUT is for overlay filesystems).
 *
 * @param flags renameat2's flags
 * @throws {fuse.FUSEError} EINVAL for any other combination
 */
export function checkRenameFlags(flags: number): void {
  if ((flags & ~(fuse.RENAME_NOREPLACE | fuse.RENAME_EXCHANGE)) !== 0 || flags === 3) {
    throw new fuse.FUSEError(fuse.errno.EINVAL);
  }
}

/**
 * renameat2(2)'s rules once both names are looked up (after
 * {@link checkRenameFlags}), checked before anything moves: what may
 * replace what, no directory moved below itself, sticky directories.
 *
 * @param flags renameat2's flags
 * @param oldDir the source's directory
 * @param newDir the target's directory
 * @param src the file renamed
 * @param dst the file the new name holds, if any
 * @param facts `sameEntry`: both names are one entry; `dstEmpty()`: the
 *   target directory has no entries; `srcAboveNewDir()`: the source is the
 *   new directory or one of its ancestors; `dstAboveOldDir()`: likewise for
 *   the target and the old directory
 * @param ctx the caller
 * @returns "noop" when there is nothing to do (an entry exchanged with
 *   itself, or two names of one file), else "exchange" or "move"
 * @throws {fuse.FUSEError} EINVAL, ENOENT, EEXIST, ENOTDIR, EISDIR, ENOTEMPTY or EPERM
 */
export function renameRules(
  flags: number,
  oldDir: Owned,
  newDir: Owned,
  src: RenameNode,
  dst: RenameNode | undefined,
  facts: {
    sameEntry: boolean;
    dstEmpty(): boolean;
    srcAboveNewDir(): boolean;
    dstAboveOldDir(): boolean;
  },
  ctx: fuse.RequestContext,
): "noop" | "exchange" | "move" {
  if (flags & fuse.RENAME_EXCHANGE) {
    if (!dst) throw new fuse.FUSEError(fuse.errno.ENOENT);
    if (facts.sameEntry) return "noop";
    if (src.isDir && facts.srcAboveNewDir()) throw new fuse.FUSEError(fuse.errno.EINVAL);
    if (dst.isDir && facts.dstAboveOldDir()) throw new fuse.FUSEError(fuse.errno.EINVAL);
    checkSticky(oldDir, src, ctx);
    checkSticky(newDir, dst, ctx);
    return "exchange";
  }
  if (dst) {
    if (flags & fuse.RENAME_NOREPLACE) throw new fuse.FUSEError(fuse.errno.EEXIST);
    // Two names of one inode: POSIX says do nothing and succeed.
    if (dst === src) return "noop";
    if (src.isDir) {
      if (!dst.isDir) throw new fuse.FUSEError(fuse.errno.ENOTDIR);
      if (!facts.dstEmpty()) throw new fuse.FUSEError(fuse.errno.ENOTEMPTY);
    } else if (dst.isDir) {
      throw new fuse.FUSEError(fuse.errno.EISDIR);
    }
  }
  if (src.isDir && facts.srcAboveNewDir()) throw new fuse.FUSEError(fuse.errno.EINVAL);
  checkSticky(oldDir, src, ctx);
  if (dst) checkSticky(newDir, dst, ctx);
  return "move";
}

/** An inode's attributes that setattr(2) changes besides the size. */
export interface SettableNode extends Owned {
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

/**
 * The checks of a setattr before anything changes: only a regular file
 * has a size to set, and it must fit.
 *
 * @param mode the inode's mode
 * @param attr the requested attributes
 * @param fields which of them to set
 * @param maxSize the largest file size the filesystem stores
 * @throws {fuse.FUSEError} EISDIR, EINVAL or EFBIG
 */
export function checkSetattr(
  mode: number,
  attr: fuse.EntryAttributes,
  fields: fuse.SetattrFields,
  maxSize: number,
): void {
  if (!fields.updateSize) return;
  if ((mode & S_IFMT) === S_IFDIR) throw new fuse.FUSEError(fuse.errno.EISDIR);
  if ((mode & S_IFMT) !== S_IFREG) throw new fuse.FUSEError(fuse.errno.EINVAL);
  if (attr.stSize > maxSize) throw new fuse.FUSEError(fuse.errno.EFBIG);
}

/**
 * setattr(2)'s changes of mode, owner and times, as the kernel's tmpfs
 * makes them, after the caller has set the size (if asked): truncation
 * sets the modification time even to the same size and clears set-id bits
 * unless root does it, chown clears them always, every change is a status
 * change.
 *
 * @param node the inode, changed in place
 * @param attr the requested attributes
 * @param fields which of them to set
 * @param ctx the caller
 * @param now the current time (see {@link Clock}: observe explicit times first)
 * @param clampNs fits a time into what the filesystem stores
 */
export function applySetattr(
  node: SettableNode,
  attr: fuse.EntryAttributes,
  fields: fuse.SetattrFields,
  ctx: fuse.RequestContext,
  now: bigint,
  clampNs: (ns: bigint) => bigint = (ns) => ns,
): void {
  if (fields.updateSize) {
    node.mtimeNs = now;
    // The kernel knows who has CAP_FSETID; without its flag, root keeps the bits.
    if (ctx.killSuidgid ?? ctx.uid !== 0) node.mode = killPriv(node, ctx);
  }
  if (fields.updateUid || fields.updateGid) {
    node.mode = killPriv(node, ctx);
    if (fields.updateUid) node.uid = attr.stUid;
    if (fields.updateGid) node.gid = attr.stGid;
  }
  if (fields.updateMode) node.mode = (node.mode & S_IFMT) | (attr.stMode & PERMISSION_BITS);
  if (fields.updateAtime) node.atimeNs = clampNs(attr.stAtimeNs);
  if (fields.updateMtime) node.mtimeNs = clampNs(attr.stMtimeNs);
  node.ctimeNs = fields.updateCtime ? clampNs(attr.stCtimeNs) : now;
}

/** What a fallocate(2) request asks, once checked. */
export interface FallocatePlan {
  /** Punch a hole or zero the range (both leave zeros; the size does not change). */
  clear: boolean;
  /** The new size, when the file grows. */
  growTo?: number;
}

/**
 * fallocate(2)'s modes a store without reservations can honour: plain
 * (extends the size), FALLOC_FL_PUNCH_HOLE with KEEP_SIZE, and
 * FALLOC_FL_ZERO_RANGE, with or without KEEP_SIZE.
 *
 * @param mode fallocate's mode
 * @param offset start of the range
 * @param length length of the range
 * @param size the file's size now
 * @param maxSize the largest file size the filesystem stores
 * @returns what to do, or undefined when there is nothing to do
 * @throws {fuse.FUSEError} EINVAL, EFBIG or EOPNOTSUPP
 */
export function fallocatePlan(
  mode: number,
  offset: number,
  length: number,
  size: number,
  maxSize: number,
): FallocatePlan | undefined {
  if (length <= 0 || offset < 0) throw new fuse.FUSEError(fuse.errno.EINVAL);
  const end = offset + length;
  if (end > maxSize) throw new fuse.FUSEError(fuse.errno.EFBIG);
  const keepSize = (mode & FALLOC_FL_KEEP_SIZE) !== 0;
  const kind = mode & ~FALLOC_FL_KEEP_SIZE;
  if (kind !== 0 && kind !== FALLOC_FL_PUNCH_HOLE && kind !== FALLOC_FL_ZERO_RANGE) {
    throw new fuse.FUSEError(fuse.errno.EOPNOTSUPP);
  }
  if (kind === FALLOC_FL_PUNCH_HOLE && !keepSize) throw new fuse.FUSEError(fuse.errno.EOPNOTSUPP);
  const growTo = !keepSize && end > size ? end : undefined;
  if (kind === 0 && growTo === undefined) return undefined;
  return { clear: kind !== 0, growTo };
}

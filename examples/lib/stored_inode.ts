/**
 * What the database-backed examples (examples/sqlitefs.ts on SQLite,
 * examples/pgfs.ts on PostgreSQL) share about an inode kept in rows: its
 * columns, the attributes the kernel is told, the flags and limits their
 * handlers check, and how times fit a signed 64-bit column.
 *
 * @module
 */

import * as fuse from "../../mod.ts";
import { O } from "../../posix.ts";
import { S_IFDIR, S_IFMT, S_IFREG, type SettableNode } from "./posix_rules.ts";

// The library's own constants, under the names the stores use.
export { SEEK_DATA, SEEK_HOLE, XATTR_CREATE, XATTR_REPLACE } from "../../mod.ts";
/** open(2)'s access mode bits. */
export const O_ACCMODE = O.O_ACCMODE;
/** open(2): read only. */
export const O_RDONLY = O.O_RDONLY;
/** open(2): truncate. */
export const O_TRUNC = O.O_TRUNC;
/** Largest file size: offsets beyond it could not be represented exactly. */
export const MAX_FILE_SIZE = Number.MAX_SAFE_INTEGER;
/** statfs counts in units of this size. */
export const STATFS_BLOCK = 4096;
/** The name ".". */
export const DOT = new Uint8Array([0x2e]);
/** The name "..". */
export const DOTDOT = new Uint8Array([0x2e, 0x2e]);

const I64_MAX = (1n << 63n) - 1n;
const I64_MIN = -(1n << 63n);

/** An inode's columns. */
export class StoredInode implements SettableNode {
  mode = 0;
  nlink = 0;
  uid = 0;
  gid = 0;
  rdev = 0;
  size = 0;
  /** Bytes of file data stored. */
  alloc = 0;
  atimeNs = 0n;
  mtimeNs = 0n;
  ctimeNs = 0n;
  /** Birth time; `null` where the store did not keep one. */
  btimeNs: bigint | null = null;
  /** A directory's "..". */
  parent = 0;
  /** A symlink's target. */
  target: Uint8Array | null = null;

  /**
   * @param ino the inode number
   */
  constructor(readonly ino: number) {}

  /** Whether it is a directory. */
  get isDir(): boolean {
    return (this.mode & S_IFMT) === S_IFDIR;
  }

  /** Whether it is a regular file. */
  get isRegular(): boolean {
    return (this.mode & S_IFMT) === S_IFREG;
  }
}

/**
 * The attributes the kernel is told.
 *
 * @param node the inode
 * @param blockSize `st_blksize`: the store's block size
 * @param timeoutSec entry and attribute timeout
 * @returns its attributes, `st_blocks` counting the bytes stored
 */
export function storedAttributes(
  node: StoredInode,
  blockSize: number,
  timeoutSec: number,
): fuse.EntryAttributes {
  return new fuse.EntryAttributes({
    stIno: node.ino,
    generation: 0,
    entryTimeout: timeoutSec,
    attrTimeout: timeoutSec,
    stMode: node.mode,
    stNlink: node.nlink,
    stUid: node.uid,
    stGid: node.gid,
    stRdev: node.rdev,
    stSize: node.size,
    stBlksize: blockSize,
    stBlocks: Math.ceil(node.alloc / 512),
    stAtimeNs: node.atimeNs,
    stMtimeNs: node.mtimeNs,
    stCtimeNs: node.ctimeNs,
  });
}

/**
 * Whether a name is ".".
 *
 * @param name a name
 * @returns true for "."
 */
export function isDot(name: Uint8Array): boolean {
  return name.length === 1 && name[0] === 0x2e;
}

/**
 * Whether a name is "..".
 *
 * @param name a name
 * @returns true for ".."
 */
export function isDotDot(name: Uint8Array): boolean {
  return name.length === 2 && name[0] === 0x2e && name[1] === 0x2e;
}

/**
 * A time as stored: signed 64-bit nanoseconds (years 1677 to 2262); times
 * outside are clamped, as the kernel clamps times to a filesystem's range.
 *
 * @param ns a time
 * @returns it, clamped
 */
export function clampNs(ns: bigint): bigint {
  return ns > I64_MAX ? I64_MAX : ns < I64_MIN ? I64_MIN : ns;
}

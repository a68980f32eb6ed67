/**
 * The attribute shapes a path handler may answer with, and their
 * conversion to the inode API's `EntryAttributes` and `StatvfsData`.
 *
 * A handler returns whichever is at hand: an `EntryAttributes`, a
 * fuse-native stat object (`{ mode, size, uid, gid, mtime: new Date() }`),
 * a `node:fs` `Stats` (also with `{ bigint: true }`, whose nanosecond times
 * are kept exactly) or a `Deno.FileInfo`.
 *
 * @module
 */

import { EntryAttributes, StatvfsData } from "../mod.ts";

/** A time: a `Date`, milliseconds since the epoch (fuse-native), or nanoseconds as a bigint. */
export type TimeLike = Date | number | bigint | null | undefined;

/**
 * A stat object in fuse-native's (and `node:fs`'s, and `Deno.FileInfo`'s)
 * shape. Only `mode` is required; `nlink` defaults to 1, `blksize` to 4096,
 * the rest to 0.
 */
export interface StatLike {
  /** File type and permission bits (`st_mode`), e.g. `0o100644`. */
  mode: number | bigint | null;
  /** The handler's inode number; used only with `PathOperations.useIno`. */
  ino?: number | bigint | null;
  /** Hard links. */
  nlink?: number | bigint | null;
  /** Owner. */
  uid?: number | bigint | null;
  /** Group. */
  gid?: number | bigint | null;
  /** Device number of a device node. */
  rdev?: number | bigint | null;
  /** Size in bytes. */
  size?: number | bigint | null;
  /** Preferred I/O size. */
  blksize?: number | bigint | null;
  /** Allocated 512-byte blocks. */
  blocks?: number | bigint | null;
  /** Access time. */
  atime?: TimeLike;
  /** Modification time. */
  mtime?: TimeLike;
  /** Status change time. */
  ctime?: TimeLike;
  /** `node:fs` BigIntStats: access time in nanoseconds (preferred over `atime`). */
  atimeNs?: bigint;
  /** `node:fs` BigIntStats: modification time in nanoseconds. */
  mtimeNs?: bigint;
  /** `node:fs` BigIntStats: change time in nanoseconds. */
  ctimeNs?: bigint;
}

/** What getattr (and the calls that may answer attributes) return. */
export type PathStat = EntryAttributes | StatLike;

/** fuse-native's statfs answer (`{ bsize, frsize, blocks, bfree, ... }`). */
export interface StatfsLike {
  /** Block size. */
  bsize?: number;
  /** Fragment size (the unit of the block counts). */
  frsize?: number;
  /** Total blocks. */
  blocks?: number;
  /** Free blocks. */
  bfree?: number;
  /** Free blocks for unprivileged users. */
  bavail?: number;
  /** Total inodes. */
  files?: number;
  /** Free inodes. */
  ffree?: number;
  /** Free inodes for unprivileged users. */
  favail?: number;
  /** Longest name. */
  namemax?: number;
}

const MS = 1_000_000n;

function int(v: number | bigint | null | undefined, fallback: number): number {
  return v === undefined || v === null ? fallback : Number(v);
}

/**
 * A time in nanoseconds since the epoch.
 *
 * @param t a `Date`, milliseconds (number) or nanoseconds (bigint)
 * @param ns exact nanoseconds, preferred when given
 * @returns nanoseconds (0n when neither is given)
 * @example
 * ```ts
 * import { timeNs } from "./stat.ts";
 * console.log(timeNs(new Date(1500))); // 1500000000n
 * ```
 */
export function timeNs(t: TimeLike, ns?: bigint): bigint {
  if (typeof ns === "bigint") return ns;
  if (t === undefined || t === null) return 0n;
  if (typeof t === "bigint") return t;
  if (typeof t === "number") return BigInt(Math.round(t * 1e6));
  return BigInt(t.getTime()) * MS;
}

/**
 * The handler's inode number in a stat answer, if it gave one.
 *
 * @param stat a handler's answer
 * @returns the number, or 0 when absent
 * @example
 * ```ts
 * import { handlerIno } from "./stat.ts";
 * console.log(handlerIno({ mode: 0o100644, ino: 12 })); // 12
 * ```
 */
export function handlerIno(stat: PathStat): number {
  if (stat instanceof EntryAttributes) return stat.stIno;
  const ino = stat.ino;
  return ino === undefined || ino === null ? 0 : Number(ino);
}

/**
 * A fresh `EntryAttributes` from any {@link PathStat}, with the layer's
 * inode number and timeouts (the handler's own stIno and timeouts are
 * replaced).
 *
 * @param stat the handler's answer
 * @param ino the inode number the kernel knows the file by
 * @param entryTimeout seconds the kernel may cache the name
 * @param attrTimeout seconds the kernel may cache the attributes
 * @returns the attributes to reply with
 * @throws {TypeError} if `stat` is not an object
 * @example
 * ```ts
 * import { toEntryAttributes } from "./stat.ts";
 * const a = toEntryAttributes({ mode: 0o100644, size: 3, mtime: new Date(0) }, 5, 1, 1);
 * console.log(a.stIno, a.stSize); // 5 3
 * ```
 */
export function toEntryAttributes(
  stat: PathStat,
  ino: number,
  entryTimeout: number,
  attrTimeout: number,
): EntryAttributes {
  let attr: EntryAttributes;
  if (stat instanceof EntryAttributes) {
    attr = new EntryAttributes(stat);
  } else {
    if (typeof stat !== "object" || stat === null) {
      throw new TypeError(`a path handler answered ${String(stat)} where a stat object belongs`);
    }
    attr = new EntryAttributes();
    attr.stMode = int(stat.mode, 0);
    attr.stNlink = int(stat.nlink, 1);
    attr.stUid = int(stat.uid, 0);
    attr.stGid = int(stat.gid, 0);
    attr.stRdev = int(stat.rdev, 0);
    attr.stSize = int(stat.size, 0);
    attr.stBlksize = int(stat.blksize, 4096);
    attr.stBlocks = int(stat.blocks, 0);
    attr.stAtimeNs = timeNs(stat.atime, stat.atimeNs);
    attr.stMtimeNs = timeNs(stat.mtime, stat.mtimeNs);
    attr.stCtimeNs = timeNs(stat.ctime, stat.ctimeNs);
  }
  attr.stIno = ino;
  attr.entryTimeout = entryTimeout;
  attr.attrTimeout = attrTimeout;
  return attr;
}

/**
 * `StatvfsData` from either shape.
 *
 * @param s the statfs handler's answer
 * @returns the value to reply with
 * @example
 * ```ts
 * import { toStatvfs } from "./stat.ts";
 * console.log(toStatvfs({ bsize: 4096, blocks: 10, namemax: 255 }).fBlocks); // 10
 * ```
 */
export function toStatvfs(s: StatvfsData | StatfsLike): StatvfsData {
  if (s instanceof StatvfsData) return s;
  return new StatvfsData({
    fBsize: s.bsize ?? 0,
    fFrsize: s.frsize ?? s.bsize ?? 0,
    fBlocks: s.blocks ?? 0,
    fBfree: s.bfree ?? 0,
    fBavail: s.bavail ?? 0,
    fFiles: s.files ?? 0,
    fFfree: s.ffree ?? 0,
    fFavail: s.favail ?? 0,
    fNamemax: s.namemax ?? 255,
  });
}

/**
 * The namespace of examples/sqlitefs.ts: making, linking, removing and
 * renaming directory entries, with the link counts, directory sizes and
 * times that go with them, under the POSIX rules of the kernel's tmpfs.
 * Every method runs inside a request's change (InodeCache.change) and
 * writes the rows it changes; the caller counts the lookup reference the
 * kernel takes for a new entry.
 *
 * @module
 */

import * as fuse from "../../mod.ts";
import {
  BOGO_DIRENT_SIZE,
  checkSticky,
  type Clock,
  newInodeMode,
  S_IFDIR,
  S_IFMT,
} from "./posix_rules.ts";
import type { InodeCache } from "./sqlite_inodes.ts";
import type { Node, Store } from "./sqlite_store.ts";

/** Size of an empty directory: "." and "..", as the kernel's tmpfs counts. */
export const EMPTY_DIR_SIZE = 2 * BOGO_DIRENT_SIZE;
/** renameat2(2) flags. */
export const RENAME_NOREPLACE = 1;
/** renameat2(2) flags. */
export const RENAME_EXCHANGE = 2;

const NO_SUCH_ENTRY = new fuse.FUSEError(fuse.errno.ENOENT);

/** What a new inode may carry besides its mode. */
export interface NewInodeExtra {
  rdev?: number;
  target?: Uint8Array;
}

/** Directory entries of one mounted database. */
export class Namespace {
  readonly #store: Store;

  /**
   * @param inodes the inode cache (and through it the database)
   * @param clock the filesystem's clock
   */
  constructor(readonly inodes: InodeCache, readonly clock: Clock) {
    this.#store = inodes.store;
  }

  /** Makes a new inode named `name` in `parent`. */
  create(
    parent: Node,
    name: Uint8Array,
    mode: number,
    ctx: fuse.RequestContext,
    extra: NewInodeExtra = {},
  ): Node {
    // A removed directory still has an inode while something holds it,
    // but nothing may be created in it.
    if (parent.nlink === 0) throw NO_SUCH_ENTRY;
    if (this.#store.lookup(parent.ino, name) !== 0) throw new fuse.FUSEError(fuse.errno.EEXIST);
    const node = this.newInode(parent, mode, ctx, 1, extra);
    if (node.isDir) parent.nlink++;
    this.#addEntry(parent, name, node, node.ctimeNs);
    return node;
  }

  /** Inserts an inode owned by the caller (or by a set-group-ID parent's group), not yet named. */
  newInode(
    parent: Node,
    requested: number,
    ctx: fuse.RequestContext,
    nlink: number,
    extra: NewInodeExtra,
  ): Node {
    if (parent.nlink === 0) throw NO_SUCH_ENTRY;
    const { mode, gid } = newInodeMode(parent, requested, ctx);
    const isDir = (mode & S_IFMT) === S_IFDIR;
    const target = extra.target ? extra.target.slice() : null;
    return this.#store.insert({
      mode,
      nlink: isDir ? 2 : nlink,
      uid: ctx.uid,
      gid,
      rdev: extra.rdev ?? 0,
      size: isDir ? EMPTY_DIR_SIZE : target?.length ?? 0,
      nowNs: this.clock.now(),
      parent: isDir ? parent.ino : 0,
      target,
    });
  }

  /** Adds the name `name` in `dir` for `node` (not a directory). */
  link(node: Node, dir: Node, name: Uint8Array): void {
    if (node.isDir) throw new fuse.FUSEError(fuse.errno.EPERM);
    if (node.nlink === 0 && !node.linkable) throw NO_SUCH_ENTRY;
    if (dir.nlink === 0) throw NO_SUCH_ENTRY;
    if (this.#store.lookup(dir.ino, name) !== 0) throw new fuse.FUSEError(fuse.errno.EEXIST);
    const now = this.clock.now();
    this.#addEntry(dir, name, node, now);
    node.nlink++;
    node.ctimeNs = now;
    this.#store.save(node);
  }

  /** Removes a non-directory name. */
  unlink(dir: Node, name: Uint8Array, ctx: fuse.RequestContext): void {
    const node = this.inodes.entry(dir, name);
    if (node.isDir) throw new fuse.FUSEError(fuse.errno.EISDIR);
    checkSticky(dir, node, ctx);
    const now = this.clock.now();
    this.#removeEntry(dir, name, now);
    node.nlink--;
    node.ctimeNs = now;
    this.#store.save(node);
    this.inodes.free(node);
  }

  /** Removes an empty directory. */
  rmdir(dir: Node, name: Uint8Array, ctx: fuse.RequestContext): void {
    const node = this.inodes.entry(dir, name);
    if (!node.isDir) throw new fuse.FUSEError(fuse.errno.ENOTDIR);
    if (node.size > EMPTY_DIR_SIZE) throw new fuse.FUSEError(fuse.errno.ENOTEMPTY);
    checkSticky(dir, node, ctx);
    const now = this.clock.now();
    dir.nlink--;
    this.#removeEntry(dir, name, now);
    this.#kill(node, now);
  }

  /** Moves `nameOld` to `nameNew`; `flags` may hold RENAME_NOREPLACE or RENAME_EXCHANGE. */
  rename(
    oldDir: Node,
    nameOld: Uint8Array,
    newDir: Node,
    nameNew: Uint8Array,
    flags: number,
    ctx: fuse.RequestContext,
  ): void {
    const src = this.inodes.entry(oldDir, nameOld);
    if (newDir.nlink === 0) throw NO_SUCH_ENTRY;
    const dstIno = this.#store.lookup(newDir.ino, nameNew);
    const dst = dstIno ? this.inodes.get(dstIno) : undefined;
    if (flags & RENAME_EXCHANGE) {
      if (!dst) throw NO_SUCH_ENTRY;
      this.#exchange(oldDir, nameOld, src, newDir, nameNew, dst, ctx);
    } else {
      this.#move(oldDir, nameOld, src, newDir, nameNew, dst, flags, ctx);
    }
  }

  /** Names `node` in `dir` (the caller adjusts `dir`'s link count for a subdirectory). */
  #addEntry(dir: Node, name: Uint8Array, node: Node, now: bigint): void {
    this.#store.addEntry(dir.ino, name, node.ino);
    dir.size += BOGO_DIRENT_SIZE;
    dir.mtimeNs = dir.ctimeNs = now;
    this.#store.save(dir);
  }

  /** Removes the name `name` from `dir` (the caller adjusts the inode it named). */
  #removeEntry(dir: Node, name: Uint8Array, now: bigint): void {
    this.#store.removeEntry(dir.ino, name);
    dir.size -= BOGO_DIRENT_SIZE;
    dir.mtimeNs = dir.ctimeNs = now;
    this.#store.save(dir);
  }

  /** Marks a directory removed (rmdir, or replaced by rename). */
  #kill(dirNode: Node, now: bigint): void {
    dirNode.nlink = 0;
    dirNode.ctimeNs = now;
    this.#store.save(dirNode);
    this.inodes.free(dirNode);
  }

  /** rename(2) without RENAME_EXCHANGE. */
  #move(
    oldDir: Node,
    nameOld: Uint8Array,
    src: Node,
    newDir: Node,
    nameNew: Uint8Array,
    dst: Node | undefined,
    flags: number,
    ctx: fuse.RequestContext,
  ): void {
    if (dst) {
      if (flags & RENAME_NOREPLACE) throw new fuse.FUSEError(fuse.errno.EEXIST);
      // Two names of one inode: POSIX says do nothing and succeed.
      if (dst === src) return;
      if (src.isDir) {
        if (!dst.isDir) throw new fuse.FUSEError(fuse.errno.ENOTDIR);
        if (dst.size > EMPTY_DIR_SIZE) throw new fuse.FUSEError(fuse.errno.ENOTEMPTY);
      } else if (dst.isDir) {
        throw new fuse.FUSEError(fuse.errno.EISDIR);
      }
    }
    if (src.isDir && this.#isWithin(newDir, src)) throw new fuse.FUSEError(fuse.errno.EINVAL);
    checkSticky(oldDir, src, ctx);
    if (dst) checkSticky(newDir, dst, ctx);

    const now = this.clock.now();
    if (dst) {
      if (dst.isDir) newDir.nlink--;
      this.#removeEntry(newDir, nameNew, now);
      if (dst.isDir) {
        this.#kill(dst, now);
      } else {
        dst.nlink--;
        dst.ctimeNs = now;
        this.#store.save(dst);
        this.inodes.free(dst);
      }
    }
    if (src.isDir && oldDir !== newDir) {
      src.parent = newDir.ino;
      oldDir.nlink--;
      newDir.nlink++;
    }
    this.#removeEntry(oldDir, nameOld, now);
    // A fresh cookie: a listing in progress may show the new name even if
    // it already showed the old one, which POSIX allows for renamed entries.
    this.#addEntry(newDir, nameNew, src, now);
    src.ctimeNs = now;
    this.#store.save(src);
  }

  /** rename(2) with RENAME_EXCHANGE: the names stay (with their cookies), the inodes swap. */
  #exchange(
    oldDir: Node,
    nameOld: Uint8Array,
    src: Node,
    newDir: Node,
    nameNew: Uint8Array,
    dst: Node,
    ctx: fuse.RequestContext,
  ): void {
    if (oldDir === newDir && sameBytes(nameOld, nameNew)) return;
    if (src.isDir && this.#isWithin(newDir, src)) throw new fuse.FUSEError(fuse.errno.EINVAL);
    if (dst.isDir && this.#isWithin(oldDir, dst)) throw new fuse.FUSEError(fuse.errno.EINVAL);
    checkSticky(oldDir, src, ctx);
    checkSticky(newDir, dst, ctx);
    this.#store.retarget(oldDir.ino, nameOld, dst.ino);
    this.#store.retarget(newDir.ino, nameNew, src.ino);
    if (oldDir !== newDir) {
      if (src.isDir) this.#reparent(src, oldDir, newDir);
      if (dst.isDir) this.#reparent(dst, newDir, oldDir);
    }
    const now = this.clock.now();
    for (const node of new Set([oldDir, newDir, src, dst])) {
      if (node === oldDir || node === newDir) node.mtimeNs = now;
      node.ctimeNs = now;
      this.#store.save(node);
    }
  }

  /** Moves a directory's ".." from `from` to `to` (the caller saves all three). */
  #reparent(dirNode: Node, from: Node, to: Node): void {
    dirNode.parent = to.ino;
    from.nlink--;
    to.nlink++;
  }

  /** Whether directory `dirNode` is `ancestor` or lies below it. */
  #isWithin(dirNode: Node, ancestor: Node): boolean {
    for (let node = dirNode;; node = this.inodes.get(node.parent)) {
      if (node === ancestor) return true;
      if (node.ino === fuse.ROOT_INODE) return false;
    }
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * The inodes of examples/sqlitefs.ts that live in memory: those the kernel
 * holds a lookup reference to or a handle keeps open (with their lookup
 * counts and locks, which only exist while mounted), the root, and those
 * loaded for the request being served. Their rows are written through on
 * every change, so the database is always as current as the cache.
 *
 * @module
 */

import * as fuse from "../../mod.ts";
import { BLOCK_SIZE } from "./sqlite_schema.ts";
import type { Node, Store } from "./sqlite_store.ts";
import { storedAttributes } from "./stored_inode.ts";

const NO_SUCH_ENTRY = new fuse.FUSEError(fuse.errno.ENOENT);

/** The cached inodes of one mounted database. */
export class InodeCache {
  /** Inodes the kernel or an open handle holds, the root, and this request's. */
  readonly #nodes = new Map<number, Node>();
  /** Inodes loaded during the current request that nothing may hold afterwards. */
  readonly #transient: Node[] = [];

  /**
   * Caches the root for good.
   *
   * @param store the database
   */
  constructor(readonly store: Store) {
    const root = store.load(fuse.ROOT_INODE);
    if (!root) throw new Error("the root directory is missing from the database");
    this.#nodes.set(root.ino, root);
    store.onUndo = () => this.#reload();
  }

  /** How many inodes are in memory. */
  get size(): number {
    return this.#nodes.size;
  }

  /**
   * Runs one request's changes as a unit (see Store.change, also for
   * `adds`), then forgets the inodes it loaded that nothing holds.
   */
  change<T>(fn: () => T, adds?: number): T {
    try {
      return this.store.change(fn, adds);
    } finally {
      this.sweep();
    }
  }

  /** The inode, from memory or the database (then transient until something holds it). */
  get(ino: number): Node {
    let node = this.#nodes.get(ino);
    if (node === undefined) {
      node = this.store.load(ino);
      if (!node) throw NO_SUCH_ENTRY;
      this.#nodes.set(ino, node);
      this.#transient.push(node);
    }
    return node;
  }

  /** The directory inode; ENOTDIR if it is something else. */
  dir(ino: number): Node {
    const node = this.get(ino);
    if (!node.isDir) throw new fuse.FUSEError(fuse.errno.ENOTDIR);
    return node;
  }

  /** The inode `name` in `dir` refers to; ENOENT if none. */
  entry(dir: Node, name: Uint8Array): Node {
    const ino = this.store.lookup(dir.ino, name);
    if (ino === 0) throw NO_SUCH_ENTRY;
    return this.get(ino);
  }

  /** The cached inode, if it is in memory. */
  cached(ino: number): Node | undefined {
    return this.#nodes.get(ino);
  }

  /** Keeps an inode in memory (it has a lookup reference or a handle now). */
  hold(node: Node): void {
    this.#nodes.set(node.ino, node);
  }

  /** Drops the inodes loaded for one request that nothing holds. */
  sweep(): void {
    const transient = this.#transient;
    if (transient.length === 0) return;
    for (const node of transient) {
      if (node.lookups === 0 && node.opens === 0 && node.ino !== fuse.ROOT_INODE) {
        this.#nodes.delete(node.ino);
      }
    }
    transient.length = 0;
  }

  /** After a forget or close: an inode nothing holds leaves memory, and if unlinked the database. */
  drop(node: Node): void {
    if (node.lookups > 0 || node.opens > 0) return;
    if (node.nlink === 0) this.change(() => this.free(node));
    else if (node.ino !== fuse.ROOT_INODE) this.#nodes.delete(node.ino);
  }

  /** Within a change: an inode nothing holds leaves memory, and the database if it has no links. */
  free(node: Node): void {
    if (node.lookups > 0 || node.opens > 0 || node.ino === fuse.ROOT_INODE) return;
    this.#nodes.delete(node.ino);
    if (node.nlink === 0) this.store.purge(node.ino);
  }

  /** Forgets every inode (the filesystem is closing). */
  clear(): void {
    this.#nodes.clear();
  }

  /**
   * After a failed request was undone: cached inodes take their rows'
   * values again. Inodes whose rows are gone (made in a batch SQLite rolled
   * back) are marked so, and their open handles fail from then on.
   */
  #reload(): void {
    for (const node of this.#nodes.values()) {
      if (this.store.reload(node)) continue;
      node.gone = true;
      this.#nodes.delete(node.ino);
    }
  }
}

/**
 * The attributes the kernel is told. Timeouts are 0: several attributes
 * change without the kernel seeing the cause (see examples/tmpfs.ts).
 *
 * @param node the inode
 * @returns its attributes, `st_blocks` counting the bytes stored
 */
export function attributes(node: Node): fuse.EntryAttributes {
  return storedAttributes(node, BLOCK_SIZE, 0);
}

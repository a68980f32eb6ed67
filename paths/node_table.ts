/**
 * The path layer's node table: which inode number the kernel knows each
 * name by, and back. libfuse's high-level API keeps the same table (its
 * `struct node` hash); this one differs where that one needs hidden files:
 * a node keeps its number and its open handles when its last name goes, so
 * an unlinked open file stays reachable by its handle.
 *
 * A {@link PathNode} is one kernel inode. It has zero or more names
 * ({@link Link}s: a directory node and a key), the first of which gives
 * its path; a directory node maps its known entries' keys to their nodes,
 * so a rename moves a whole subtree by re-keying one entry. Paths are
 * computed on demand from the chain of parents and cached until the next
 * change of the namespace.
 *
 * A node lives while the kernel holds lookups on it, the layer has it
 * open, or the table knows entries inside it; then it is dropped, and
 * after `rm -r` only the root is left.
 *
 * @module
 */

import { ROOT_INODE } from "../mod.ts";
import { joinPath, type Path, type PathName } from "./path.ts";

/** One name of a node: entry `key` of directory `parent`. */
export interface Link {
  /** The directory. */
  parent: PathNode;
  /** The entry's key in `parent.children` (see `componentKey`). */
  key: string;
  /** The entry's name as handlers see it. */
  name: PathName;
}

/** A file or directory the kernel knows by an inode number. */
export class PathNode {
  /** Its names; the first gives its path. Empty once unlinked. */
  readonly links: Link[] = [];
  /** A directory's known entries, by key; made on the first. */
  children: Map<string, PathNode> | null = null;
  /** Lookups the kernel holds (it gives them back with FORGET). */
  lookups = 0;
  /** Open file and directory handles of the layer. */
  opens = 0;
  /** @internal the cached path, valid while `pathGen` is the table's generation */
  pathCache: Path | null = null;
  /** @internal */
  pathGen = -1;

  /**
   * Creates a node. @internal
   *
   * @param ino the number the kernel knows it by
   * @param handlerIno the handler's own number for it (0 if unknown)
   */
  constructor(readonly ino: number, public handlerIno: number) {}
}

/** Numbers the layer makes up while `useIno` is on: above any number a handler is likely to use. */
const SYNTHETIC_BASE = 2 ** 52;

/**
 * The table of nodes.
 *
 * @example
 * ```ts
 * import { NodeTable } from "./node_table.ts";
 * const table = new NodeTable(false);
 * const a = table.attach(table.root, "a", "a", 0); // a lookup of "/a"
 * console.log(table.path(a), table.size); // "/a" 2
 * table.forget(a.ino, 1);
 * console.log(table.size); // 1
 * ```
 */
export class NodeTable {
  /** The root directory (inode 1), never dropped. */
  readonly root: PathNode;
  readonly #byIno = new Map<number, PathNode>();
  readonly #useIno: boolean;
  /** Bumped by every change that can change a known node's path. */
  #gen = 0;
  #next: number;
  /** The handler's number for the root (useIno): it and 1 trade places. */
  #rootHandlerIno = 0;

  /**
   * Creates a table holding only the root.
   *
   * @param useIno number nodes by the handler's `ino` (libfuse's `use_ino`)
   */
  constructor(useIno: boolean) {
    this.#useIno = useIno;
    this.#next = useIno ? SYNTHETIC_BASE : ROOT_INODE + 1;
    this.root = new PathNode(ROOT_INODE, 0);
    this.root.lookups = 1;
    this.#byIno.set(ROOT_INODE, this.root);
  }

  /** How many nodes the table holds, the root included. */
  get size(): number {
    return this.#byIno.size;
  }

  /** Whether the handler's number for the root is known yet (only matters with `useIno`). */
  get rootKnown(): boolean {
    return !this.#useIno || this.#rootHandlerIno !== 0;
  }

  /**
   * Records the handler's number for the root (from a getattr of "/").
   *
   * @param handlerIno the root's `ino` in the handler's answer
   */
  setRootIno(handlerIno: number): void {
    if (!this.#useIno || handlerIno <= 0 || this.#rootHandlerIno === handlerIno) return;
    this.#rootHandlerIno = handlerIno;
    this.root.handlerIno = handlerIno;
  }

  /**
   * The node the kernel knows by `ino`.
   *
   * @param ino an inode number
   * @returns the node, or undefined if the table does not hold it
   */
  get(ino: number): PathNode | undefined {
    return this.#byIno.get(ino);
  }

  /**
   * The node's current path: a string when all its components are UTF-8.
   *
   * @param node a node
   * @returns its path, or null once it has no name left
   */
  path(node: PathNode): Path | null {
    if (node.pathGen === this.#gen) return node.pathCache;
    let path: Path | null;
    if (node === this.root) path = "/";
    else if (node.links.length === 0) path = null;
    else {
      const link = node.links[0];
      const parent = this.path(link.parent);
      path = parent === null ? null : joinPath(parent, link.name);
    }
    node.pathCache = path;
    node.pathGen = this.#gen;
    return path;
  }

  /**
   * The directory a node's first name lies in (the root for the root and
   * for nodes without a name), for "..".
   *
   * @param node a node
   * @returns its parent
   */
  parentOf(node: PathNode): PathNode {
    return node.links.length > 0 ? node.links[0].parent : this.root;
  }

  /**
   * The node a handler's inode number maps to the kernel's number.
   *
   * @param handlerIno the handler's number
   * @returns the kernel's number for it
   */
  kernelIno(handlerIno: number): number {
    if (handlerIno === this.#rootHandlerIno) return ROOT_INODE;
    if (handlerIno === ROOT_INODE && this.#rootHandlerIno !== 0) return this.#rootHandlerIno;
    return handlerIno;
  }

  /**
   * Entry `key` of `dir` as the table knows it.
   *
   * @param dir a directory node
   * @param key the entry's key
   * @returns its node, if known
   */
  child(dir: PathNode, key: string): PathNode | undefined {
    return dir.children?.get(key);
  }

  /**
   * Records a successful lookup (or creation, or READDIRPLUS entry) of
   * entry `key` of `dir`, whose attributes carry `handlerIno`: finds or
   * makes its node and adds one lookup.
   *
   * @param dir the directory
   * @param key the entry's key
   * @param name the entry's name
   * @param handlerIno the handler's `ino` for it (0 if none)
   * @returns the node, with one more lookup
   */
  attach(dir: PathNode, key: string, name: PathName, handlerIno: number): PathNode {
    const existing = dir.children?.get(key);
    let node: PathNode;
    if (!this.#useIno || handlerIno <= 0) {
      node = existing ?? this.#make(this.#next++, 0);
    } else if (existing && existing.handlerIno === handlerIno) {
      node = existing;
    } else {
      const ino = this.kernelIno(handlerIno);
      const known = this.#byIno.get(ino);
      if (known && known !== this.root && (known.links.length > 0 || known === existing)) {
        node = known; // another name of a known file: a hard link
      } else if (known) {
        // The handler reuses the number of a file the kernel still holds
        // (unlinked but open): the new file gets a number of its own.
        node = this.#make(this.#next++, handlerIno);
      } else {
        node = this.#make(ino, handlerIno);
      }
    }
    if (existing !== node) {
      if (existing) this.#unlink(existing, dir, key, true);
      this.#link(node, dir, key, name);
    }
    node.lookups++;
    return node;
  }

  /**
   * Records a new hard link `key` in `dir` of `node` (the kernel takes a
   * lookup for it).
   *
   * @param node the linked file
   * @param dir the directory of the new name
   * @param key its key
   * @param name the new name
   */
  addLink(node: PathNode, dir: PathNode, key: string, name: PathName): void {
    const existing = dir.children?.get(key);
    if (existing !== node) {
      if (existing) this.#unlink(existing, dir, key, true);
      this.#link(node, dir, key, name);
    }
    node.lookups++;
  }

  /**
   * Records the removal of entry `key` of `dir` (unlink, rmdir): its node
   * loses that name, and lives on while the kernel or an open handle holds it.
   *
   * @param dir the directory
   * @param key the removed entry
   */
  remove(dir: PathNode, key: string): void {
    const node = dir.children?.get(key);
    if (node) this.#unlink(node, dir, key, true);
  }

  /**
   * Records a rename (`flags` as renameat2's): the entry's node, and with
   * it every node below it, is known under the new name; a replaced entry
   * loses its name; RENAME_EXCHANGE (2) swaps the two.
   *
   * @param fromDir the old directory
   * @param fromKey the old entry's key
   * @param toDir the new directory
   * @param toKey the new entry's key
   * @param fromName the old name
   * @param toName the new name
   * @param flags renameat2's flags
   */
  rename(
    fromDir: PathNode,
    fromKey: string,
    toDir: PathNode,
    toKey: string,
    fromName: PathName,
    toName: PathName,
    flags: number,
  ): void {
    const src = fromDir.children?.get(fromKey);
    const dst = toDir.children?.get(toKey);
    if (src !== undefined && src === dst) return; // two names of one file: nothing moves
    // Unlink first without freeing, so that a directory left without known
    // entries for a moment is not dropped.
    if (src) this.#unlink(src, fromDir, fromKey, false);
    if (dst) this.#unlink(dst, toDir, toKey, false);
    if (src) this.#link(src, toDir, toKey, toName);
    if (dst && flags & 2) this.#link(dst, fromDir, fromKey, fromName);
    if (dst) this.#maybeDrop(dst);
    this.#maybeDrop(fromDir);
  }

  /**
   * Gives back `count` lookups of `ino` (FORGET); drops the node once
   * nothing holds it.
   *
   * @param ino the inode number
   * @param count lookups given back
   */
  forget(ino: number, count: number): void {
    const node = this.#byIno.get(ino);
    if (!node || node === this.root) return;
    node.lookups = Math.max(0, node.lookups - count);
    this.#maybeDrop(node);
  }

  /**
   * Records that the layer opened a handle on `node`.
   *
   * @param node the node
   */
  opened(node: PathNode): void {
    node.opens++;
  }

  /**
   * Records that the layer closed a handle on `node`; drops the node once
   * nothing holds it.
   *
   * @param node the node
   */
  closed(node: PathNode): void {
    node.opens--;
    this.#maybeDrop(node);
  }

  /**
   * Every node with its path and counts, for tests and debugging.
   *
   * @returns one row per node, the root first
   */
  dump(): { ino: number; path: Path | null; lookups: number; opens: number }[] {
    return [...this.#byIno.values()].map((n) => ({
      ino: n.ino,
      path: this.path(n),
      lookups: n.lookups,
      opens: n.opens,
    }));
  }

  #make(ino: number, handlerIno: number): PathNode {
    const node = new PathNode(ino, handlerIno);
    this.#byIno.set(ino, node);
    return node;
  }

  #link(node: PathNode, dir: PathNode, key: string, name: PathName): void {
    (dir.children ??= new Map()).set(key, node);
    node.links.push({ parent: dir, key, name });
    if (node.links.length === 1) this.#gen++;
  }

  #unlink(node: PathNode, dir: PathNode, key: string, drop: boolean): void {
    const links = node.links;
    for (let i = 0; i < links.length; i++) {
      if (links[i].parent === dir && links[i].key === key) {
        links.splice(i, 1);
        break;
      }
    }
    if (dir.children?.get(key) === node) dir.children.delete(key);
    this.#gen++;
    if (drop) {
      this.#maybeDrop(node);
      this.#maybeDrop(dir);
    }
  }

  #maybeDrop(node: PathNode): void {
    if (node === this.root || node.lookups > 0 || node.opens > 0) return;
    if (node.children !== null && node.children.size > 0) return;
    if (this.#byIno.get(node.ino) !== node) return;
    this.#byIno.delete(node.ino);
    const parents = node.links.splice(0);
    for (const link of parents) {
      if (link.parent.children?.get(link.key) === node) link.parent.children.delete(link.key);
    }
    if (parents.length > 0) this.#gen++;
    for (const link of parents) this.#maybeDrop(link.parent);
  }
}

/**
 * The rows of examples/sqlitefs.ts (inodes, directory entries, xattrs) and
 * its transactions.
 *
 * Transactions: changes go into one open write transaction, the batch.
 * Every request runs inside it under a savepoint, so a request that fails
 * half way (disk full, I/O error) leaves nothing behind, and a commit always
 * falls between requests: whatever was committed is a state the filesystem
 * was in. The batch is committed
 *
 * - by fsync and fsyncdir, before they answer: that is the durability
 *   promise (any fsync commits every change made so far, not just its
 *   file's);
 * - `commitMs` after its first change (default 1 s, `-o commit=`), so that
 *   a crash loses at most about that much unsynced work, as the kernel's
 *   own filesystems lose their unwritten-back pages;
 * - when it has written {@link BATCH_BYTES} of file data, to bound the WAL;
 * - at unmount.
 *
 * Every commit is synced (`synchronous = FULL`: the WAL is fsynced before
 * COMMIT returns), so a commit survives a power cut as well as `kill -9`;
 * between fsyncs that is one fsync per second at most, plus one per
 * {@link BATCH_BYTES}.
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";
import * as fuse from "../../mod.ts";
import type { FlockLocks, PosixLocks } from "./lock_table.ts";
import { arrayStatement, BlockStore } from "./sqlite_blocks.ts";
import { Listings, type TypedEntry } from "./sqlite_listings.ts";
import type { Owned } from "./posix_rules.ts";
import { StoredInode } from "./stored_inode.ts";

/** A batch is committed once it has written this much file data. */
export const BATCH_BYTES = 64 << 20;

const SQLITE_FULL = 13;
const NO_SUCH_ATTRIBUTE = new fuse.FUSEError(fuse.errno.ENODATA);
const NO_SPACE = new fuse.FUSEError(fuse.errno.ENOSPC);
/** Pages kept free under a size limit for the b-tree splits of any one request. */
const SPLIT_RESERVE_PAGES = 32;
/** Blob bytes spread over overflow pages with a 4-byte link each, plus cell headers: a margin. */
const PAGE_OVERHEAD = 1.01;

/** An inode: its row, plus what only lives while mounted (references, locks). */
export class Node extends StoredInode implements Owned {
  /** Whether any xattr is set: spares a query for every security.capability probe. */
  hasXattrs = false;
  /** References the kernel holds (lookups minus forgets). */
  lookups = 0;
  /** Open file and directory handles. */
  opens = 0;
  /** An O_TMPFILE file opened without O_EXCL and not linked yet (linkat may name it). */
  linkable = false;
  /** Its row was lost with a batch SQLite rolled back; handles to it fail. */
  gone = false;
  /** fcntl and flock locks, created on first use. */
  posixLocks?: PosixLocks;
  flocks?: FlockLocks;
}

/** The columns of a new inode. */
export interface NewInode {
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  size: number;
  nowNs: bigint;
  parent: number;
  target: Uint8Array | null;
}

export type { TypedEntry };
/** A directory entry with its inode, for READDIRPLUS. */
export type FullEntry = [cookie: number, name: Uint8Array, node: Node];

/**
 * The most directory entries whose plain listings are kept in memory
 * ({@link Listings}): about 10 MiB of names and numbers.
 */
const LISTED_ENTRIES = 65_536;

/** Rows, statements and the batch transaction of one mounted database. */
export class Store {
  /** File data. */
  readonly blocks: BlockStore;
  /** Called after a failed request was undone; cached inodes must be re-read. */
  onUndo: () => void = () => {};
  #inodeCount: number;
  #maxPages: number | undefined;
  readonly #pageSize: number;
  #nextCookie: number;
  #inBatch = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #commitMs: number;
  readonly #s: Record<string, StatementSync>;
  /** Plain listings of directories unchanged since they were last read. */
  readonly #listings = new Listings(LISTED_ENTRIES);

  /**
   * @param db the open connection (see openDatabase)
   * @param commitMs how long a batch may stay open after its first change
   */
  constructor(readonly db: DatabaseSync, commitMs: number) {
    this.#commitMs = commitMs;
    this.blocks = new BlockStore(db);
    this.#s = prepareAll(db);
    this.#pageSize = this.#number("PRAGMA page_size");
    this.#inodeCount = this.#number("SELECT count(*) FROM inodes");
    this.#nextCookie = this.#number("SELECT coalesce(max(cookie), 2) + 1 FROM dentries");
  }

  /** How many inodes exist, unlinked ones still held included. */
  get inodeCount(): number {
    return this.#inodeCount;
  }

  /** Whether changes are waiting for a commit. */
  get pending(): boolean {
    return this.#inBatch;
  }

  // ---- inodes ----

  /** The inode's row, or undefined. */
  load(ino: number): Node | undefined {
    const row = this.#s.load.get(ino) as unknown as InodeRow | undefined;
    return row ? fill(new Node(ino), row) : undefined;
  }

  /** Re-reads a cached inode's row into it; false if the row is gone. */
  reload(node: Node): boolean {
    const row = this.#s.load.get(node.ino) as unknown as InodeRow | undefined;
    if (row) fill(node, row);
    return row !== undefined;
  }

  /** Inserts an inode; returns it (its number is the new rowid). */
  insert(n: NewInode): Node {
    const { lastInsertRowid } = this.#s.insert.run(
      n.mode,
      n.nlink,
      n.uid,
      n.gid,
      n.rdev,
      n.size,
      n.nowNs,
      n.nowNs,
      n.nowNs,
      n.parent,
      n.target,
      n.nowNs,
    );
    this.#inodeCount++;
    const node = new Node(Number(lastInsertRowid));
    Object.assign(node, { mode: n.mode, nlink: n.nlink, uid: n.uid, gid: n.gid, rdev: n.rdev });
    Object.assign(node, { size: n.size, parent: n.parent, target: n.target });
    node.atimeNs = node.mtimeNs = node.ctimeNs = n.nowNs;
    node.btimeNs = n.nowNs;
    return node;
  }

  /** Writes the inode's attributes back to its row. */
  save(node: Node): void {
    this.#s.save.run(
      node.mode,
      node.nlink,
      node.uid,
      node.gid,
      node.size,
      node.alloc,
      node.atimeNs,
      node.mtimeNs,
      node.ctimeNs,
      node.parent,
      node.ino,
    );
  }

  /** Deletes an inode with its data and xattrs. */
  purge(ino: number): void {
    this.blocks.removeAll(ino);
    this.#s.deleteXattrs.run(ino);
    this.#s.deleteInode.run(ino);
    // SQLite may give its number to the next inode.
    this.#listings.forget(ino);
    this.#inodeCount--;
  }

  /** Deletes every inode left without links (by a crash, or held until unmount). */
  purgeUnlinked(): number {
    const rows = this.#s.unlinked.all() as unknown as [number][];
    for (const [ino] of rows) this.purge(ino);
    return rows.length;
  }

  // ---- directory entries ----

  /** The inode `name` in `parent` refers to, or 0. */
  lookup(parent: number, name: Uint8Array): number {
    const row = this.#s.lookup.get(parent, name) as unknown as [number] | undefined;
    return row ? row[0] : 0;
  }

  /** Adds an entry with a fresh cookie (after every existing one). */
  addEntry(parent: number, name: Uint8Array, ino: number): void {
    this.#listings.forget(parent);
    this.#s.addEntry.run(parent, name, ino, this.#nextCookie++);
  }

  /** Removes an entry. */
  removeEntry(parent: number, name: Uint8Array): void {
    this.#listings.forget(parent);
    this.#s.removeEntry.run(parent, name);
  }

  /** Points an existing entry at another inode (RENAME_EXCHANGE keeps names and cookies). */
  retarget(parent: number, name: Uint8Array, ino: number): void {
    this.#listings.forget(parent);
    this.#s.retarget.run(ino, parent, name);
  }

  /**
   * Up to `limit` entries of `parent` with cookies above `after`, in cookie
   * order. A directory of up to {@link LISTED_ENTRIES} entries is read
   * whole once and then listed from memory until it changes.
   */
  typedEntries(parent: number, after: number, limit: number): TypedEntry[] {
    const kept = this.#listings.slice(parent, after, limit);
    if (kept) return kept;
    if (this.#listings.tooLarge(parent)) {
      return this.#s.typedEntries.all(parent, after, limit) as unknown as TypedEntry[];
    }
    const count = this.#s.countEntries.get(parent) as unknown as [number];
    if (count[0] > this.#listings.capacity) {
      this.#listings.markTooLarge(parent);
      return this.#s.typedEntries.all(parent, after, limit) as unknown as TypedEntry[];
    }
    const all = this.#s.typedEntries.all(parent, 0, -1) as unknown as TypedEntry[];
    this.#listings.keep(parent, all);
    return this.#listings.slice(parent, after, limit) ?? [];
  }

  /** Like {@link typedEntries}, with each inode read in the same query. */
  fullEntries(parent: number, after: number, limit: number): FullEntry[] {
    const rows = this.#s.fullEntries.all(parent, after, limit) as unknown as EntryRow[];
    return rows.map((
      r,
    ) => [Number(r[0]), r[1], fill(new Node(Number(r[2])), r.slice(3) as InodeRow)]);
  }

  // ---- extended attributes ----

  /** The value of an xattr; throws ENODATA if unset. */
  getXattr(node: Node, name: Uint8Array): Uint8Array {
    if (!node.hasXattrs) throw NO_SUCH_ATTRIBUTE;
    const row = this.#s.getXattr.get(node.ino, name) as unknown as [Uint8Array] | undefined;
    if (!row) throw NO_SUCH_ATTRIBUTE;
    return row[0];
  }

  /** Whether the xattr is set. */
  hasXattr(node: Node, name: Uint8Array): boolean {
    return node.hasXattrs && this.#s.getXattr.get(node.ino, name) !== undefined;
  }

  /** Sets an xattr. */
  setXattr(node: Node, name: Uint8Array, value: Uint8Array): void {
    this.#s.setXattr.run(node.ino, name, value);
    node.hasXattrs = true;
  }

  /** Removes an xattr; false if it was not set. */
  removeXattr(node: Node, name: Uint8Array): boolean {
    if (!node.hasXattrs || this.#s.removeXattr.run(node.ino, name).changes === 0) return false;
    node.hasXattrs = this.#s.anyXattr.get(node.ino) !== undefined;
    return true;
  }

  /** The names of the inode's xattrs. */
  listXattrs(node: Node): Uint8Array[] {
    if (!node.hasXattrs) return [];
    return (this.#s.listXattrs.all(node.ino) as unknown as [Uint8Array][]).map((r) => r[0]);
  }

  // ---- space ----

  /**
   * Bytes of the database file in use, free inside it, and how far it may
   * still grow under {@link limit} (Infinity without one).
   */
  usage(): { usedBytes: number; freeBytes: number; growBytes: number } {
    const page = this.#number("PRAGMA page_size");
    const pages = this.#number("PRAGMA page_count");
    const free = this.#number("PRAGMA freelist_count");
    const max = this.#maxPages;
    const growBytes = max === undefined ? Infinity : Math.max(0, max - pages) * page;
    return { usedBytes: (pages - free) * page, freeBytes: free * page, growBytes };
  }

  /**
   * Caps the database at `maxBytes` (SQLite's max_page_count, which holds
   * for this connection only: the cap is a mount option, not stored).
   * Allocating a page beyond it fails with SQLITE_FULL, which undoes the
   * request and answers ENOSPC.
   */
  limit(maxBytes: number): void {
    const page = this.#number("PRAGMA page_size");
    // SQLite never sets it below the current size.
    this.#maxPages = this.#number(`PRAGMA max_page_count = ${Math.floor(maxBytes / page)}`);
  }

  // ---- transactions ----

  /**
   * Runs one request's changes in the batch, under a savepoint: if `fn`
   * throws, none of its changes stay. A database error becomes EIO (ENOSPC
   * when the disk is full), and {@link onUndo} is called so that cached
   * inodes can be re-read.
   *
   * @param fn the request's changes
   * @param adds bytes the request adds, for a request that may need pages:
   *   under a {@link limit} it fails with ENOSPC up front when they might not
   *   fit (requests that only free space pass nothing)
   */
  change<T>(fn: () => T, adds?: number): T {
    if (adds !== undefined && this.#maxPages !== undefined) this.#checkRoom(adds);
    if (!this.#inBatch) this.#begin();
    this.#s.savepoint.run();
    let result: T;
    try {
      result = fn();
    } catch (error) {
      this.#undo(error);
      throw asFuseError(error);
    }
    this.#s.release.run();
    if (this.blocks.written >= BATCH_BYTES) this.commit();
    return result;
  }

  /** Commits the batch (synced: see the module comment); nothing to do if none is open. */
  commit(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.#inBatch) return;
    try {
      this.#s.commit.run();
    } catch (error) {
      // SQLite keeps the transaction open after some failures (then a
      // later commit retries) and rolls it back after others.
      if (!this.db.isTransaction) this.#lost(error);
      else this.#schedule();
      throw asFuseError(error);
    }
    this.#inBatch = false;
    this.blocks.written = 0;
  }

  /** Commits and closes the connection (which checkpoints the WAL into the database). */
  close(): void {
    try {
      this.commit();
    } finally {
      clearTimeout(this.#timer);
      this.db.close();
    }
  }

  #begin(): void {
    this.#s.begin.run();
    this.#inBatch = true;
    this.#schedule();
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      try {
        this.commit();
      } catch (error) {
        console.error(`sqlitefs: commit failed, will retry: ${(error as Error).message}`);
      }
    }, this.#commitMs);
    // A pending commit must not keep the process alive once unmounted.
    Deno.unrefTimer(this.#timer as unknown as number);
  }

  #undo(error: unknown): void {
    this.#listings.clear();
    if (this.db.isTransaction) {
      this.#s.rollbackTo.run();
      this.#s.release.run();
    } else {
      this.#lost(error);
    }
    if (!(error instanceof fuse.FUSEError)) {
      console.error(`sqlitefs: request undone: ${(error as Error).message}`);
      this.onUndo();
    }
  }

  /** SQLite rolled the whole batch back (it does after some I/O errors). */
  #lost(error: unknown): void {
    this.#inBatch = false;
    this.#listings.clear();
    this.blocks.written = 0;
    console.error(
      `sqlitefs: the changes since the last commit were lost: ${(error as Error).message}`,
    );
    this.#inodeCount = this.#number("SELECT count(*) FROM inodes");
    this.onUndo();
  }

  #number(sql: string): number {
    const row = arrayStatement(this.db, sql).get() as unknown as [number];
    return Number(row[0]);
  }

  /**
   * SQLite answers a page beyond max_page_count with SQLITE_FULL, and for a
   * single-row statement (which keeps no statement journal) it then rolls
   * back the whole transaction: every unsynced change, not just this
   * request. So a request that might not fit is refused before it starts,
   * with room to spare for b-tree splits.
   */
  #checkRoom(adds: number): void {
    const page = this.#pageSize;
    const pages = Number((this.#s.pageCount.get() as unknown as [number])[0]);
    const free = Number((this.#s.freelistCount.get() as unknown as [number])[0]);
    const room = (this.#maxPages! - pages + free) * page;
    if (room < adds * PAGE_OVERHEAD + SPLIT_RESERVE_PAGES * page) throw NO_SPACE;
  }
}

type EntryRow = [cookie: bigint, name: Uint8Array, ino: bigint, ...InodeRow];

type InodeRow = [
  mode: bigint,
  nlink: bigint,
  uid: bigint,
  gid: bigint,
  rdev: bigint,
  size: bigint,
  alloc: bigint,
  atime: bigint,
  mtime: bigint,
  ctime: bigint,
  parent: bigint,
  target: Uint8Array | null,
  hasXattrs: bigint,
  btime: bigint | null,
];

function fill(node: Node, r: InodeRow): Node {
  node.mode = Number(r[0]);
  node.nlink = Number(r[1]);
  node.uid = Number(r[2]);
  node.gid = Number(r[3]);
  node.rdev = Number(r[4]);
  node.size = Number(r[5]);
  node.alloc = Number(r[6]);
  node.atimeNs = r[7];
  node.mtimeNs = r[8];
  node.ctimeNs = r[9];
  node.parent = Number(r[10]);
  node.target = r[11];
  node.hasXattrs = r[12] !== 0n;
  node.btimeNs = r[13];
  return node;
}

function asFuseError(error: unknown): unknown {
  if (error instanceof fuse.FUSEError) return error;
  const full = (error as { errcode?: number }).errcode === SQLITE_FULL;
  return new fuse.FUSEError(full ? fuse.errno.ENOSPC : fuse.errno.EIO);
}

function prepareAll(db: DatabaseSync): Record<string, StatementSync> {
  const columns = `i.mode, i.nlink, i.uid, i.gid, i.rdev, i.size, i.alloc, i.atime, i.mtime,
    i.ctime, i.parent, i.target, EXISTS (SELECT 1 FROM xattrs x WHERE x.ino = i.ino), i.btime`;
  const load = arrayStatement(db, `SELECT ${columns} FROM inodes i WHERE ino = ?`);
  const fullEntries = arrayStatement(
    db,
    `SELECT d.cookie, d.name, d.ino, ${columns} FROM dentries d JOIN inodes i ON i.ino = d.ino
     WHERE d.parent = ? AND d.cookie > ? ORDER BY d.cookie LIMIT ?`,
  );
  // Times exceed 2^53 ns: these rows come as bigints, which fill() converts.
  load.setReadBigInts(true);
  fullEntries.setReadBigInts(true);
  return {
    load,
    insert: db.prepare(
      `INSERT INTO inodes (mode, nlink, uid, gid, rdev, size, atime, mtime, ctime, parent, target,
       btime) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    save: db.prepare(
      `UPDATE inodes SET mode = ?, nlink = ?, uid = ?, gid = ?, size = ?, alloc = ?, atime = ?,
       mtime = ?, ctime = ?, parent = ? WHERE ino = ?`,
    ),
    deleteInode: db.prepare("DELETE FROM inodes WHERE ino = ?"),
    unlinked: arrayStatement(db, "SELECT ino FROM inodes WHERE nlink = 0"),
    lookup: arrayStatement(db, "SELECT ino FROM dentries WHERE parent = ? AND name = ?"),
    addEntry: db.prepare("INSERT INTO dentries (parent, name, ino, cookie) VALUES (?, ?, ?, ?)"),
    removeEntry: db.prepare("DELETE FROM dentries WHERE parent = ? AND name = ?"),
    retarget: db.prepare("UPDATE dentries SET ino = ? WHERE parent = ? AND name = ?"),
    typedEntries: arrayStatement(
      db,
      `SELECT d.cookie, d.name, d.ino, i.mode & ${fuse.S_IFMT} FROM dentries d
       JOIN inodes i ON i.ino = d.ino WHERE d.parent = ? AND d.cookie > ? ORDER BY d.cookie LIMIT ?`,
    ),
    countEntries: arrayStatement(db, "SELECT count(*) FROM dentries WHERE parent = ?"),
    fullEntries,
    getXattr: arrayStatement(db, "SELECT value FROM xattrs WHERE ino = ? AND name = ?"),
    setXattr: db.prepare("INSERT OR REPLACE INTO xattrs (ino, name, value) VALUES (?, ?, ?)"),
    removeXattr: db.prepare("DELETE FROM xattrs WHERE ino = ? AND name = ?"),
    anyXattr: arrayStatement(db, "SELECT 1 FROM xattrs WHERE ino = ? LIMIT 1"),
    listXattrs: arrayStatement(db, "SELECT name FROM xattrs WHERE ino = ? ORDER BY name"),
    deleteXattrs: db.prepare("DELETE FROM xattrs WHERE ino = ?"),
    pageCount: arrayStatement(db, "PRAGMA page_count"),
    freelistCount: arrayStatement(db, "PRAGMA freelist_count"),
    begin: db.prepare("BEGIN"),
    commit: db.prepare("COMMIT"),
    savepoint: db.prepare("SAVEPOINT request"),
    release: db.prepare("RELEASE request"),
    rollbackTo: db.prepare("ROLLBACK TO request"),
  };
}

/**
 * sqlitefs: a persistent read-write filesystem in one SQLite database, on
 * Deno's built-in `node:sqlite`, with the POSIX behaviour of
 * examples/tmpfs.ts (and so of the kernel's tmpfs).
 *
 *     deno run --allow-ffi --allow-read --allow-write examples/sqlitefs.ts \
 *       [-o opt,...] DATABASE MOUNTPOINT
 *
 * A missing (or empty) DATABASE is created; an existing one must be a
 * sqlitefs database, undamaged, and not mounted elsewhere, or it is refused
 * with a message saying so and what to do, untouched. Besides the usual
 * FUSE options, `-o` takes `commit=SECONDS` (how long changes may wait for
 * a commit when nobody calls fsync; default 1) and, for a new database,
 * `mode=` (octal), `uid=` and `gid=` of the root directory (default 0755
 * and this process). Stays in the foreground; Ctrl-C or SIGTERM commits
 * and unmounts.
 *
 * Design notes (the schema: examples/lib/sqlite_schema.ts; transactions:
 * examples/lib/sqlite_store.ts; file data: examples/lib/sqlite_blocks.ts):
 *
 * - Durability: every change goes into one open transaction, committed by
 *   fsync/fsyncdir before they answer, one second after its first change,
 *   every 64 MiB of data, and at unmount; commits are synced WAL commits.
 *   What an fsync acknowledged therefore survives `kill -9` (and a power
 *   cut) at any moment; unsynced changes of the last second may be lost,
 *   whole requests at a time. `syncfs(2)` never reaches a FUSE server (the
 *   kernel sends FUSE_SYNCFS only to virtiofs), so it is covered by the
 *   one-second commit, not by a commit of its own.
 * - Inode numbers are rowids. The inodes the kernel holds a reference to
 *   (or that are open) are cached in memory, which is where lookup counts
 *   and locks live; their rows are written through on every change. An
 *   inode without links stays (nlink 0) until forgotten and closed; any
 *   left by a crash are deleted at the next mount.
 * - Timestamps are nanoseconds in a signed 64-bit column (years 1677 to
 *   2262); times outside are clamped, as the kernel clamps times to a
 *   filesystem's range.
 * - fallocate does not reserve space (blocks are written when data
 *   arrives); it extends the size, punches holes and zeroes ranges.
 * - Entry and attribute timeouts are 0 and there is no flush handler, for
 *   the reasons given in examples/tmpfs.ts.
 *
 * @module
 */

import { dirname, resolve } from "node:path";
import * as fuse from "../mod.ts";
import {
  acquireLibc,
  AT,
  check,
  cstr,
  fstatvfs,
  O,
  type PosixLibc,
  releaseLibc,
} from "../posix.ts";
import { runFromCommandLine } from "./lib/cli.ts";
import { FlockLocks, PosixLocks } from "./lib/lock_table.ts";
import {
  BOGO_DIRENT_SIZE,
  checkName,
  checkSticky,
  checkXattrName,
  Clock,
  killPriv,
  mayAccess,
  NAME_MAX,
  newInodeMode,
  PERMISSION_BITS,
  relatimeDue,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  S_IFSOCK,
  visibleXattrs,
  XATTR_SIZE_MAX,
} from "./lib/posix_rules.ts";
import { BLOCK_SIZE, openDatabase } from "./lib/sqlite_schema.ts";
import { type Node, Store } from "./lib/sqlite_store.ts";

export { BLOCK_SIZE, NAME_MAX };
export { DatabaseRefused } from "./lib/sqlite_schema.ts";

const O_ACCMODE = 0o3;
const O_RDONLY = 0o0;
const O_EXCL = 0o200;
const O_TRUNC = 0o1000;
const FALLOC_FL_KEEP_SIZE = 0x01;
const FALLOC_FL_PUNCH_HOLE = 0x02;
const FALLOC_FL_ZERO_RANGE = 0x10;
const SEEK_DATA = 3;
const SEEK_HOLE = 4;
const RENAME_NOREPLACE = 1;
const RENAME_EXCHANGE = 2;
const XATTR_CREATE = 1;
const XATTR_REPLACE = 2;

/** Largest file size: offsets beyond it could not be represented exactly. */
const MAX_FILE_SIZE = Number.MAX_SAFE_INTEGER;
/** statfs counts in units of this size. */
const STATFS_BLOCK = 4096;
/** Size of an empty directory: "." and "..", as the kernel's tmpfs counts. */
const EMPTY_DIR_SIZE = 2 * BOGO_DIRENT_SIZE;
/** Entries fetched per query while listing a directory. */
const READDIR_CHUNK = 128;
const I64_MAX = (1n << 63n) - 1n;
const I64_MIN = -(1n << 63n);

const DOT = new Uint8Array([0x2e]);
const DOTDOT = new Uint8Array([0x2e, 0x2e]);

// Everyday answers made once: constructing an Error costs about 1 µs.
const NO_SUCH_ENTRY = new fuse.FUSEError(fuse.errno.ENOENT);
const NO_SUCH_ATTRIBUTE = new fuse.FUSEError(fuse.errno.ENODATA);

/** An open regular file. */
interface OpenFile {
  node: Node;
  flags: number;
  /** Who opened it: write requests carry no caller, and set-id clearing depends on it. */
  opener: { uid: number; gid: number };
}

/** Settings of a {@link SqliteFs}. */
export interface SqliteFsOptions {
  /** Longest time a change waits for a commit when nobody calls fsync (ms); default 1000. */
  commitMs?: number;
  /** Permission bits of the root directory of a new database; default 0o755. */
  rootMode?: number;
  /** Owner of the root directory of a new database; default this process's uid. */
  rootUid?: number;
  /** Group of the root directory of a new database; default this process's gid. */
  rootGid?: number;
}

/**
 * A persistent filesystem in one SQLite database: regular files,
 * directories, symlinks, hard links, FIFOs, sockets and device nodes,
 * extended attributes, nanosecond times, sparse files, the POSIX rules of
 * examples/tmpfs.ts, and durability at fsync. Mount it with
 * `default_permissions`. {@link close} it after unmounting.
 *
 * @example
 * ```ts ignore
 * import { mount } from "../mod.ts";
 * import { SqliteFs } from "./sqlitefs.ts";
 * const fs = new SqliteFs("/var/tmp/fs.db");
 * try {
 *   await using m = mount(fs, "/mnt/db");
 *   await Deno.writeTextFile("/mnt/db/a", "kept");
 * } finally {
 *   fs.close();
 * }
 * ```
 */
export class SqliteFs implements fuse.Operations {
  /** Plain READDIR when the kernel needs no attributes; only READDIRPLUS entries are lookups. */
  readonly enableReaddirplusAuto = true;
  /** The database file. */
  readonly path: string;
  readonly #store: Store;
  /** Inodes the kernel or an open handle holds, and the root. */
  readonly #nodes = new Map<number, Node>();
  /** Inodes loaded during the current request that nothing may hold afterwards. */
  readonly #transient: Node[] = [];
  readonly #files = new Map<number, OpenFile>();
  readonly #dirs = new Map<number, Node>();
  readonly #clock = new Clock();
  /** The database's directory (O_PATH), whose filesystem's free space statfs reports. */
  readonly #hostDir: number;
  readonly #libc: PosixLibc;
  #nextFh = 1;
  #closed = false;

  /**
   * Opens (or creates) the database and deletes inodes a crash left
   * without links.
   *
   * @param path the database file
   * @param options commit interval and a new root's attributes
   * @throws {DatabaseRefused} if the file is not a sqlitefs database, is damaged or is in use
   */
  constructor(path: string, options: SqliteFsOptions = {}) {
    const commitMs = options.commitMs ?? 1000;
    if (!(commitMs > 0)) {
      throw new RangeError(`SqliteFs: commitMs must be positive, got ${commitMs}`);
    }
    this.path = resolve(path);
    const ids = options.rootUid === undefined || options.rootGid === undefined
      ? fuse.processIds()
      : { uid: 0, gid: 0 };
    const { db } = openDatabase(this.path, {
      uid: options.rootUid ?? ids.uid,
      gid: options.rootGid ?? ids.gid,
      mode: options.rootMode ?? 0o755,
    }, this.#clock.now());
    this.#store = new Store(db, commitMs);
    this.#store.onUndo = () => this.#reloadCache();
    this.#libc = acquireLibc();
    const flags = O.O_PATH | O.O_DIRECTORY | O.O_CLOEXEC;
    this.#hostDir = this.#libc.openat(AT.FDCWD, cstr(dirname(this.path)), flags, 0);
    try {
      check(this.#hostDir);
      this.#store.change(() => this.#store.purgeUnlinked());
      this.#store.commit();
      const root = this.#store.load(fuse.ROOT_INODE);
      if (!root) throw new Error(`${this.path}: the root directory is missing`);
      this.#nodes.set(root.ino, root);
    } catch (error) {
      this.#releaseHost();
      this.#store.close();
      throw error;
    }
  }

  /** How many inodes exist, unlinked ones still held included. */
  get inodeCount(): number {
    return this.#store.inodeCount;
  }

  /** How many inodes are held in memory (the root, and those the kernel or a handle holds). */
  get cachedInodes(): number {
    return this.#nodes.size;
  }

  /** How many file and directory handles are open. */
  get openHandles(): number {
    return this.#files.size + this.#dirs.size;
  }

  /** Whether changes are waiting for a commit. */
  get uncommitted(): boolean {
    return this.#store.pending;
  }

  /** Commits pending changes and closes the database; call after unmounting. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#nodes.clear();
    this.#releaseHost();
    this.#store.close();
  }

  #releaseHost(): void {
    if (this.#hostDir >= 0) this.#libc.close(this.#hostDir);
    releaseLibc();
  }

  /** Unmounting: nothing can reach an unlinked inode any more, so it goes, and all is committed. */
  destroy(): void {
    if (this.#closed) return;
    this.#change(() => this.#store.purgeUnlinked());
    this.#store.commit();
  }

  // ---- lookups and attributes ----

  /** Looks `name` up in directory `parentInode` ("." and ".." too). */
  lookup(parentInode: fuse.Inode, name: Uint8Array): fuse.EntryAttributes {
    checkName(name);
    const dir = this.#dirNode(parentInode);
    let ino: number;
    if (isDot(name)) ino = dir.ino;
    else if (isDotDot(name)) ino = dir.parent;
    else ino = this.#store.lookup(dir.ino, name);
    if (ino === 0) throw NO_SUCH_ENTRY;
    const node = this.#node(ino);
    node.lookups++;
    this.#sweep();
    return this.#attr(node);
  }

  /** Drops kernel references; an inode nothing holds leaves the cache, or the database if unlinked. */
  forget(inodeList: Array<[fuse.Inode, number]>): void {
    for (const [ino, count] of inodeList) {
      const node = this.#nodes.get(ino);
      if (!node) continue;
      node.lookups = Math.max(0, node.lookups - count);
      this.#drop(node);
    }
  }

  /** The attributes of `inode`. */
  getattr(inode: fuse.Inode): fuse.EntryAttributes {
    const attr = this.#attr(this.#node(inode));
    this.#sweep();
    return attr;
  }

  /** chmod, chown, truncate and utimens. */
  setattr(
    inode: fuse.Inode,
    attr: fuse.EntryAttributes,
    fields: fuse.SetattrFields,
    _fh: fuse.FileHandle | null,
    ctx: fuse.RequestContext,
  ): fuse.EntryAttributes {
    return this.#change(() => {
      const node = this.#node(inode);
      if (fields.updateSize) {
        if (node.isDir) throw new fuse.FUSEError(fuse.errno.EISDIR);
        if (!node.isRegular) throw new fuse.FUSEError(fuse.errno.EINVAL);
        if (attr.stSize > MAX_FILE_SIZE) throw new fuse.FUSEError(fuse.errno.EFBIG);
      }
      if (fields.updateAtime) this.#clock.observe(attr.stAtimeNs);
      if (fields.updateMtime) this.#clock.observe(attr.stMtimeNs);
      const now = this.#clock.now();
      if (fields.updateSize) {
        this.#store.blocks.truncate(node, attr.stSize);
        // Even to the current size, as the kernel's tmpfs does.
        node.mtimeNs = now;
        // Root (CAP_FSETID) keeps its set-id bits; capabilities are not visible here.
        if (ctx.uid !== 0) node.mode = killPriv(node, ctx);
      }
      if (fields.updateUid || fields.updateGid) {
        // chown clears set-id bits even when root does it.
        node.mode = killPriv(node, ctx);
        if (fields.updateUid) node.uid = attr.stUid;
        if (fields.updateGid) node.gid = attr.stGid;
      }
      if (fields.updateMode) node.mode = (node.mode & S_IFMT) | (attr.stMode & PERMISSION_BITS);
      if (fields.updateAtime) node.atimeNs = clampNs(attr.stAtimeNs);
      if (fields.updateMtime) node.mtimeNs = clampNs(attr.stMtimeNs);
      // Every attribute change is a status change.
      node.ctimeNs = fields.updateCtime ? clampNs(attr.stCtimeNs) : now;
      this.#store.save(node);
      return this.#attr(node);
    });
  }

  /** Whether `ctx` may access `inode` with `mode`; only asked when mounted without `default_permissions`. */
  access(inode: fuse.Inode, mode: number, ctx: fuse.RequestContext): boolean {
    const granted = mayAccess(this.#node(inode), mode, ctx);
    this.#sweep();
    return granted;
  }

  /**
   * Usage in 4 KiB units: the database's pages in use, and as free space
   * the free pages inside it plus what the filesystem holding it has free.
   */
  statfs(): fuse.StatvfsData {
    const { usedBytes, freeBytes } = this.#store.usage();
    const host = fstatvfs(this.#hostDir);
    const free = Math.floor((freeBytes + host.bavail * host.frsize) / STATFS_BLOCK);
    const used = Math.ceil(usedBytes / STATFS_BLOCK);
    return new fuse.StatvfsData({
      fBsize: STATFS_BLOCK,
      fFrsize: STATFS_BLOCK,
      fBlocks: used + free,
      fBfree: free,
      fBavail: free,
      fFiles: this.#store.inodeCount + free,
      fFfree: free,
      fFavail: free,
      fNamemax: NAME_MAX,
    });
  }

  // ---- creating and removing names ----

  /** Creates a regular file, FIFO, socket or device node. */
  mknod(
    parentInode: fuse.Inode,
    name: Uint8Array,
    mode: number,
    rdev: number,
    ctx: fuse.RequestContext,
  ): fuse.EntryAttributes {
    const type = (mode & S_IFMT) || S_IFREG;
    if (![S_IFREG, S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK].includes(type)) {
      throw new fuse.FUSEError(fuse.errno.EINVAL);
    }
    const device = type === S_IFCHR || type === S_IFBLK;
    const node = this.#create(parentInode, name, type | (mode & PERMISSION_BITS), ctx, {
      rdev: device ? rdev : 0,
    });
    return this.#attr(node);
  }

  /** Creates a directory. */
  mkdir(
    parentInode: fuse.Inode,
    name: Uint8Array,
    mode: number,
    ctx: fuse.RequestContext,
  ): fuse.EntryAttributes {
    // mkdir(2) honours only the permission and sticky bits; set-group-ID
    // comes from the parent.
    return this.#attr(this.#create(parentInode, name, S_IFDIR | (mode & 0o1777), ctx));
  }

  /** Creates a symbolic link. */
  symlink(
    parentInode: fuse.Inode,
    name: Uint8Array,
    target: Uint8Array,
    ctx: fuse.RequestContext,
  ): fuse.EntryAttributes {
    return this.#attr(this.#create(parentInode, name, S_IFLNK | 0o777, ctx, { target }));
  }

  /** Creates and opens a regular file. */
  create(
    parentInode: fuse.Inode,
    name: Uint8Array,
    mode: number,
    flags: number,
    ctx: fuse.RequestContext,
  ): [fuse.FileInfo, fuse.EntryAttributes] {
    const node = this.#create(parentInode, name, S_IFREG | (mode & PERMISSION_BITS), ctx);
    return [this.#openFile(node, flags, ctx), this.#attr(node)];
  }

  /**
   * Creates and opens a file without a name (O_TMPFILE): owned like any new
   * file, with no links until linkat(2) gives it one.
   */
  tmpfile(
    parentInode: fuse.Inode,
    mode: number,
    flags: number,
    ctx: fuse.RequestContext,
  ): [fuse.FileInfo, fuse.EntryAttributes] {
    const node = this.#change(() => {
      const parent = this.#dirNode(parentInode);
      if (parent.nlink === 0) throw NO_SUCH_ENTRY;
      return this.#newInode(parent, S_IFREG | (mode & PERMISSION_BITS), ctx, 0, {});
    });
    node.linkable = (flags & O_EXCL) === 0;
    this.#hold(node);
    return [this.#openFile(node, flags, ctx), this.#attr(node)];
  }

  /** Adds the hard link `newName` to `inode`. */
  link(
    inode: fuse.Inode,
    newParentInode: fuse.Inode,
    newName: Uint8Array,
  ): fuse.EntryAttributes {
    checkName(newName);
    const node = this.#change(() => {
      const node = this.#node(inode);
      if (node.isDir) throw new fuse.FUSEError(fuse.errno.EPERM);
      if (node.nlink === 0 && !node.linkable) throw NO_SUCH_ENTRY;
      const dir = this.#dirNode(newParentInode);
      if (dir.nlink === 0) throw NO_SUCH_ENTRY;
      if (this.#store.lookup(dir.ino, newName) !== 0) throw new fuse.FUSEError(fuse.errno.EEXIST);
      const now = this.#clock.now();
      this.#addEntry(dir, newName, node, now);
      node.nlink++;
      node.ctimeNs = now;
      this.#store.save(node);
      return node;
    });
    node.linkable = false;
    this.#hold(node);
    return this.#attr(node);
  }

  /** Removes a non-directory name. */
  unlink(parentInode: fuse.Inode, name: Uint8Array, ctx: fuse.RequestContext): void {
    checkName(name);
    this.#change(() => {
      const dir = this.#dirNode(parentInode);
      const node = this.#entryNode(dir, name);
      if (node.isDir) throw new fuse.FUSEError(fuse.errno.EISDIR);
      checkSticky(dir, node, ctx);
      const now = this.#clock.now();
      this.#removeEntry(dir, name, now);
      node.nlink--;
      node.ctimeNs = now;
      this.#store.save(node);
      this.#maybeFree(node);
    });
  }

  /** Removes an empty directory. */
  rmdir(parentInode: fuse.Inode, name: Uint8Array, ctx: fuse.RequestContext): void {
    checkName(name);
    this.#change(() => {
      const dir = this.#dirNode(parentInode);
      const node = this.#entryNode(dir, name);
      if (!node.isDir) throw new fuse.FUSEError(fuse.errno.ENOTDIR);
      if (node.size > EMPTY_DIR_SIZE) throw new fuse.FUSEError(fuse.errno.ENOTEMPTY);
      checkSticky(dir, node, ctx);
      const now = this.#clock.now();
      dir.nlink--;
      this.#removeEntry(dir, name, now);
      this.#kill(node, now);
    });
  }

  /**
   * Moves `nameOld` to `nameNew`, replacing it if allowed; `flags` may be
   * RENAME_NOREPLACE or RENAME_EXCHANGE.
   */
  rename(
    parentInodeOld: fuse.Inode,
    nameOld: Uint8Array,
    parentInodeNew: fuse.Inode,
    nameNew: Uint8Array,
    flags: number,
    ctx: fuse.RequestContext,
  ): void {
    if ((flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) !== 0 || flags === 3) {
      throw new fuse.FUSEError(fuse.errno.EINVAL);
    }
    checkName(nameOld);
    checkName(nameNew);
    this.#change(() => {
      const oldDir = this.#dirNode(parentInodeOld);
      const newDir = this.#dirNode(parentInodeNew);
      const src = this.#entryNode(oldDir, nameOld);
      if (newDir.nlink === 0) throw NO_SUCH_ENTRY;
      const dstIno = this.#store.lookup(newDir.ino, nameNew);
      const dst = dstIno ? this.#node(dstIno) : undefined;
      if (flags & RENAME_EXCHANGE) {
        if (!dst) throw NO_SUCH_ENTRY;
        this.#exchange(oldDir, nameOld, src, newDir, nameNew, dst, ctx);
      } else {
        this.#move(oldDir, nameOld, src, newDir, nameNew, dst, flags, ctx);
      }
    });
  }

  /** The target of a symbolic link. */
  readlink(inode: fuse.Inode): Uint8Array {
    const node = this.#node(inode);
    if (!node.target) throw new fuse.FUSEError(fuse.errno.EINVAL);
    this.#touchAtime(node);
    this.#sweep();
    return node.target;
  }

  // ---- file I/O ----

  /** Opens a regular file; O_TRUNC truncates here (libfuse negotiates atomic O_TRUNC). */
  open(inode: fuse.Inode, flags: number, ctx: fuse.RequestContext): fuse.FileInfo {
    const node = this.#node(inode);
    if (node.isDir) throw new fuse.FUSEError(fuse.errno.EISDIR);
    if (!node.isRegular) throw new fuse.FUSEError(fuse.errno.EINVAL);
    if (flags & O_TRUNC) {
      this.#change(() => {
        this.#store.blocks.truncate(node, 0);
        node.mtimeNs = node.ctimeNs = this.#clock.now();
        if (ctx.uid !== 0) node.mode = killPriv(node, ctx);
        this.#store.save(node);
      });
    }
    return this.#openFile(node, flags, ctx);
  }

  /**
   * Reads from an open file; holes read as zeros. The bytes returned are
   * only valid until the next call on this filesystem.
   */
  read(fh: fuse.FileHandle, off: number, size: number): Uint8Array {
    const node = this.#file(fh).node;
    this.#touchAtime(node);
    return this.#store.blocks.read(node, off, size);
  }

  /** Writes to an open file; only the blocks the write touches are rewritten. */
  write(fh: fuse.FileHandle, off: number, buf: Uint8Array): number {
    const file = this.#file(fh);
    if ((file.flags & O_ACCMODE) === O_RDONLY) throw new fuse.FUSEError(fuse.errno.EBADF);
    if (buf.length === 0) return 0;
    if (off + buf.length > MAX_FILE_SIZE) throw new fuse.FUSEError(fuse.errno.EFBIG);
    const node = file.node;
    this.#change(() => {
      this.#store.blocks.write(node, off, buf);
      node.mtimeNs = node.ctimeNs = this.#clock.now();
      if (file.opener.uid !== 0) node.mode = killPriv(node, file.opener);
      this.#store.save(node);
    });
    return buf.length;
  }

  /** Commits every change made so far (synced) before answering. */
  fsync(fh: fuse.FileHandle, _datasync: boolean): void {
    this.#file(fh);
    this.#store.commit();
  }

  /** Closes an open file; an unlinked file goes with its last handle and reference. */
  release(fh: fuse.FileHandle): void {
    const file = this.#file(fh);
    this.#files.delete(fh);
    this.#letGo(file.node);
  }

  // ---- directories ----

  /** Opens a directory for listing. */
  opendir(inode: fuse.Inode): fuse.FileHandle {
    const node = this.#node(inode);
    if (!node.isDir) throw new fuse.FUSEError(fuse.errno.ENOTDIR);
    const fh = this.#nextFh++;
    this.#dirs.set(fh, node);
    node.opens++;
    this.#hold(node);
    return fh;
  }

  /** Lists entries after cookie `startId`: ".", "..", then entries in creation order. */
  readdir(fh: fuse.FileHandle, startId: number, token: fuse.ReaddirToken): void {
    const node = this.#dirHandle(fh);
    if (node.nlink === 0) return;
    this.#touchAtime(node);
    try {
      // The kernel takes no lookup reference for "." and "..".
      if (startId < 1 && !fuse.readdirReply(token, DOT, this.#attr(node), 1)) return;
      if (startId < 2) {
        const parent = this.#node(node.parent);
        if (!fuse.readdirReply(token, DOTDOT, this.#attr(parent), 2)) return;
      }
      for (let after = Math.max(startId, 2);;) {
        const last = token.plus
          ? this.#listPlus(node, after, token)
          : this.#listTypes(node, after, token);
        if (last < 0) return;
        after = last;
      }
    } finally {
      this.#sweep();
    }
  }

  /**
   * One chunk of a READDIRPLUS listing, each entry's inode read in the same
   * query; every entry sent is a lookup. Returns the last cookie sent, or -1
   * when the listing or the reply buffer is done.
   */
  #listPlus(dir: Node, after: number, token: fuse.ReaddirToken): number {
    const rows = this.#store.fullEntries(dir.ino, after, READDIR_CHUNK);
    for (const [cookie, name, loaded] of rows) {
      const child = this.#nodes.get(loaded.ino) ?? loaded;
      if (!fuse.readdirReply(token, name, this.#attr(child), cookie)) return -1;
      child.lookups++;
      this.#hold(child);
    }
    return rows.length < READDIR_CHUNK ? -1 : rows[rows.length - 1][0];
  }

  /** One chunk of a plain READDIR, which carries only inode numbers and types. */
  #listTypes(dir: Node, after: number, token: fuse.ReaddirToken): number {
    const rows = this.#store.typedEntries(dir.ino, after, READDIR_CHUNK);
    for (const [cookie, name, ino, mode] of rows) {
      const attr = new fuse.EntryAttributes({ stIno: ino, stMode: mode });
      if (!fuse.readdirReply(token, name, attr, cookie)) return -1;
    }
    return rows.length < READDIR_CHUNK ? -1 : rows[rows.length - 1][0];
  }

  /** Commits every change made so far (synced) before answering. */
  fsyncdir(fh: fuse.FileHandle, _datasync: boolean): void {
    this.#dirHandle(fh);
    this.#store.commit();
  }

  /** Closes a directory handle. */
  releasedir(fh: fuse.FileHandle): void {
    const node = this.#dirHandle(fh);
    this.#dirs.delete(fh);
    this.#letGo(node);
  }

  // ---- extended attributes ----

  /** Sets an extended attribute, honouring XATTR_CREATE and XATTR_REPLACE. */
  setxattr(
    inode: fuse.Inode,
    name: Uint8Array,
    value: Uint8Array,
    _ctx: fuse.RequestContext,
    flags: number,
  ): void {
    checkXattrName(name);
    if (value.length > XATTR_SIZE_MAX) throw new fuse.FUSEError(fuse.errno.E2BIG);
    this.#change(() => {
      const node = this.#node(inode);
      const exists = this.#store.hasXattr(node, name);
      if ((flags & XATTR_CREATE) && exists) throw new fuse.FUSEError(fuse.errno.EEXIST);
      if ((flags & XATTR_REPLACE) && !exists) throw NO_SUCH_ATTRIBUTE;
      this.#store.setXattr(node, name, value);
      node.ctimeNs = this.#clock.now();
      this.#store.save(node);
    });
  }

  /** The value of an extended attribute. */
  getxattr(inode: fuse.Inode, name: Uint8Array): Uint8Array {
    checkXattrName(name);
    const node = this.#node(inode);
    try {
      return this.#store.getXattr(node, name);
    } finally {
      this.#sweep();
    }
  }

  /** The names of the extended attributes; trusted.* only for root, as on the kernel's tmpfs. */
  listxattr(inode: fuse.Inode, ctx: fuse.RequestContext): Uint8Array[] {
    const names = this.#store.listXattrs(this.#node(inode));
    this.#sweep();
    return visibleXattrs(names, ctx);
  }

  /** Removes an extended attribute. */
  removexattr(inode: fuse.Inode, name: Uint8Array): void {
    checkXattrName(name);
    this.#change(() => {
      const node = this.#node(inode);
      if (!this.#store.removeXattr(node, name)) throw NO_SUCH_ATTRIBUTE;
      node.ctimeNs = this.#clock.now();
      this.#store.save(node);
    });
  }

  // ---- locks, holes, preallocation (beyond pyfuse3) ----

  /** F_GETLK: the first conflicting lock of another owner. */
  getlk(
    inode: fuse.Inode,
    _fh: fuse.FileHandle,
    owner: bigint,
    lock: fuse.FileLock,
  ): fuse.FileLock {
    const node = this.#node(inode);
    this.#sweep();
    return node.posixLocks?.test(owner, lock) ?? new fuse.FileLock({ ...lock, type: fuse.F_UNLCK });
  }

  /** F_SETLK / F_SETLKW; a waiting lock gives way when the caller is interrupted. */
  async setlk(
    inode: fuse.Inode,
    _fh: fuse.FileHandle,
    owner: bigint,
    lock: fuse.FileLock,
    wait: boolean,
    ctx: fuse.RequestContext,
  ): Promise<void> {
    const node = this.#node(inode);
    this.#sweep();
    node.posixLocks ??= new PosixLocks();
    await node.posixLocks.set(owner, lock, wait, ctx.signal);
  }

  /** flock(2); the kernel sends LOCK_UN for the open file's owner on its last close. */
  async flock(
    inode: fuse.Inode,
    _fh: fuse.FileHandle,
    owner: bigint,
    op: number,
    ctx: fuse.RequestContext,
  ): Promise<void> {
    const node = this.#node(inode);
    this.#sweep();
    node.flocks ??= new FlockLocks();
    await node.flocks.apply(owner, op, ctx.signal);
  }

  /**
   * fallocate(2): extending the size (without reserving space), punching
   * holes and zeroing ranges. Collapsing and inserting ranges are not
   * supported.
   */
  fallocate(fh: fuse.FileHandle, mode: number, offset: number, length: number): void {
    const file = this.#file(fh);
    if ((file.flags & O_ACCMODE) === O_RDONLY) throw new fuse.FUSEError(fuse.errno.EBADF);
    if (length <= 0 || offset < 0) throw new fuse.FUSEError(fuse.errno.EINVAL);
    const end = offset + length;
    if (end > MAX_FILE_SIZE) throw new fuse.FUSEError(fuse.errno.EFBIG);
    const keepSize = (mode & FALLOC_FL_KEEP_SIZE) !== 0;
    const kind = mode & ~FALLOC_FL_KEEP_SIZE;
    if (kind !== 0 && kind !== FALLOC_FL_PUNCH_HOLE && kind !== FALLOC_FL_ZERO_RANGE) {
      throw new fuse.FUSEError(fuse.errno.EOPNOTSUPP);
    }
    if (kind === FALLOC_FL_PUNCH_HOLE && !keepSize) {
      throw new fuse.FUSEError(fuse.errno.EOPNOTSUPP);
    }
    const node = file.node;
    const grows = !keepSize && end > node.size;
    if (kind === 0 && !grows) return;
    this.#change(() => {
      if (kind !== 0) this.#store.blocks.punch(node, offset, length);
      // Growing leaves a hole: blocks are only written when data arrives.
      if (grows) node.size = end;
      node.mtimeNs = node.ctimeNs = this.#clock.now();
      this.#store.save(node);
    });
  }

  /** SEEK_DATA / SEEK_HOLE, at block granularity. */
  lseek(fh: fuse.FileHandle, offset: number, whence: number): number {
    const node = this.#file(fh).node;
    const blocks = this.#store.blocks;
    let at: number;
    if (whence === SEEK_DATA) at = blocks.seekData(node, offset);
    else if (whence === SEEK_HOLE) at = blocks.seekHole(node, offset);
    else throw new fuse.FUSEError(fuse.errno.EINVAL);
    if (at < 0) throw new fuse.FUSEError(fuse.errno.ENXIO);
    return at;
  }

  // ---- internals ----

  /** Runs a request's changes as one unit (see Store.change), then forgets transient inodes. */
  #change<T>(fn: () => T): T {
    try {
      return this.#store.change(fn);
    } finally {
      this.#sweep();
    }
  }

  /** The inode, from the cache or the database (then transient until something holds it). */
  #node(ino: number): Node {
    let node = this.#nodes.get(ino);
    if (node === undefined) {
      node = this.#store.load(ino);
      if (!node) throw NO_SUCH_ENTRY;
      this.#nodes.set(ino, node);
      this.#transient.push(node);
    }
    return node;
  }

  #dirNode(ino: number): Node {
    const node = this.#node(ino);
    if (!node.isDir) throw new fuse.FUSEError(fuse.errno.ENOTDIR);
    return node;
  }

  /** The inode `name` in `dir` refers to; ENOENT if none. */
  #entryNode(dir: Node, name: Uint8Array): Node {
    const ino = this.#store.lookup(dir.ino, name);
    if (ino === 0) throw NO_SUCH_ENTRY;
    return this.#node(ino);
  }

  #file(fh: number): OpenFile {
    const file = this.#files.get(fh);
    if (!file) throw new fuse.FUSEError(fuse.errno.EBADF);
    return file;
  }

  #dirHandle(fh: number): Node {
    const node = this.#dirs.get(fh);
    if (!node) throw new fuse.FUSEError(fuse.errno.EBADF);
    return node;
  }

  /** Keeps a freshly made or loaded inode in the cache (it has a reference or handle now). */
  #hold(node: Node): void {
    this.#nodes.set(node.ino, node);
  }

  /** Drops inodes loaded for one request that nothing holds. */
  #sweep(): void {
    const transient = this.#transient;
    if (transient.length === 0) return;
    for (const node of transient) {
      if (node.lookups === 0 && node.opens === 0 && node.ino !== fuse.ROOT_INODE) {
        this.#nodes.delete(node.ino);
      }
    }
    transient.length = 0;
  }

  /** A handle was closed. */
  #letGo(node: Node): void {
    node.opens--;
    this.#drop(node);
  }

  /** After a forget or close: an inode nothing holds leaves the cache, and if unlinked the database. */
  #drop(node: Node): void {
    if (node.lookups > 0 || node.opens > 0) return;
    if (node.nlink === 0) this.#change(() => this.#maybeFree(node));
    else if (node.ino !== fuse.ROOT_INODE) this.#nodes.delete(node.ino);
  }

  /** Drops an inode nothing holds from the cache, and from the database if it has no links. */
  #maybeFree(node: Node): void {
    if (node.lookups > 0 || node.opens > 0 || node.ino === fuse.ROOT_INODE) return;
    this.#nodes.delete(node.ino);
    if (node.nlink === 0) this.#store.purge(node.ino);
  }

  #openFile(node: Node, flags: number, ctx: fuse.RequestContext): fuse.FileInfo {
    const fh = this.#nextFh++;
    this.#files.set(fh, { node, flags, opener: { uid: ctx.uid, gid: ctx.gid } });
    node.opens++;
    this.#hold(node);
    return new fuse.FileInfo({ fh });
  }

  /**
   * Makes a new inode named `name` in `parentInode` and counts the lookup
   * reference the kernel takes for it.
   */
  #create(
    parentInode: fuse.Inode,
    name: Uint8Array,
    mode: number,
    ctx: fuse.RequestContext,
    extra: { rdev?: number; target?: Uint8Array } = {},
  ): Node {
    checkName(name);
    const node = this.#change(() => {
      const parent = this.#dirNode(parentInode);
      // A removed directory still has an inode while something holds it,
      // but nothing may be created in it.
      if (parent.nlink === 0) throw NO_SUCH_ENTRY;
      if (this.#store.lookup(parent.ino, name) !== 0) throw new fuse.FUSEError(fuse.errno.EEXIST);
      const node = this.#newInode(parent, mode, ctx, 1, extra);
      if (node.isDir) parent.nlink++;
      this.#addEntry(parent, name, node, node.ctimeNs);
      return node;
    });
    node.lookups++;
    this.#hold(node);
    return node;
  }

  /** Inserts an inode owned by the caller (or by a set-group-ID parent's group). */
  #newInode(
    parent: Node,
    requested: number,
    ctx: fuse.RequestContext,
    nlink: number,
    extra: { rdev?: number; target?: Uint8Array },
  ): Node {
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
      nowNs: this.#clock.now(),
      parent: isDir ? parent.ino : 0,
      target,
    });
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
    this.#maybeFree(dirNode);
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

    const now = this.#clock.now();
    if (dst) {
      if (dst.isDir) newDir.nlink--;
      this.#removeEntry(newDir, nameNew, now);
      if (dst.isDir) {
        this.#kill(dst, now);
      } else {
        dst.nlink--;
        dst.ctimeNs = now;
        this.#store.save(dst);
        this.#maybeFree(dst);
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
    const now = this.#clock.now();
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
    for (let node = dirNode;; node = this.#node(node.parent)) {
      if (node === ancestor) return true;
      if (node.ino === fuse.ROOT_INODE) return false;
    }
  }

  /** relatime, written through only when due (rarely, after the first read). */
  #touchAtime(node: Node): void {
    const now = this.#clock.now();
    if (!relatimeDue(node, now)) return;
    this.#change(() => {
      node.atimeNs = now;
      this.#store.save(node);
    });
  }

  /** After a failed request was undone: cached inodes take their rows' values again. */
  #reloadCache(): void {
    for (const node of this.#nodes.values()) {
      if (!this.#store.reload(node)) this.#nodes.delete(node.ino);
    }
  }

  #attr(node: Node): fuse.EntryAttributes {
    return new fuse.EntryAttributes({
      stIno: node.ino,
      generation: 0,
      entryTimeout: 0,
      attrTimeout: 0,
      stMode: node.mode,
      stNlink: node.nlink,
      stUid: node.uid,
      stGid: node.gid,
      stRdev: node.rdev,
      stSize: node.size,
      stBlksize: BLOCK_SIZE,
      stBlocks: Math.ceil(node.alloc / 512),
      stAtimeNs: node.atimeNs,
      stMtimeNs: node.mtimeNs,
      stCtimeNs: node.ctimeNs,
    });
  }
}

function isDot(name: Uint8Array): boolean {
  return name.length === 1 && name[0] === 0x2e;
}

function isDotDot(name: Uint8Array): boolean {
  return name.length === 2 && name[0] === 0x2e && name[1] === 0x2e;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Times are stored as signed 64-bit nanoseconds. */
function clampNs(ns: bigint): bigint {
  return ns > I64_MAX ? I64_MAX : ns < I64_MIN ? I64_MIN : ns;
}

/**
 * Splits `-o` options into sqlitefs's own (`commit`, `mode`, `uid`, `gid`)
 * and those for libfuse, which rejects options it does not know.
 */
function splitOptions(options: string[]): { fs: SqliteFsOptions; mount: string[] } {
  const fs: SqliteFsOptions = {};
  const mount: string[] = [];
  for (const option of options) {
    const [key, value] = option.split("=", 2);
    if (value === undefined) {
      mount.push(option);
      continue;
    }
    const number = (pattern: RegExp, radix: number) => {
      if (!pattern.test(value)) throw new Error(`bad option ${option}`);
      return parseInt(value, radix);
    };
    switch (key) {
      case "commit":
        if (!/^\d+(\.\d+)?$/.test(value) || !(Number(value) > 0)) {
          throw new Error(`bad option ${option}: expected seconds > 0`);
        }
        fs.commitMs = Number(value) * 1000;
        break;
      case "mode":
        fs.rootMode = number(/^[0-7]{1,4}$/, 8);
        break;
      case "uid":
        fs.rootUid = number(/^\d+$/, 10);
        break;
      case "gid":
        fs.rootGid = number(/^\d+$/, 10);
        break;
      default:
        mount.push(option);
    }
  }
  return { fs, mount };
}

if (import.meta.main) {
  await runFromCommandLine({
    name: "sqlitefs",
    positional: ["DATABASE", "MOUNTPOINT"],
    create: ([database, mountpoint], options) => {
      const split = splitOptions(options);
      const db = resolve(database), mnt = resolve(mountpoint);
      // SQLite opens files beside the database after mounting (its WAL);
      // through our own mount that would wait for ourselves.
      if (dirname(db) === mnt || dirname(db).startsWith(mnt + "/")) {
        throw new Error(
          `${database} lies under ${mountpoint}: keep the database outside the mount`,
        );
      }
      const fs = new SqliteFs(db, split.fs);
      return {
        ops: fs,
        options: [...fuse.defaultOptions, "fsname=sqlitefs", "subtype=sqlitefs", ...split.mount],
        cleanup: () => fs.close(),
      };
    },
  });
}

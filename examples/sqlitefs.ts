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
 * a commit when nobody calls fsync; default 1), `size=` (the most the
 * database may grow to, with k/m/g/t; beyond it ENOSPC) and, for a new database,
 * `mode=` (octal), `uid=` and `gid=` of the root directory (default 0755
 * and this process). Stays in the foreground; Ctrl-C or SIGTERM commits
 * and unmounts.
 *
 * Design notes. The parts live in examples/lib/: the schema and the checks
 * on opening (sqlite_schema.ts), rows and transactions (sqlite_store.ts),
 * file data in blocks (sqlite_blocks.ts), the inodes in memory
 * (sqlite_inodes.ts), entry changes and renames (sqlite_names.ts), the
 * options (sqlite_options.ts); this file has the request handlers.
 *
 * - Durability: every change goes into one open transaction, committed by
 *   fsync/fsyncdir before they answer, one second after its first change,
 *   every 64 MiB of data, and at unmount; commits are synced WAL commits.
 *   What an fsync acknowledged therefore survives `kill -9` (and a power
 *   cut) at any moment; unsynced changes of the last second may be lost,
 *   whole requests at a time. `syncfs(2)` never reaches a FUSE server (the
 *   kernel sends FUSE_SYNCFS only to virtiofs), so it is covered by the
 *   one-second commit, not by a commit of its own. The database's own
 *   integrity is SQLite's: a kill at any point leaves the last commit.
 * - Each request is undone whole if the database fails half way (a
 *   savepoint per request). Under `size=` a request that might not fit is
 *   refused with ENOSPC before it starts. When the disk itself fills up,
 *   SQLite rolls the whole open batch back: the answer is ENOSPC, the
 *   changes since the last commit are lost as in a crash (fsynced ones
 *   stay), and open handles of inodes made in that batch fail with EIO.
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
  applySetattr,
  checkName,
  checkSetattr,
  checkXattrName,
  Clock,
  fallocatePlan,
  killPriv,
  mayAccess,
  mknodType,
  NAME_MAX,
  PERMISSION_BITS,
  relatimeDue,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFLNK,
  S_IFREG,
  visibleXattrs,
  XATTR_SIZE_MAX,
} from "./lib/posix_rules.ts";
import { attributes, InodeCache } from "./lib/sqlite_inodes.ts";
import {
  Namespace,
  type NewInodeExtra,
  RENAME_EXCHANGE,
  RENAME_NOREPLACE,
} from "./lib/sqlite_names.ts";
import { BLOCK_SIZE, openDatabase } from "./lib/sqlite_schema.ts";
import { splitOptions, type SqliteFsOptions } from "./lib/sqlite_options.ts";
import { type Node, Store } from "./lib/sqlite_store.ts";
import {
  clampNs,
  DOT,
  DOTDOT,
  isDot,
  isDotDot,
  MAX_FILE_SIZE,
  O_ACCMODE,
  O_RDONLY,
  O_TRUNC,
  SEEK_DATA,
  SEEK_HOLE,
  STATFS_BLOCK,
  XATTR_CREATE,
  XATTR_REPLACE,
} from "./lib/stored_inode.ts";

export { BLOCK_SIZE, NAME_MAX };
export { DatabaseRefused } from "./lib/sqlite_schema.ts";
export type { SqliteFsOptions };

const O_EXCL = 0o200;
/** Entries fetched per query while listing a directory. */
const READDIR_CHUNK = 128;

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
  /**
   * Set-id bits are cleared here where the kernel's kill flags say so
   * (`ctx.killSuidgid`), so the kernel no longer asks for
   * `security.capability` before every write; without them (libfuse < 3.17)
   * the kernel clears the bits and open(O_TRUNC) clears them here for
   * callers other than root.
   */
  readonly handleKillprivV2 = true;
  /** The database file. */
  readonly path: string;
  readonly #store: Store;
  readonly #inodes: InodeCache;
  readonly #names: Namespace;
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
    const max = options.maxBytes;
    if (max !== undefined && (!Number.isSafeInteger(max) || max <= 0)) {
      throw new RangeError(`SqliteFs: maxBytes must be a positive safe integer, got ${max}`);
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
    this.#libc = acquireLibc();
    const flags = O.O_PATH | O.O_DIRECTORY | O.O_CLOEXEC;
    this.#hostDir = this.#libc.openat(AT.FDCWD, cstr(dirname(this.path)), flags, 0);
    try {
      check(this.#hostDir);
      if (options.maxBytes !== undefined) this.#store.limit(options.maxBytes);
      this.#store.change(() => this.#store.purgeUnlinked());
      this.#store.commit();
      this.#inodes = new InodeCache(this.#store);
      this.#names = new Namespace(this.#inodes, this.#clock);
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
    return this.#inodes.size;
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
    this.#inodes.clear();
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
    this.#inodes.change(() => this.#store.purgeUnlinked());
    this.#store.commit();
  }

  // ---- lookups and attributes ----

  /** Looks `name` up in directory `parentInode` ("." and ".." too). */
  lookup(parentInode: fuse.Inode, name: Uint8Array): fuse.EntryAttributes {
    checkName(name);
    const dir = this.#inodes.dir(parentInode);
    let ino: number;
    if (isDot(name)) ino = dir.ino;
    else if (isDotDot(name)) ino = dir.parent;
    else ino = this.#store.lookup(dir.ino, name);
    if (ino === 0) throw NO_SUCH_ENTRY;
    const node = this.#inodes.get(ino);
    node.lookups++;
    this.#inodes.sweep();
    return attributes(node);
  }

  /** Drops kernel references; an inode nothing holds leaves the cache, or the database if unlinked. */
  forget(inodeList: Array<[fuse.Inode, number]>): void {
    for (const [ino, count] of inodeList) {
      const node = this.#inodes.cached(ino);
      if (!node) continue;
      node.lookups = Math.max(0, node.lookups - count);
      this.#inodes.drop(node);
    }
  }

  /** The attributes of `inode`. */
  getattr(inode: fuse.Inode): fuse.EntryAttributes {
    const attr = attributes(this.#inodes.get(inode));
    this.#inodes.sweep();
    return attr;
  }

  /**
   * statx(2): the attributes and the birth time, kept in the database
   * (libfuse 3.18+; unknown for inodes made by a version 1 database).
   */
  statx(inode: fuse.Inode): fuse.StatxAttributes {
    const node = this.#inodes.get(inode);
    const sx = new fuse.StatxAttributes(attributes(node), { btimeNs: node.btimeNs });
    this.#inodes.sweep();
    return sx;
  }

  /** chmod, chown, truncate and utimens. */
  setattr(
    inode: fuse.Inode,
    attr: fuse.EntryAttributes,
    fields: fuse.SetattrFields,
    _fh: fuse.FileHandle | null,
    ctx: fuse.RequestContext,
  ): fuse.EntryAttributes {
    return this.#inodes.change(() => {
      const node = this.#inodes.get(inode);
      checkSetattr(node.mode, attr, fields, MAX_FILE_SIZE);
      if (fields.updateAtime) this.#clock.observe(attr.stAtimeNs);
      if (fields.updateMtime) this.#clock.observe(attr.stMtimeNs);
      if (fields.updateSize) this.#store.blocks.truncate(node, attr.stSize);
      applySetattr(node, attr, fields, ctx, this.#clock.now(), clampNs);
      this.#store.save(node);
      return attributes(node);
    });
  }

  /** Whether `ctx` may access `inode` with `mode`; only asked when mounted without `default_permissions`. */
  access(inode: fuse.Inode, mode: number, ctx: fuse.RequestContext): boolean {
    const granted = mayAccess(this.#inodes.get(inode), mode, ctx);
    this.#inodes.sweep();
    return granted;
  }

  /**
   * Usage in 4 KiB units: the database's pages in use, and as free space
   * the free pages inside it plus what the filesystem holding it has free
   * (as far as `size=` lets the database grow).
   */
  statfs(): fuse.StatvfsData {
    const { usedBytes, freeBytes, growBytes } = this.#store.usage();
    const host = fstatvfs(this.#hostDir);
    const room = freeBytes + Math.min(growBytes, host.bavail * host.frsize);
    const free = Math.floor(room / STATFS_BLOCK);
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
    const type = mknodType(mode);
    const device = type === S_IFCHR || type === S_IFBLK;
    const node = this.#make(parentInode, name, type | (mode & PERMISSION_BITS), ctx, {
      rdev: device ? rdev : 0,
    });
    return attributes(node);
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
    return attributes(this.#make(parentInode, name, S_IFDIR | (mode & 0o1777), ctx));
  }

  /** Creates a symbolic link. */
  symlink(
    parentInode: fuse.Inode,
    name: Uint8Array,
    target: Uint8Array,
    ctx: fuse.RequestContext,
  ): fuse.EntryAttributes {
    return attributes(this.#make(parentInode, name, S_IFLNK | 0o777, ctx, { target }));
  }

  /** Creates and opens a regular file. */
  create(
    parentInode: fuse.Inode,
    name: Uint8Array,
    mode: number,
    flags: number,
    ctx: fuse.RequestContext,
  ): [fuse.FileInfo, fuse.EntryAttributes] {
    const node = this.#make(parentInode, name, S_IFREG | (mode & PERMISSION_BITS), ctx);
    return [this.#openFile(node, flags, ctx), attributes(node)];
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
    const node = this.#inodes.change(() => {
      const parent = this.#inodes.dir(parentInode);
      return this.#names.newInode(parent, S_IFREG | (mode & PERMISSION_BITS), ctx, 0, {});
    }, 0);
    node.linkable = (flags & O_EXCL) === 0;
    this.#inodes.hold(node);
    return [this.#openFile(node, flags, ctx), attributes(node)];
  }

  /** Adds the hard link `newName` to `inode`. */
  link(
    inode: fuse.Inode,
    newParentInode: fuse.Inode,
    newName: Uint8Array,
  ): fuse.EntryAttributes {
    checkName(newName);
    const node = this.#inodes.change(() => {
      const node = this.#inodes.get(inode);
      this.#names.link(node, this.#inodes.dir(newParentInode), newName);
      return node;
    }, 0);
    node.linkable = false;
    this.#inodes.hold(node);
    return attributes(node);
  }

  /** Removes a non-directory name. */
  unlink(parentInode: fuse.Inode, name: Uint8Array, ctx: fuse.RequestContext): void {
    checkName(name);
    this.#inodes.change(() => this.#names.unlink(this.#inodes.dir(parentInode), name, ctx));
  }

  /** Removes an empty directory. */
  rmdir(parentInode: fuse.Inode, name: Uint8Array, ctx: fuse.RequestContext): void {
    checkName(name);
    this.#inodes.change(() => this.#names.rmdir(this.#inodes.dir(parentInode), name, ctx));
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
    const inodes = this.#inodes;
    inodes.change(() =>
      this.#names.rename(
        inodes.dir(parentInodeOld),
        nameOld,
        inodes.dir(parentInodeNew),
        nameNew,
        flags,
        ctx,
      ), 0);
  }

  /** The target of a symbolic link. */
  readlink(inode: fuse.Inode): Uint8Array {
    const node = this.#inodes.get(inode);
    if (!node.target) throw new fuse.FUSEError(fuse.errno.EINVAL);
    this.#touchAtime(node);
    this.#inodes.sweep();
    return node.target;
  }

  // ---- file I/O ----

  /** Opens a regular file; O_TRUNC truncates here (libfuse negotiates atomic O_TRUNC). */
  open(inode: fuse.Inode, flags: number, ctx: fuse.RequestContext): fuse.FileInfo {
    const node = this.#inodes.get(inode);
    if (node.isDir) throw new fuse.FUSEError(fuse.errno.EISDIR);
    if (!node.isRegular) throw new fuse.FUSEError(fuse.errno.EINVAL);
    if (flags & O_TRUNC) {
      this.#inodes.change(() => {
        this.#store.blocks.truncate(node, 0);
        node.mtimeNs = node.ctimeNs = this.#clock.now();
        if (ctx.killSuidgid ?? ctx.uid !== 0) node.mode = killPriv(node, ctx);
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
  write(fh: fuse.FileHandle, off: number, buf: Uint8Array, ctx: fuse.RequestContext): number {
    const file = this.#file(fh);
    if ((file.flags & O_ACCMODE) === O_RDONLY) throw new fuse.FUSEError(fuse.errno.EBADF);
    if (buf.length === 0) return 0;
    if (off + buf.length > MAX_FILE_SIZE) throw new fuse.FUSEError(fuse.errno.EFBIG);
    const node = file.node;
    this.#inodes.change(() => {
      this.#store.blocks.write(node, off, buf);
      node.mtimeNs = node.ctimeNs = this.#clock.now();
      // The opener stands in for the writer: ctx's ids would cost an FFI call per write.
      if (ctx.killSuidgid ?? file.opener.uid !== 0) node.mode = killPriv(node, file.opener);
      this.#store.save(node);
    }, buf.length);
    return buf.length;
  }

  /** Commits every change made so far (synced) before answering. */
  fsync(fh: fuse.FileHandle, _datasync: boolean): void {
    this.#file(fh);
    this.#store.commit();
  }

  /** Closes an open file; an unlinked file goes with its last handle and reference. */
  release(fh: fuse.FileHandle): void {
    const file = this.#files.get(fh);
    if (!file) throw new fuse.FUSEError(fuse.errno.EBADF);
    this.#files.delete(fh);
    this.#letGo(file.node);
  }

  // ---- directories ----

  /** Opens a directory for listing. */
  opendir(inode: fuse.Inode): fuse.FileHandle {
    const node = this.#inodes.get(inode);
    if (!node.isDir) throw new fuse.FUSEError(fuse.errno.ENOTDIR);
    const fh = this.#nextFh++;
    this.#dirs.set(fh, node);
    node.opens++;
    this.#inodes.hold(node);
    return fh;
  }

  /** Lists entries after cookie `startId`: ".", "..", then entries in creation order. */
  readdir(fh: fuse.FileHandle, startId: number, token: fuse.ReaddirToken): void {
    const node = this.#dirHandle(fh);
    if (node.nlink === 0) return;
    this.#touchAtime(node);
    try {
      // The kernel takes no lookup reference for "." and "..".
      if (startId < 1 && !fuse.readdirReply(token, DOT, attributes(node), 1)) return;
      if (startId < 2) {
        const parent = this.#inodes.get(node.parent);
        if (!fuse.readdirReply(token, DOTDOT, attributes(parent), 2)) return;
      }
      for (let after = Math.max(startId, 2);;) {
        const last = token.plus
          ? this.#listPlus(node, after, token)
          : this.#listTypes(node, after, token);
        if (last < 0) return;
        after = last;
      }
    } finally {
      this.#inodes.sweep();
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
      const child = this.#inodes.cached(loaded.ino) ?? loaded;
      if (!fuse.readdirReply(token, name, attributes(child), cookie)) return -1;
      child.lookups++;
      this.#inodes.hold(child);
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
    const node = this.#dirs.get(fh);
    if (!node) throw new fuse.FUSEError(fuse.errno.EBADF);
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
    this.#inodes.change(() => {
      const node = this.#inodes.get(inode);
      const exists = this.#store.hasXattr(node, name);
      if ((flags & XATTR_CREATE) && exists) throw new fuse.FUSEError(fuse.errno.EEXIST);
      if ((flags & XATTR_REPLACE) && !exists) throw NO_SUCH_ATTRIBUTE;
      this.#store.setXattr(node, name, value);
      node.ctimeNs = this.#clock.now();
      this.#store.save(node);
    }, value.length);
  }

  /** The value of an extended attribute. */
  getxattr(inode: fuse.Inode, name: Uint8Array): Uint8Array {
    checkXattrName(name);
    const node = this.#inodes.get(inode);
    try {
      return this.#store.getXattr(node, name);
    } finally {
      this.#inodes.sweep();
    }
  }

  /** The names of the extended attributes; trusted.* only for root, as on the kernel's tmpfs. */
  listxattr(inode: fuse.Inode, ctx: fuse.RequestContext): Uint8Array[] {
    const names = this.#store.listXattrs(this.#inodes.get(inode));
    this.#inodes.sweep();
    return visibleXattrs(names, ctx);
  }

  /** Removes an extended attribute. */
  removexattr(inode: fuse.Inode, name: Uint8Array): void {
    checkXattrName(name);
    this.#inodes.change(() => {
      const node = this.#inodes.get(inode);
      if (!this.#store.removeXattr(node, name)) throw NO_SUCH_ATTRIBUTE;
      node.ctimeNs = this.#clock.now();
      this.#store.save(node);
    });
  }

  // ---- locks, holes, preallocation (beyond pyfuse3) ----

  /** F_GETLK: the first conflicting lock of another owner. */
  getlk(
    inode: fuse.Inode,
    fh: fuse.FileHandle,
    owner: bigint,
    lock: fuse.FileLock,
  ): fuse.FileLock {
    const node = this.#lockNode(inode, fh);
    return node.posixLocks?.test(owner, lock) ?? new fuse.FileLock({ ...lock, type: fuse.F_UNLCK });
  }

  /** F_SETLK / F_SETLKW; a waiting lock gives way when the caller is interrupted. */
  async setlk(
    inode: fuse.Inode,
    fh: fuse.FileHandle,
    owner: bigint,
    lock: fuse.FileLock,
    wait: boolean,
    ctx: fuse.RequestContext,
  ): Promise<void> {
    const node = this.#lockNode(inode, fh);
    node.posixLocks ??= new PosixLocks();
    await node.posixLocks.set(owner, lock, wait, ctx.signal);
  }

  /** flock(2); the kernel sends LOCK_UN for the open file's owner on its last close. */
  async flock(
    inode: fuse.Inode,
    fh: fuse.FileHandle,
    owner: bigint,
    op: number,
    ctx: fuse.RequestContext,
  ): Promise<void> {
    const node = this.#lockNode(inode, fh);
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
    const node = file.node;
    const plan = fallocatePlan(mode, offset, length, node.size, MAX_FILE_SIZE);
    if (!plan) return;
    this.#inodes.change(() => {
      if (plan.clear) this.#store.blocks.punch(node, offset, length);
      // Growing leaves a hole: blocks are only written when data arrives.
      if (plan.growTo !== undefined) node.size = plan.growTo;
      node.mtimeNs = node.ctimeNs = this.#clock.now();
      // No kill flag comes with fallocate, and with handleKillprivV2 in
      // force the kernel clears nothing itself: the rule of old decides.
      if (file.opener.uid !== 0) node.mode = killPriv(node, file.opener);
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

  #file(fh: number): OpenFile {
    const file = this.#files.get(fh);
    if (!file) throw new fuse.FUSEError(fuse.errno.EBADF);
    if (file.node.gone) throw new fuse.FUSEError(fuse.errno.EIO);
    return file;
  }

  #dirHandle(fh: number): Node {
    const node = this.#dirs.get(fh);
    if (!node) throw new fuse.FUSEError(fuse.errno.EBADF);
    if (node.gone) throw new fuse.FUSEError(fuse.errno.EIO);
    return node;
  }

  /** A handle was closed (an inode lost with a rolled-back batch has nothing left to drop). */
  #letGo(node: Node): void {
    node.opens--;
    if (!node.gone) this.#inodes.drop(node);
  }

  /** The inode whose locks a lock request means: the handle's (even if lost), else by number. */
  #lockNode(inode: fuse.Inode, fh: fuse.FileHandle): Node {
    const node = this.#files.get(fh)?.node ?? this.#inodes.get(inode);
    this.#inodes.sweep();
    return node;
  }

  #openFile(node: Node, flags: number, ctx: fuse.RequestContext): fuse.FileInfo {
    const fh = this.#nextFh++;
    this.#files.set(fh, { node, flags, opener: { uid: ctx.uid, gid: ctx.gid } });
    node.opens++;
    this.#inodes.hold(node);
    return new fuse.FileInfo({ fh });
  }

  /**
   * Makes a new inode named `name` in `parentInode` and counts the lookup
   * reference the kernel takes for it.
   */
  #make(
    parentInode: fuse.Inode,
    name: Uint8Array,
    mode: number,
    ctx: fuse.RequestContext,
    extra: NewInodeExtra = {},
  ): Node {
    checkName(name);
    const inodes = this.#inodes;
    const node = inodes.change(
      () => this.#names.create(inodes.dir(parentInode), name, mode, ctx, extra),
      extra.target?.length ?? 0,
    );
    node.lookups++;
    inodes.hold(node);
    return node;
  }

  /** relatime, written through only when due (rarely, after the first read). */
  #touchAtime(node: Node): void {
    const now = this.#clock.now();
    if (!relatimeDue(node, now)) return;
    this.#inodes.change(() => {
      node.atimeNs = now;
      this.#store.save(node);
    });
  }
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

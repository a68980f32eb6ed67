/**
 * tmpfs: an in-memory read-write filesystem, the counterpart of pyfuse3's
 * tmpfs.py, written to behave like the kernel's tmpfs wherever a FUSE
 * filesystem can.
 *
 *     deno run --allow-ffi --allow-read examples/tmpfs.ts [-o opt,...] MOUNTPOINT
 *
 * Besides the usual FUSE options, `-o` takes the kernel tmpfs options
 * `size=` (bytes, with an optional k/m/g/t suffix, default half the RAM),
 * `nr_inodes=` (same suffixes), `mode=` (octal, of the root directory,
 * default 1777), `uid=` and `gid=` (owner of the root directory, default
 * this process). `default_permissions` is always on: the kernel checks
 * permissions against the attributes served here.
 *
 * Stays in the foreground; Ctrl-C (SIGINT) or SIGTERM unmounts.
 *
 * Design notes:
 *
 * - Entry and attribute timeouts are 0. Several attributes change without
 *   the kernel seeing the cause (relatime atime updates on read, ctime of a
 *   file whose other hard link was renamed over, set-id bits cleared on
 *   write), so anything the kernel cached could be stale; without
 *   invalidation notifications the only correct choice is not to cache.
 * - File contents live in 4 KiB pages (examples/lib/page_store.ts), so a
 *   file costs its size rounded up to a page, as in the kernel's tmpfs:
 *   `st_blocks`, `statfs` and the `size=` limit count pages, holes cost
 *   nothing and read as zeros, and a write that does not fit is cut short
 *   at the first page that cannot be allocated. Freed pages go back to the
 *   kernel at once rather than whenever the garbage collector runs. Reads
 *   and writes cost O(request size); a read whose pages lie one after the
 *   other in memory (as sequential writes leave them) is answered from a
 *   view, without copying.
 * - Directory entries carry per-directory, monotonically increasing ids,
 *   which are the readdir cookies: a listing resumed after concurrent
 *   changes neither repeats nor skips an entry that existed throughout.
 * - An inode is freed once it has no links, no kernel lookup references and
 *   no open handles, whichever of unlink, forget and release comes last.
 * - There is no `flush` handler on purpose: there is nothing to flush, and
 *   after the first ENOSYS the kernel stops sending FLUSH, which saves a
 *   round trip on every close(2) and keeps close(2) from waiting on this
 *   process (which matters when the same process closes files on its own
 *   mount).
 *
 * @module
 */

import * as fuse from "../mod.ts";
import { runFromCommandLine } from "./lib/cli.ts";
import { FlockLocks, PosixLocks } from "./lib/lock_table.ts";
import { copyRange, fallocateData, FileData, MAX_FILE_SIZE, seekData } from "./lib/file_data.ts";
import { PAGE_SIZE, PageStore } from "./lib/page_store.ts";
import {
  BOGO_DIRENT_SIZE,
  checkName,
  checkRenameFlags,
  checkSticky,
  checkXattrName,
  Clock,
  killPriv,
  mayAccess,
  mknodType,
  newInodeMode,
  relatimeDue,
  renameRules,
  visibleXattrs,
  XATTR_SIZE_MAX,
} from "./lib/posix_rules.ts";

const { S_IFMT, S_IFLNK, S_IFREG, S_IFBLK, S_IFDIR, S_IFCHR } = fuse;
const PERMISSION_BITS = 0o7777;

const O_ACCMODE = 0o3;
const O_RDONLY = 0o0;
const O_EXCL = 0o200;
const O_TRUNC = 0o1000;
const O_WRONLY = 0o1;

const XATTR_CREATE = 1;
const XATTR_REPLACE = 2;

/** Longest name of a directory entry, in bytes (NAME_MAX). */
export const NAME_MAX = 255;
/** The unit file data is allocated and counted in (`st_blocks`, `statfs`, `size=`). */
export { PAGE_SIZE };
/** Block size reported by stat and statfs, like the kernel's tmpfs (PAGE_SIZE). */
const BLOCK_SIZE = PAGE_SIZE;

/** Readdir cookies 1 and 2 are "." and ".."; entries count up from here. */
const FIRST_ENTRY_ID = 3;

/** One name in a directory. */
interface DirEntry {
  readonly name: Uint8Array;
  /** The readdir cookie: unique and increasing within the directory. */
  readonly id: number;
  ino: number;
  removed: boolean;
}

/** A directory's entries, in creation order. */
class DirData {
  readonly entries = new Map<string, DirEntry>();
  parent: number;
  /** Removed by rmdir or rename-over: lookups and listings find nothing. */
  dead = false;
  // Removed entries stay as tombstones until compaction so that positions
  // found by binary search over ids remain cheap to compute.
  #order: DirEntry[] = [];
  #tombstones = 0;
  #nextId = FIRST_ENTRY_ID;

  constructor(parent: number) {
    this.parent = parent;
  }

  add(key: string, name: Uint8Array, ino: number): DirEntry {
    const entry: DirEntry = { name, id: this.#nextId++, ino, removed: false };
    this.entries.set(key, entry);
    this.#order.push(entry);
    return entry;
  }

  remove(key: string, entry: DirEntry): void {
    this.entries.delete(key);
    entry.removed = true;
    if (++this.#tombstones > 64 && this.#tombstones * 2 > this.#order.length) {
      this.#order = this.#order.filter((e) => !e.removed);
      this.#tombstones = 0;
    }
  }

  /**
   * Calls `each` with the live entries whose id is greater than `startId`,
   * in id order, until it returns false. (A plain loop: a generator's
   * yield costs as much as encoding the entry.)
   */
  forEachAfter(startId: number, each: (entry: DirEntry) => boolean): void {
    const order = this.#order;
    let lo = 0, hi = order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (order[mid].id <= startId) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < order.length; i++) {
      if (!order[i].removed && !each(order[i])) return;
    }
  }
}

/** An inode: attributes plus the contents for its type. */
class TmpNode {
  mode: number;
  uid: number;
  gid: number;
  rdev = 0;
  nlink = 1;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  /** Birth time: when the inode was made; never changes (statx's `stx_btime`). */
  readonly btimeNs: bigint;
  /** References the kernel holds (lookups minus forgets). */
  lookups = 0;
  /** Open file and directory handles. */
  opens = 0;
  /** Made on the first setxattr: most inodes never have any. */
  xattrs?: Map<string, { name: Uint8Array; value: Uint8Array }>;
  data?: FileData;
  dir?: DirData;
  target?: Uint8Array;
  /**
   * Made by tmpfile (O_TMPFILE) without O_EXCL and not linked yet: the one
   * case where an inode without links may be given a name (linkat(2)).
   */
  linkable = false;
  /** fcntl and flock locks, created on first use. */
  posixLocks?: PosixLocks;
  flocks?: FlockLocks;

  constructor(readonly ino: number, mode: number, uid: number, gid: number, now: bigint) {
    this.mode = mode;
    this.uid = uid;
    this.gid = gid;
    this.atimeNs = this.mtimeNs = this.ctimeNs = now;
    this.btimeNs = now;
  }

  get isDir(): boolean {
    return (this.mode & S_IFMT) === S_IFDIR;
  }

  get isRegular(): boolean {
    return (this.mode & S_IFMT) === S_IFREG;
  }

  get size(): number {
    if (this.data) return this.data.size;
    if (this.dir) return BOGO_DIRENT_SIZE * (this.dir.entries.size + 2);
    return this.target?.length ?? 0;
  }

  touchContent(now: bigint): void {
    this.mtimeNs = this.ctimeNs = now;
  }

  /**
   * Clears set-user-ID, and set-group-ID if group-executable or if the
   * caller is not in the file's group, as the kernel's tmpfs does on write,
   * truncate and chown of a regular file. With `handleKillprivV2` in force
   * the kernel leaves this to us and says when (`ctx.killSuidgid`); without
   * it the kernel does most of it itself, but with atomic O_TRUNC it leaves
   * open(O_TRUNC) to the filesystem; clearing twice is harmless. Only the
   * caller's primary group is known.
   */
  killPriv(caller: { uid: number; gid: number }): void {
    this.mode = killPriv(this, caller);
  }
}

/** An open regular file. */
interface OpenFile {
  node: TmpNode;
  flags: number;
  /** Who opened it: write requests carry no caller, and set-id clearing depends on it. */
  opener: { uid: number; gid: number };
}

/** Limits and root directory attributes of a {@link TmpFs}; the kernel tmpfs options. */
export interface TmpFsOptions {
  /** Capacity in bytes (`size=`); default half of the physical memory, else 1 GiB. */
  maxBytes?: number;
  /** Most inodes, the root included (`nr_inodes=`); default maxBytes / 4096. */
  maxInodes?: number;
  /** Permission bits of the root directory (`mode=`); default 0o1777. */
  rootMode?: number;
  /** Owner of the root directory (`uid=`); default this process's uid. */
  rootUid?: number;
  /** Group of the root directory (`gid=`); default this process's gid. */
  rootGid?: number;
}

/**
 * An in-memory read-write filesystem: regular files, directories, symlinks,
 * hard links, FIFOs, sockets and device nodes, extended attributes, and
 * the POSIX rules for timestamps, set-group-ID directories and sticky
 * directories. Mount it with `default_permissions`, which leaves
 * permission checks to the kernel.
 *
 * @example
 * ```ts ignore
 * import { mount } from "../mod.ts";
 * import { TmpFs } from "./tmpfs.ts";
 * await using fs = mount(new TmpFs({ maxBytes: 64 << 20 }), "/mnt/tmp");
 * await Deno.writeTextFile("/mnt/tmp/a", "hello");
 * ```
 */
export class TmpFs implements fuse.Operations {
  /**
   * Plain READDIR when the kernel needs no attributes (`ls`, `find`);
   * readdir counts lookups only for READDIRPLUS entries.
   */
  readonly enableReaddirplusAuto = true;
  /**
   * Set-id bits are cleared here where the kernel's kill flags say so
   * (`ctx.killSuidgid`), so the kernel no longer asks for
   * `security.capability` before every write. Where that cannot be
   * negotiated (libfuse < 3.17) the flag is undefined and the rules of old
   * apply: the kernel clears the bits, and open(O_TRUNC) clears them here
   * for callers other than root.
   */
  readonly handleKillprivV2 = true;
  readonly #nodes = new Map<number, TmpNode>();
  readonly #files = new Map<number, OpenFile>();
  readonly #dirs = new Map<number, TmpNode>();
  /** The attributes of a plain READDIR entry, reused for every one (see readdir). */
  readonly #typeOnly = new fuse.EntryAttributes();
  readonly #clock = new Clock();
  readonly #pages: PageStore;
  readonly #maxInodes: number;
  #nextIno = fuse.ROOT_INODE + 1;
  #nextFh = 1;

  /**
   * Creates an empty filesystem.
   *
   * @param options capacity and root directory attributes
   * @throws {RangeError} if maxBytes or maxInodes is not a positive safe integer
   */
  constructor(options: TmpFsOptions = {}) {
    for (const key of ["maxBytes", "maxInodes"] as const) {
      const v = options[key];
      if (v !== undefined && (!Number.isSafeInteger(v) || v <= 0)) {
        throw new RangeError(`TmpFs: ${key} must be a positive safe integer, got ${v}`);
      }
    }
    const maxBytes = options.maxBytes ?? defaultCapacity();
    // Rounded up to whole pages, as the kernel's tmpfs does.
    this.#pages = new PageStore(Math.ceil(maxBytes / PAGE_SIZE));
    this.#maxInodes = options.maxInodes ?? Math.max(1, Math.floor(maxBytes / BLOCK_SIZE));
    const ids = options.rootUid === undefined || options.rootGid === undefined
      ? fuse.processIds()
      : { uid: 0, gid: 0 };
    const root = new TmpNode(
      fuse.ROOT_INODE,
      S_IFDIR | ((options.rootMode ?? 0o1777) & PERMISSION_BITS),
      options.rootUid ?? ids.uid,
      options.rootGid ?? ids.gid,
      this.#clock.now(),
    );
    root.nlink = 2;
    // The root is its own parent, as ".." of a mount's root shows it.
    root.dir = new DirData(fuse.ROOT_INODE);
    this.#nodes.set(root.ino, root);
  }

  /** How many inodes exist, the root and inodes only kept alive by the kernel or open files included. */
  get liveInodes(): number {
    return this.#nodes.size;
  }

  /** How many file and directory handles are open. */
  get openHandles(): number {
    return this.#files.size + this.#dirs.size;
  }

  /** How many bytes of file data are allocated (whole pages). */
  get allocatedBytes(): number {
    return this.#pages.used * PAGE_SIZE;
  }

  // ---- lookups and attributes ----

  /** Looks `name` up in directory `parentInode`. */
  lookup(parentInode: fuse.Inode, name: Uint8Array): fuse.EntryAttributes {
    checkName(name);
    const dir = this.#dirNode(parentInode);
    const entry = dir.dir!.entries.get(fuse.nameKey(name));
    if (!entry) throw NO_SUCH_ENTRY;
    const node = this.#node(entry.ino);
    node.lookups++;
    return this.#attr(node);
  }

  /** Drops kernel references; frees inodes that are no longer reachable at all. */
  forget(inodeList: Array<[fuse.Inode, number]>): void {
    for (const [ino, count] of inodeList) {
      const node = this.#nodes.get(ino);
      if (!node) continue;
      node.lookups = Math.max(0, node.lookups - count);
      this.#maybeFree(node);
    }
  }

  /** The attributes of `inode`. */
  getattr(inode: fuse.Inode): fuse.EntryAttributes {
    return this.#attr(this.#node(inode));
  }

  /**
   * statx(2): the attributes and the birth time (libfuse 3.18+; the kernel
   * asks when a caller wants the birth time, e.g. `stat -c %W`).
   */
  statx(inode: fuse.Inode): fuse.StatxAttributes {
    const node = this.#node(inode);
    return new fuse.StatxAttributes(this.#attr(node), { btimeNs: node.btimeNs });
  }

  /** chmod, chown, truncate and utimens. */
  setattr(
    inode: fuse.Inode,
    attr: fuse.EntryAttributes,
    fields: fuse.SetattrFields,
    _fh: fuse.FileHandle | null,
    ctx: fuse.RequestContext,
  ): fuse.EntryAttributes {
    const node = this.#node(inode);
    if (fields.updateAtime) this.#clock.observe(attr.stAtimeNs);
    if (fields.updateMtime) this.#clock.observe(attr.stMtimeNs);
    const now = this.#clock.now();
    if (fields.updateSize) {
      if (node.isDir) throw new fuse.FUSEError(fuse.errno.EISDIR);
      if (!node.data) throw new fuse.FUSEError(fuse.errno.EINVAL);
      if (attr.stSize > MAX_FILE_SIZE) throw new fuse.FUSEError(fuse.errno.EFBIG);
      node.data.truncate(attr.stSize);
      // Even to the current size, as the kernel's tmpfs does (POSIX only
      // requires it when the size changes).
      node.touchContent(now);
      // The kernel knows who has CAP_FSETID; without its flag, root keeps the bits.
      if (ctx.killSuidgid ?? ctx.uid !== 0) node.killPriv(ctx);
    }
    if (fields.updateUid || fields.updateGid) {
      // chown clears set-id bits even when root does it.
      node.killPriv(ctx);
      if (fields.updateUid) node.uid = attr.stUid;
      if (fields.updateGid) node.gid = attr.stGid;
    }
    if (fields.updateMode) node.mode = (node.mode & S_IFMT) | (attr.stMode & PERMISSION_BITS);
    if (fields.updateAtime) node.atimeNs = attr.stAtimeNs;
    if (fields.updateMtime) node.mtimeNs = attr.stMtimeNs;
    // Every attribute change is a status change.
    node.ctimeNs = fields.updateCtime ? attr.stCtimeNs : now;
    return this.#attr(node);
  }

  /** Whether `ctx` may access `inode` with `mode`; only asked when mounted without `default_permissions`. */
  access(inode: fuse.Inode, mode: number, ctx: fuse.RequestContext): boolean {
    return mayAccess(this.#node(inode), mode, ctx);
  }

  /** Filesystem usage; a block is a page. */
  statfs(): fuse.StatvfsData {
    const total = this.#pages.capacity;
    const free = this.#pages.available;
    const freeInodes = Math.max(0, this.#maxInodes - this.#nodes.size);
    return new fuse.StatvfsData({
      fBsize: BLOCK_SIZE,
      fFrsize: BLOCK_SIZE,
      fBlocks: total,
      fBfree: free,
      fBavail: free,
      fFiles: this.#maxInodes,
      fFfree: freeInodes,
      fFavail: freeInodes,
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
    const node = this.#create(parentInode, name, type | (mode & PERMISSION_BITS), ctx);
    if (type === S_IFCHR || type === S_IFBLK) node.rdev = rdev;
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
    const node = this.#create(parentInode, name, S_IFLNK | 0o777, ctx, target);
    return this.#attr(node);
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
   * Creates and opens a file without a name (O_TMPFILE) in `parentInode`:
   * owned like any new file, with no links until linkat(2) gives it one.
   */
  tmpfile(
    parentInode: fuse.Inode,
    mode: number,
    flags: number,
    ctx: fuse.RequestContext,
  ): [fuse.FileInfo, fuse.EntryAttributes] {
    const parent = this.#dirNode(parentInode);
    if (parent.dir!.dead) throw new fuse.FUSEError(fuse.errno.ENOENT);
    const node = this.#newNode(parent, S_IFREG | (mode & PERMISSION_BITS), ctx);
    node.nlink = 0;
    node.linkable = (flags & O_EXCL) === 0;
    node.lookups++;
    return [this.#openFile(node, flags, ctx), this.#attr(node)];
  }

  /** Adds the hard link `newName` to `inode`. */
  link(
    inode: fuse.Inode,
    newParentInode: fuse.Inode,
    newName: Uint8Array,
  ): fuse.EntryAttributes {
    checkName(newName);
    const node = this.#node(inode);
    if (node.isDir) throw new fuse.FUSEError(fuse.errno.EPERM);
    if (node.nlink === 0 && !node.linkable) throw new fuse.FUSEError(fuse.errno.ENOENT);
    const dir = this.#dirNode(newParentInode);
    const key = fuse.nameKey(newName);
    if (dir.dir!.dead) throw new fuse.FUSEError(fuse.errno.ENOENT);
    if (dir.dir!.entries.has(key)) throw new fuse.FUSEError(fuse.errno.EEXIST);
    const now = this.#clock.now();
    dir.dir!.add(key, newName.slice(), node.ino);
    dir.touchContent(now);
    node.nlink++;
    node.linkable = false;
    node.ctimeNs = now;
    node.lookups++;
    return this.#attr(node);
  }

  /** Removes a non-directory name. */
  unlink(parentInode: fuse.Inode, name: Uint8Array, ctx: fuse.RequestContext): void {
    checkName(name);
    const dir = this.#dirNode(parentInode);
    const key = fuse.nameKey(name);
    const entry = dir.dir!.entries.get(key);
    if (!entry) throw new fuse.FUSEError(fuse.errno.ENOENT);
    const node = this.#node(entry.ino);
    if (node.isDir) throw new fuse.FUSEError(fuse.errno.EISDIR);
    checkSticky(dir, node, ctx);
    const now = this.#clock.now();
    dir.dir!.remove(key, entry);
    dir.touchContent(now);
    node.nlink--;
    node.ctimeNs = now;
    this.#maybeFree(node);
  }

  /** Removes an empty directory. */
  rmdir(parentInode: fuse.Inode, name: Uint8Array, ctx: fuse.RequestContext): void {
    checkName(name);
    const dir = this.#dirNode(parentInode);
    const key = fuse.nameKey(name);
    const entry = dir.dir!.entries.get(key);
    if (!entry) throw new fuse.FUSEError(fuse.errno.ENOENT);
    const node = this.#node(entry.ino);
    if (!node.isDir) throw new fuse.FUSEError(fuse.errno.ENOTDIR);
    if (node.dir!.entries.size > 0) throw new fuse.FUSEError(fuse.errno.ENOTEMPTY);
    checkSticky(dir, node, ctx);
    const now = this.#clock.now();
    dir.dir!.remove(key, entry);
    dir.touchContent(now);
    dir.nlink--;
    this.#kill(node, now);
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
    checkRenameFlags(flags);
    checkName(nameOld);
    checkName(nameNew);
    const oldDir = this.#dirNode(parentInodeOld);
    const newDir = this.#dirNode(parentInodeNew);
    const oldKey = fuse.nameKey(nameOld), newKey = fuse.nameKey(nameNew);
    const oldEntry = oldDir.dir!.entries.get(oldKey);
    if (!oldEntry) throw new fuse.FUSEError(fuse.errno.ENOENT);
    if (newDir.dir!.dead) throw new fuse.FUSEError(fuse.errno.ENOENT);
    const src = this.#node(oldEntry.ino);
    const newEntry = newDir.dir!.entries.get(newKey);
    const dst = newEntry ? this.#node(newEntry.ino) : undefined;

    const plan = renameRules(flags, oldDir, newDir, src, dst, {
      sameEntry: newEntry === oldEntry,
      dstEmpty: () => dst!.dir!.entries.size === 0,
      srcAboveNewDir: () => this.#isWithin(newDir, src),
      dstAboveOldDir: () => this.#isWithin(oldDir, dst!),
    }, ctx);
    if (plan === "noop") return;
    if (plan === "exchange") {
      // The names stay where they are (and keep their readdir cookies);
      // only the inodes behind them swap.
      oldEntry.ino = dst!.ino;
      newEntry!.ino = src.ino;
      if (oldDir !== newDir) {
        if (src.isDir) this.#reparent(src, oldDir, newDir);
        if (dst!.isDir) this.#reparent(dst!, newDir, oldDir);
      }
      const now = this.#clock.now();
      oldDir.touchContent(now);
      newDir.touchContent(now);
      src.ctimeNs = dst!.ctimeNs = now;
      return;
    }
    const now = this.#clock.now();
    if (newEntry && dst) {
      newDir.dir!.remove(newKey, newEntry);
      if (dst.isDir) {
        newDir.nlink--;
        this.#kill(dst, now);
      } else {
        dst.nlink--;
        dst.ctimeNs = now;
        this.#maybeFree(dst);
      }
    }
    oldDir.dir!.remove(oldKey, oldEntry);
    // A fresh cookie: a listing in progress may show the new name even if
    // it already showed the old one, which POSIX allows for renamed entries.
    newDir.dir!.add(newKey, nameNew.slice(), src.ino);
    if (src.isDir && oldDir !== newDir) this.#reparent(src, oldDir, newDir);
    oldDir.touchContent(now);
    newDir.touchContent(now);
    src.ctimeNs = now;
  }

  /** The target of a symbolic link. */
  readlink(inode: fuse.Inode): Uint8Array {
    const node = this.#node(inode);
    if (!node.target) throw new fuse.FUSEError(fuse.errno.EINVAL);
    this.#touchAtime(node);
    return node.target;
  }

  // ---- file I/O ----

  /** Opens a regular file; O_TRUNC truncates here (libfuse negotiates atomic O_TRUNC). */
  open(inode: fuse.Inode, flags: number, ctx: fuse.RequestContext): fuse.FileInfo {
    const node = this.#node(inode);
    if (node.isDir) throw new fuse.FUSEError(fuse.errno.EISDIR);
    if (!node.data) throw new fuse.FUSEError(fuse.errno.EINVAL);
    if (flags & O_TRUNC) {
      node.data.truncate(0);
      node.touchContent(this.#clock.now());
      if (ctx.killSuidgid ?? ctx.uid !== 0) node.killPriv(ctx);
    }
    return this.#openFile(node, flags, ctx);
  }

  /**
   * Reads from an open file; holes read as zeros. The bytes returned are
   * only valid until the next call on this filesystem (they may be a view of
   * its pages or of a reused buffer).
   */
  read(fh: fuse.FileHandle, off: number, size: number): Uint8Array {
    const file = this.#file(fh);
    const data = file.node.data!.read(off, size);
    this.#touchAtime(file.node);
    return data;
  }

  /**
   * Writes to an open file, allocating only the pages the write touches; a
   * short count when the filesystem fills up part way, ENOSPC when not even
   * one byte fits.
   */
  write(fh: fuse.FileHandle, off: number, buf: Uint8Array, ctx: fuse.RequestContext): number {
    const file = this.#file(fh);
    if ((file.flags & O_ACCMODE) === O_RDONLY) throw new fuse.FUSEError(fuse.errno.EBADF);
    if (buf.length === 0) return 0;
    if (off + buf.length > MAX_FILE_SIZE) throw new fuse.FUSEError(fuse.errno.EFBIG);
    const node = file.node;
    const written = node.data!.write(off, buf);
    if (written === 0) throw new fuse.FUSEError(fuse.errno.ENOSPC);
    node.touchContent(this.#clock.now());
    // The opener stands in for the writer: ctx's ids would cost an FFI call per write.
    if (ctx.killSuidgid ?? file.opener.uid !== 0) node.killPriv(file.opener);
    return written;
  }

  /** Nothing to sync: memory is all the storage there is. */
  fsync(fh: fuse.FileHandle, _datasync: boolean): void {
    this.#file(fh);
  }

  /** Closes an open file; an unlinked file's data goes with its last handle. */
  release(fh: fuse.FileHandle): void {
    const file = this.#file(fh);
    this.#files.delete(fh);
    file.node.opens--;
    this.#maybeFree(file.node);
  }

  // ---- directories ----

  /** Opens a directory for listing. */
  opendir(inode: fuse.Inode): fuse.FileHandle {
    const node = this.#node(inode);
    if (!node.isDir) throw new fuse.FUSEError(fuse.errno.ENOTDIR);
    const fh = this.#nextFh++;
    this.#dirs.set(fh, node);
    node.opens++;
    return fh;
  }

  /** Lists entries after cookie `startId`: ".", "..", then entries by increasing id. */
  readdir(fh: fuse.FileHandle, startId: number, token: fuse.ReaddirToken): void {
    const node = this.#dirHandle(fh);
    const dir = node.dir!;
    if (dir.dead) return;
    this.#touchAtime(node);
    // The kernel takes no lookup reference for "." and "..", so neither
    // is counted here (unlike every other entry readdirReply accepts).
    if (startId < 1 && !fuse.readdirReply(token, DOT, this.#attr(node), 1)) return;
    if (startId < 2 && !fuse.readdirReply(token, DOTDOT, this.#attr(this.#node(dir.parent)), 2)) {
      return;
    }
    dir.forEachAfter(startId, (entry) => {
      const child = this.#node(entry.ino);
      if (!token.plus) {
        // A plain READDIR entry carries only the inode and the type: one
        // scratch object serves them all (readdirReply copies it at once).
        this.#typeOnly.stIno = child.ino;
        this.#typeOnly.stMode = child.mode;
        return fuse.readdirReply(token, entry.name, this.#typeOnly, entry.id);
      }
      if (!fuse.readdirReply(token, entry.name, this.#attr(child), entry.id)) return false;
      // Only READDIRPLUS entries are lookups (see enableReaddirplusAuto).
      child.lookups++;
      return true;
    });
  }

  /** Nothing to sync. */
  fsyncdir(fh: fuse.FileHandle, _datasync: boolean): void {
    this.#dirHandle(fh);
  }

  /** Closes a directory handle. */
  releasedir(fh: fuse.FileHandle): void {
    const node = this.#dirHandle(fh);
    this.#dirs.delete(fh);
    node.opens--;
    this.#maybeFree(node);
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
    const node = this.#node(inode);
    checkXattrName(name);
    if (value.length > XATTR_SIZE_MAX) throw new fuse.FUSEError(fuse.errno.E2BIG);
    const key = fuse.nameKey(name);
    const exists = node.xattrs?.has(key) ?? false;
    if ((flags & XATTR_CREATE) && exists) throw new fuse.FUSEError(fuse.errno.EEXIST);
    if ((flags & XATTR_REPLACE) && !exists) throw new fuse.FUSEError(fuse.errno.ENODATA);
    (node.xattrs ??= new Map()).set(key, { name: name.slice(), value: value.slice() });
    node.ctimeNs = this.#clock.now();
  }

  /** The value of an extended attribute. */
  getxattr(inode: fuse.Inode, name: Uint8Array): Uint8Array {
    const node = this.#node(inode);
    checkXattrName(name);
    const attr = node.xattrs?.get(fuse.nameKey(name));
    if (!attr) throw NO_SUCH_ATTRIBUTE;
    return attr.value;
  }

  /** The names of the extended attributes; trusted.* only for root, as on the kernel's tmpfs. */
  listxattr(inode: fuse.Inode, ctx: fuse.RequestContext): Uint8Array[] {
    const names = [...(this.#node(inode).xattrs?.values() ?? [])].map((x) => x.name);
    return visibleXattrs(names, ctx);
  }

  /** Removes an extended attribute. */
  removexattr(inode: fuse.Inode, name: Uint8Array): void {
    const node = this.#node(inode);
    checkXattrName(name);
    if (!node.xattrs?.delete(fuse.nameKey(name))) throw new fuse.FUSEError(fuse.errno.ENODATA);
    node.ctimeNs = this.#clock.now();
  }

  // ---- locks, preallocation, holes, server-side copy (beyond pyfuse3) ----

  /** F_GETLK: the first conflicting lock of another owner. */
  getlk(
    inode: fuse.Inode,
    _fh: fuse.FileHandle,
    owner: bigint,
    lock: fuse.FileLock,
  ): fuse.FileLock {
    const node = this.#node(inode);
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
    node.flocks ??= new FlockLocks();
    await node.flocks.apply(owner, op, ctx.signal);
  }

  /**
   * fallocate(2): preallocation (optionally keeping the size), punching holes
   * and zeroing ranges. Collapsing and inserting ranges are not supported.
   */
  fallocate(fh: fuse.FileHandle, mode: number, offset: number, length: number): void {
    const file = this.#file(fh);
    if ((file.flags & O_ACCMODE) === O_RDONLY) throw new fuse.FUSEError(fuse.errno.EBADF);
    if (fallocateData(file.node.data!, mode, offset, length)) {
      file.node.touchContent(this.#clock.now());
    }
    // No kill flag comes with fallocate, and with handleKillprivV2 in
    // force the kernel clears nothing itself: the rule of old decides.
    if (file.opener.uid !== 0) file.node.killPriv(file.opener);
  }

  /** SEEK_DATA / SEEK_HOLE, at page granularity (as on the kernel's tmpfs). */
  lseek(fh: fuse.FileHandle, offset: number, whence: number): number {
    return seekData(this.#file(fh).node.data!, offset, whence);
  }

  /**
   * copy_file_range(2) without a round trip through the caller; a short
   * count if the filesystem fills up part way.
   */
  copyFileRange(
    fhIn: fuse.FileHandle,
    offIn: number,
    fhOut: fuse.FileHandle,
    offOut: number,
    length: number,
    _flags: number,
    ctx: fuse.RequestContext,
  ): number {
    const src = this.#file(fhIn);
    if ((src.flags & O_ACCMODE) === O_WRONLY) throw new fuse.FUSEError(fuse.errno.EBADF);
    const sameFile = src.node === this.#files.get(fhOut)?.node;
    return copyRange(
      src.node.data!,
      offIn,
      offOut,
      length,
      sameFile,
      // ctx carries no kill flag: write clears set-id bits by the rule of old.
      (part, at) => this.write(fhOut, at, part, ctx),
    );
  }

  // ---- internals ----

  #node(ino: number): TmpNode {
    const node = this.#nodes.get(ino);
    if (!node) throw new fuse.FUSEError(fuse.errno.ENOENT);
    return node;
  }

  #dirNode(ino: number): TmpNode {
    const node = this.#node(ino);
    if (!node.dir) throw new fuse.FUSEError(fuse.errno.ENOTDIR);
    return node;
  }

  #file(fh: number): OpenFile {
    const file = this.#files.get(fh);
    if (!file) throw new fuse.FUSEError(fuse.errno.EBADF);
    return file;
  }

  #dirHandle(fh: number): TmpNode {
    const node = this.#dirs.get(fh);
    if (!node) throw new fuse.FUSEError(fuse.errno.EBADF);
    return node;
  }

  #openFile(node: TmpNode, flags: number, ctx: fuse.RequestContext): fuse.FileInfo {
    const fh = this.#nextFh++;
    this.#files.set(fh, { node, flags, opener: { uid: ctx.uid, gid: ctx.gid } });
    node.opens++;
    return new fuse.FileInfo({ fh });
  }

  /**
   * Makes a new inode named `name` in `parentInode`, owned by the caller
   * (or by the directory's group if it is set-group-ID), and counts the
   * lookup reference the kernel takes for it.
   */
  #create(
    parentInode: fuse.Inode,
    name: Uint8Array,
    mode: number,
    ctx: fuse.RequestContext,
    target?: Uint8Array,
  ): TmpNode {
    checkName(name);
    const parent = this.#dirNode(parentInode);
    const key = fuse.nameKey(name);
    // A removed directory still has an inode while something holds it, but
    // nothing may be created in it.
    if (parent.dir!.dead) throw new fuse.FUSEError(fuse.errno.ENOENT);
    if (parent.dir!.entries.has(key)) throw new fuse.FUSEError(fuse.errno.EEXIST);
    const node = this.#newNode(parent, mode, ctx, target);
    parent.dir!.add(key, name.slice(), node.ino);
    parent.touchContent(node.ctimeNs);
    node.lookups++;
    return node;
  }
  /**
   * A new inode in `parent`'s filesystem (not yet named anywhere), owned by
   * the caller, or by the directory's group if it is set-group-ID.
   */
  #newNode(parent: TmpNode, mode: number, ctx: fuse.RequestContext, target?: Uint8Array): TmpNode {
    if (this.#nodes.size >= this.#maxInodes) throw new fuse.FUSEError(fuse.errno.ENOSPC);
    const type = mode & S_IFMT;
    // The umask again (idempotent) and set-group-ID inheritance.
    const made = newInodeMode(parent, mode, ctx);
    const node = new TmpNode(this.#nextIno++, made.mode, ctx.uid, made.gid, this.#clock.now());
    if (type === S_IFDIR) {
      node.dir = new DirData(parent.ino);
      node.nlink = 2;
      parent.nlink++;
    } else if (type === S_IFREG) {
      node.data = new FileData(this.#pages);
    } else if (type === S_IFLNK) {
      node.target = target!.slice();
    }
    this.#nodes.set(node.ino, node);
    return node;
  }

  /** Marks a directory removed (rmdir, or replaced by rename). */
  #kill(dirNode: TmpNode, now: bigint): void {
    dirNode.nlink = 0;
    dirNode.dir!.dead = true;
    dirNode.ctimeNs = now;
    this.#maybeFree(dirNode);
  }

  /** Moves a directory's ".." from `from` to `to`. */
  #reparent(dirNode: TmpNode, from: TmpNode, to: TmpNode): void {
    dirNode.dir!.parent = to.ino;
    from.nlink--;
    to.nlink++;
  }

  /** Whether directory `dirNode` is `ancestor` or lies below it. */
  #isWithin(dirNode: TmpNode, ancestor: TmpNode): boolean {
    let node = dirNode;
    for (;;) {
      if (node === ancestor) return true;
      if (node.ino === fuse.ROOT_INODE) return false;
      node = this.#node(node.dir!.parent);
    }
  }

  #maybeFree(node: TmpNode): void {
    if (node.nlink > 0 || node.lookups > 0 || node.opens > 0) return;
    if (node.ino === fuse.ROOT_INODE) return;
    this.#nodes.delete(node.ino);
    if (node.data) node.data.truncate(0);
  }

  /** relatime: refresh atime only if it is older than mtime or ctime, or a day old. */
  #touchAtime(node: TmpNode): void {
    const now = this.#clock.now();
    if (relatimeDue(node, now)) node.atimeNs = now;
  }

  #attr(node: TmpNode): fuse.EntryAttributes {
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
      stBlocks: node.data ? node.data.pages.size * (PAGE_SIZE / 512) : 0,
      stAtimeNs: node.atimeNs,
      stMtimeNs: node.mtimeNs,
      stCtimeNs: node.ctimeNs,
    });
  }
}

const DOT = new Uint8Array([0x2e]);
const DOTDOT = new Uint8Array([0x2e, 0x2e]);

// Errors answered on hot paths, made once: constructing an Error costs about
// 1 µs in Deno, as much as the rest of the request. The kernel asks for
// security.capability before every write to a filesystem with xattrs, and
// negative lookups are everyday answers. (FUSEError is immutable, so one
// instance can answer any number of requests.)
const NO_SUCH_ENTRY = new fuse.FUSEError(fuse.errno.ENOENT);
const NO_SUCH_ATTRIBUTE = new fuse.FUSEError(fuse.errno.ENODATA);

/** Half the physical memory, the kernel tmpfs default; 1 GiB if /proc/meminfo is unreadable. */
function defaultCapacity(): number {
  const path = "/proc/meminfo";
  try {
    // Check first: reading without permission would prompt on a terminal.
    if (Deno.permissions.querySync({ name: "read", path }).state === "granted") {
      const total = /^MemTotal:\s+(\d+) kB/m.exec(Deno.readTextFileSync(path));
      if (total) return Math.floor(Number(total[1]) * 1024 / 2);
    }
  } catch {
    // Not Linux, or /proc not mounted: fall through.
  }
  return 1 << 30;
}

/**
 * Splits `-o` options into the tmpfs ones (`size`, `nr_inodes`, `mode`,
 * `uid`, `gid`) and those for libfuse, which rejects options it does not
 * know.
 */
function splitOptions(options: string[]): { fs: TmpFsOptions; mount: string[] } {
  const fs: TmpFsOptions = {};
  const mount: string[] = [];
  for (const option of options) {
    const [key, value] = option.split("=", 2);
    if (value === undefined) {
      mount.push(option);
      continue;
    }
    switch (key) {
      case "size":
        fs.maxBytes = parseSize(option, value);
        break;
      case "nr_inodes":
        fs.maxInodes = parseSize(option, value);
        break;
      case "mode":
        if (!/^[0-7]{1,4}$/.test(value)) throw new Error(`bad option ${option}: expected octal`);
        fs.rootMode = parseInt(value, 8);
        break;
      case "uid":
      case "gid": {
        if (!/^\d+$/.test(value)) throw new Error(`bad option ${option}: expected a number`);
        fs[key === "uid" ? "rootUid" : "rootGid"] = Number(value);
        break;
      }
      default:
        mount.push(option);
    }
  }
  return { fs, mount };
}

function parseSize(option: string, value: string): number {
  const match = /^(\d+)([kmgt]?)$/i.exec(value);
  if (!match) throw new Error(`bad option ${option}: expected a number with optional k/m/g/t`);
  const shift = { "": 0, k: 10, m: 20, g: 30, t: 40 }[match[2].toLowerCase()]!;
  const n = Number(match[1]) * 2 ** shift;
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`bad option ${option}: out of range`);
  return n;
}

if (import.meta.main) {
  await runFromCommandLine({
    name: "tmpfs",
    positional: ["MOUNTPOINT"],
    create: (_args, options) => {
      const split = splitOptions(options);
      return {
        ops: new TmpFs(split.fs),
        options: [...fuse.defaultOptions, "fsname=tmpfs", ...split.mount],
      };
    },
  });
}

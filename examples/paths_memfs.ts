/**
 * paths_memfs: an in-memory read-write filesystem on the path API
 * (`@denofuse/fuse/paths`), with the POSIX behaviour of examples/tmpfs.ts
 * (which is written on the inode API) and the same conformance run: modes,
 * ownership, sticky and set-group-ID directories, nanosecond times with
 * relatime, xattrs, hard links, rename flags, sparse files, locks.
 *
 *     deno run --allow-ffi --allow-read examples/paths_memfs.ts [-o opt,...] MOUNTPOINT
 *
 * `-o size=` (bytes, k/m/g suffixes) and `nr_inodes=` limit it as they do
 * tmpfs; other options go to libfuse.
 *
 * What it shows: the handlers deal in paths and in their own handles only.
 * Inode numbers, lookup counts, renames of subtrees with open files in them,
 * files unlinked while open, readdir offsets and READDIRPLUS are the path
 * layer's business; this file keeps no kernel bookkeeping at all. It gives
 * its own inode numbers (`useIno`), so that the two names of a hard link
 * are one file to the kernel, and caches nothing (timeouts 0), as tmpfs.ts.
 * File contents live in pages (examples/lib/file_data.ts), the POSIX rules
 * are examples/lib/posix_rules.ts, shared with tmpfs.ts and sqlitefs.ts.
 *
 * @module
 */

import * as fuse from "../paths.ts";
import type { Path, PathName, PathOperations, RequestContext } from "../paths.ts";
import { runFromCommandLine } from "./lib/cli.ts";
import { copyRange, fallocateData, FileData, MAX_FILE_SIZE, seekData } from "./lib/file_data.ts";
import { FlockLocks, PosixLocks } from "./lib/lock_table.ts";
import { PAGE_SIZE, PageStore } from "./lib/page_store.ts";
import {
  BOGO_DIRENT_SIZE,
  checkRenameFlags,
  checkSticky,
  checkXattrName,
  Clock,
  killPriv,
  mayAccess,
  mknodType,
  NAME_MAX,
  newInodeMode,
  PERMISSION_BITS,
  relatimeDue,
  renameRules,
  visibleXattrs,
  XATTR_SIZE_MAX,
} from "./lib/posix_rules.ts";

const { S_IFMT, S_IFDIR, S_IFREG, S_IFLNK, S_IFCHR, S_IFBLK, errno, FUSEError } = fuse;
const O_ACCMODE = 0o3, O_RDONLY = 0o0, O_WRONLY = 0o1, O_TRUNC = 0o1000;

const NO_ENTRY = new FUSEError(errno.ENOENT);
const NO_ATTRIBUTE = new FUSEError(errno.ENODATA);
const enc = new TextEncoder();

/**
 * A name in a directory. It is also the listing's entry (`{ name, stat }`):
 * readdir hands the directory's entries over as they are, the name as bytes
 * encoded once and the live node as the stat.
 */
class Entry {
  readonly name: Uint8Array;
  constructor(name: PathName, public node: MemNode) {
    this.name = fuse.toBytes(name);
  }
  get stat(): MemNode {
    return this.node;
  }
}

/** A file, directory, symlink or device node. */
class MemNode {
  rdev = 0;
  nlink = 1;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  /** Open handles. */
  opens = 0;
  xattrs?: Map<string, { name: Uint8Array; value: Uint8Array }>;
  data?: FileData;
  /** A directory's entries by `componentKey`, and its parent. */
  entries?: Map<string, Entry>;
  parent?: MemNode;
  target?: PathName;
  posixLocks?: PosixLocks;
  flocks?: FlockLocks;

  constructor(
    readonly ino: number,
    public mode: number,
    public uid: number,
    public gid: number,
    now: bigint,
  ) {
    this.atimeNs = this.mtimeNs = this.ctimeNs = now;
  }

  get isDir(): boolean {
    return (this.mode & S_IFMT) === S_IFDIR;
  }

  /** 512-byte blocks: whole pages, as on the kernel's tmpfs. */
  get blocks(): number {
    return this.data ? this.data.pages.size * (PAGE_SIZE / 512) : 0;
  }

  get size(): number {
    if (this.data) return this.data.size;
    if (this.entries) return BOGO_DIRENT_SIZE * (this.entries.size + 2);
    return this.target === undefined ? 0 : fuse.toBytes(this.target).length;
  }
}

/** An open regular file: write requests carry no caller, so the opener is kept for set-id clearing. */
interface OpenFile {
  node: MemNode;
  flags: number;
  opener: { uid: number; gid: number };
}

/** Limits and the root directory of a {@link PathMemFs}. */
export interface PathMemFsOptions {
  /** Capacity in bytes (default 1 GiB). */
  maxBytes?: number;
  /** Most inodes, the root included (default maxBytes / 4096). */
  maxInodes?: number;
  /** Permission bits of the root (default 0o1777). */
  rootMode?: number;
}

function nameLength(name: PathName): number {
  if (typeof name !== "string") return name.length;
  return name.length * 3 <= NAME_MAX ? name.length : enc.encode(name).length;
}

/**
 * The in-memory filesystem, as a {@link PathOperations}: mount it with
 * `mountPaths(new PathMemFs(), dir)` or `mount(pathOperations(...), dir)`.
 *
 * @example
 * ```ts ignore
 * import { mountPaths } from "../paths.ts";
 * import { PathMemFs } from "./paths_memfs.ts";
 * await using fs = mountPaths(new PathMemFs(), "/mnt/mem", ["default_permissions"]);
 * ```
 */
export class PathMemFs implements PathOperations {
  /** Its own inode numbers: hard links are one file to the kernel. */
  readonly useIno = true;
  /** Nothing cached: attributes change without the kernel seeing why (relatime, ctime of links). */
  readonly entryTimeout = 0;
  /** See {@link entryTimeout}. */
  readonly attrTimeout = 0;
  /**
   * Set-id bits are cleared here where the kernel's kill flags say so
   * (`ctx.killSuidgid`); without them (libfuse < 3.17) by the rule of old:
   * for callers other than root.
   */
  readonly handleKillprivV2 = true;
  readonly #root: MemNode;
  readonly #files = new Map<number, OpenFile>();
  readonly #clock = new Clock();
  readonly #pages: PageStore;
  readonly #maxInodes: number;
  #inodes = 1;
  #nextIno = 2;
  #nextFh = 1;

  /**
   * Creates an empty filesystem whose root belongs to this process.
   *
   * @param options capacity and root mode
   */
  constructor(options: PathMemFsOptions = {}) {
    const maxBytes = options.maxBytes ?? 1 << 30;
    this.#pages = new PageStore(Math.ceil(maxBytes / PAGE_SIZE));
    this.#maxInodes = options.maxInodes ?? Math.max(1, Math.floor(maxBytes / PAGE_SIZE));
    const ids = fuse.processIds();
    const root = new MemNode(
      1,
      S_IFDIR | (options.rootMode ?? 0o1777),
      ids.uid,
      ids.gid,
      this.#clock.now(),
    );
    root.nlink = 2;
    root.entries = new Map();
    root.parent = root;
    this.#root = root;
  }

  /** Inodes alive, the root and unlinked open files included. */
  get liveInodes(): number {
    return this.#inodes;
  }

  // ---- attributes ----

  /** The attributes of a path, or of an open file (also one without a name). */
  getattr(path: Path | null, fh: number | undefined): fuse.PathStat {
    return this.#attr(fh !== undefined ? this.#file(fh).node : this.#resolve(path));
  }

  /** access(2), asked only without `default_permissions`. */
  access(path: Path, mode: number, ctx: RequestContext): boolean {
    return mayAccess(this.#resolve(path), mode, ctx);
  }

  /** Usage in pages. */
  statfs(): fuse.StatvfsData {
    const free = this.#pages.available, freeInodes = Math.max(0, this.#maxInodes - this.#inodes);
    return new fuse.StatvfsData({
      fBsize: PAGE_SIZE,
      fFrsize: PAGE_SIZE,
      fBlocks: this.#pages.capacity,
      fBfree: free,
      fBavail: free,
      fFiles: this.#maxInodes,
      fFfree: freeInodes,
      fFavail: freeInodes,
      fNamemax: NAME_MAX,
    });
  }

  /** ftruncate/truncate; clears set-id bits where the kernel says (or unless root does it). */
  truncate(path: Path | null, size: number, fh: number | undefined, ctx: RequestContext): void {
    const node = this.#target(path, fh);
    if (node.isDir) throw new FUSEError(errno.EISDIR);
    if (!node.data) throw new FUSEError(errno.EINVAL);
    if (size > MAX_FILE_SIZE) throw new FUSEError(errno.EFBIG);
    node.data.truncate(size);
    node.mtimeNs = node.ctimeNs = this.#clock.now();
    if (ctx.killSuidgid ?? ctx.uid !== 0) node.mode = killPriv(node, ctx);
  }

  /** chown; clears set-id bits even when root does it. */
  chown(
    path: Path | null,
    uid: number,
    gid: number,
    fh: number | undefined,
    ctx: RequestContext,
  ): void {
    const node = this.#target(path, fh);
    node.mode = killPriv(node, ctx);
    if (uid !== -1) node.uid = uid;
    if (gid !== -1) node.gid = gid;
    node.ctimeNs = this.#clock.now();
  }

  /** chmod. */
  chmod(path: Path | null, mode: number, fh: number | undefined): void {
    const node = this.#target(path, fh);
    node.mode = (node.mode & S_IFMT) | (mode & PERMISSION_BITS);
    node.ctimeNs = this.#clock.now();
  }

  /** utimensat; `null` leaves a time as it is. */
  utimens(
    path: Path | null,
    atimeNs: bigint | null,
    mtimeNs: bigint | null,
    fh: number | undefined,
  ): void {
    const node = this.#target(path, fh);
    if (atimeNs !== null) this.#clock.observe(atimeNs);
    if (mtimeNs !== null) this.#clock.observe(mtimeNs);
    const now = this.#clock.now();
    if (atimeNs !== null) node.atimeNs = atimeNs;
    if (mtimeNs !== null) node.mtimeNs = mtimeNs;
    node.ctimeNs = now;
  }

  // ---- names ----

  /** Creates a regular file, FIFO, socket or device node. */
  mknod(path: Path, mode: number, rdev: number, ctx: RequestContext): fuse.PathStat {
    const type = mknodType(mode);
    const node = this.#create(path, type | (mode & PERMISSION_BITS), ctx);
    if (type === S_IFCHR || type === S_IFBLK) node.rdev = rdev;
    return this.#attr(node);
  }

  /** Creates a directory (permission and sticky bits; set-group-ID comes from the parent). */
  mkdir(path: Path, mode: number, ctx: RequestContext): fuse.PathStat {
    return this.#attr(this.#create(path, S_IFDIR | (mode & 0o1777), ctx));
  }

  /** Creates symlink `path` to `target`. */
  symlink(target: Path, path: Path, ctx: RequestContext): fuse.PathStat {
    return this.#attr(this.#create(path, S_IFLNK | 0o777, ctx, target));
  }

  /** The target of a symlink (relatime applies). */
  readlink(path: Path): PathName {
    const node = this.#resolve(path);
    if (node.target === undefined) throw new FUSEError(errno.EINVAL);
    this.#touchAtime(node);
    return node.target;
  }

  /** Removes a non-directory. */
  unlink(path: Path, ctx: RequestContext): void {
    const [dir, key] = this.#parent(path);
    const entry = dir.entries!.get(key);
    if (!entry) throw NO_ENTRY;
    if (entry.node.isDir) throw new FUSEError(errno.EISDIR);
    checkSticky(dir, entry.node, ctx);
    const now = this.#clock.now();
    dir.entries!.delete(key);
    dir.mtimeNs = dir.ctimeNs = now;
    entry.node.nlink--;
    entry.node.ctimeNs = now;
    this.#maybeFree(entry.node);
  }

  /** Removes an empty directory. */
  rmdir(path: Path, ctx: RequestContext): void {
    const [dir, key] = this.#parent(path);
    const entry = dir.entries!.get(key);
    if (!entry) throw NO_ENTRY;
    const node = entry.node;
    if (!node.isDir) throw new FUSEError(errno.ENOTDIR);
    if (node.entries!.size > 0) throw new FUSEError(errno.ENOTEMPTY);
    checkSticky(dir, node, ctx);
    const now = this.#clock.now();
    dir.entries!.delete(key);
    dir.mtimeNs = dir.ctimeNs = now;
    dir.nlink--;
    this.#kill(node, now);
  }

  /** rename(2) and renameat2(2)'s RENAME_NOREPLACE and RENAME_EXCHANGE. */
  rename(from: Path, to: Path, flags: number, ctx: RequestContext): void {
    checkRenameFlags(flags);
    const [oldDir, oldKey] = this.#parent(from);
    const [newDir, newKey, newName] = this.#parent(to);
    const oldEntry = oldDir.entries!.get(oldKey);
    if (!oldEntry) throw NO_ENTRY;
    const src = oldEntry.node;
    const newEntry = newDir.entries!.get(newKey);
    const dst = newEntry?.node;
    const plan = renameRules(flags, oldDir, newDir, src, dst, {
      sameEntry: newEntry === oldEntry,
      dstEmpty: () => dst!.entries!.size === 0,
      srcAboveNewDir: () => this.#isWithin(newDir, src),
      dstAboveOldDir: () => this.#isWithin(oldDir, dst!),
    }, ctx);
    if (plan === "noop") return;
    if (plan === "exchange") {
      // The names stay; the files behind them swap.
      oldEntry.node = dst!;
      newEntry!.node = src;
      if (oldDir !== newDir) {
        if (src.isDir) this.#reparent(src, oldDir, newDir);
        if (dst!.isDir) this.#reparent(dst!, newDir, oldDir);
      }
      const now = this.#clock.now();
      oldDir.mtimeNs =
        oldDir.ctimeNs =
        newDir.mtimeNs =
        newDir.ctimeNs =
          now;
      src.ctimeNs = dst!.ctimeNs = now;
      return;
    }
    const now = this.#clock.now();
    if (dst) {
      newDir.entries!.delete(newKey);
      if (dst.isDir) {
        newDir.nlink--;
        this.#kill(dst, now);
      } else {
        dst.nlink--;
        dst.ctimeNs = now;
        this.#maybeFree(dst);
      }
    }
    oldDir.entries!.delete(oldKey);
    newDir.entries!.set(newKey, new Entry(newName, src));
    if (src.isDir && oldDir !== newDir) this.#reparent(src, oldDir, newDir);
    oldDir.mtimeNs =
      oldDir.ctimeNs =
      newDir.mtimeNs =
      newDir.ctimeNs =
        now;
    src.ctimeNs = now;
  }

  /** Hard link `to` of `from`. */
  link(from: Path, to: Path): fuse.PathStat {
    const node = this.#resolve(from);
    if (node.isDir) throw new FUSEError(errno.EPERM);
    const [dir, key, name] = this.#parent(to);
    if (dir.entries!.has(key)) throw new FUSEError(errno.EEXIST);
    const now = this.#clock.now();
    dir.entries!.set(key, new Entry(name, node));
    dir.mtimeNs = dir.ctimeNs = now;
    node.nlink++;
    node.ctimeNs = now;
    return this.#attr(node);
  }

  // ---- files ----

  /** Creates and opens a regular file; answers its attributes too (no getattr follows). */
  create(
    path: Path,
    mode: number,
    flags: number,
    ctx: RequestContext,
  ): [number, fuse.PathStat] {
    const node = this.#create(path, S_IFREG | (mode & PERMISSION_BITS), ctx);
    return [this.#open(node, flags, ctx), this.#attr(node)];
  }

  /** Opens a regular file; O_TRUNC truncates here. */
  open(path: Path, flags: number, ctx: RequestContext): number {
    const node = this.#resolve(path);
    if (node.isDir) throw new FUSEError(errno.EISDIR);
    if (!node.data) throw new FUSEError(errno.EINVAL);
    if (flags & O_TRUNC) {
      node.data.truncate(0);
      node.mtimeNs = node.ctimeNs = this.#clock.now();
      if (ctx.killSuidgid ?? ctx.uid !== 0) node.mode = killPriv(node, ctx);
    }
    return this.#open(node, flags, ctx);
  }

  /** Reads; holes read as zeros. The bytes are valid until the next call. */
  read(_path: Path | null, fh: number, length: number, position: number): Uint8Array {
    const file = this.#file(fh);
    const data = file.node.data!.read(position, length);
    this.#touchAtime(file.node);
    return data;
  }

  /** Writes, allocating the pages touched; short when the filesystem fills up. */
  write(
    _path: Path | null,
    fh: number,
    buffer: Uint8Array,
    position: number,
    ctx: RequestContext,
  ): number {
    const file = this.#file(fh);
    if ((file.flags & O_ACCMODE) === O_RDONLY) throw new FUSEError(errno.EBADF);
    if (buffer.length === 0) return 0;
    if (position + buffer.length > MAX_FILE_SIZE) throw new FUSEError(errno.EFBIG);
    const node = file.node;
    const written = node.data!.write(position, buffer);
    if (written === 0) throw new FUSEError(errno.ENOSPC);
    node.mtimeNs = node.ctimeNs = this.#clock.now();
    // The opener stands in for the writer: ctx's ids would cost an FFI call per write.
    if (ctx.killSuidgid ?? file.opener.uid !== 0) node.mode = killPriv(node, file.opener);
    return written;
  }

  /** Nothing to sync. */
  fsync(_path: Path | null, fh: number): void {
    this.#file(fh);
  }

  /** Closes a file; an unlinked file goes with its last handle. */
  release(_path: Path | null, fh: number): void {
    const file = this.#file(fh);
    this.#files.delete(fh);
    file.node.opens--;
    this.#maybeFree(file.node);
  }

  // ---- directories ----

  /** The entries with their attributes (relatime applies to the directory). */
  readdir(path: Path): Iterable<fuse.DirEntry> {
    const dir = this.#resolve(path);
    if (!dir.entries) throw new FUSEError(errno.ENOTDIR);
    this.#touchAtime(dir);
    return dir.entries.values();
  }

  // ---- extended attributes ----

  /** setxattr with XATTR_CREATE / XATTR_REPLACE. */
  setxattr(path: Path, name: Uint8Array, value: Uint8Array, flags: number): void {
    const node = this.#resolve(path);
    checkXattrName(name);
    if (value.length > XATTR_SIZE_MAX) throw new FUSEError(errno.E2BIG);
    const key = fuse.componentKey(name);
    const exists = node.xattrs?.has(key) ?? false;
    if ((flags & fuse.XATTR_CREATE) && exists) throw new FUSEError(errno.EEXIST);
    if ((flags & fuse.XATTR_REPLACE) && !exists) throw NO_ATTRIBUTE;
    (node.xattrs ??= new Map()).set(key, { name: name.slice(), value: value.slice() });
    node.ctimeNs = this.#clock.now();
  }

  /** getxattr. */
  getxattr(path: Path, name: Uint8Array): Uint8Array {
    const node = this.#resolve(path);
    checkXattrName(name);
    const attr = node.xattrs?.get(fuse.componentKey(name));
    if (!attr) throw NO_ATTRIBUTE;
    return attr.value;
  }

  /** listxattr; trusted.* only for root. */
  listxattr(path: Path, ctx: RequestContext): Uint8Array[] {
    const names = [...(this.#resolve(path).xattrs?.values() ?? [])].map((x) => x.name);
    return visibleXattrs(names, ctx);
  }

  /** removexattr. */
  removexattr(path: Path, name: Uint8Array): void {
    const node = this.#resolve(path);
    checkXattrName(name);
    if (!node.xattrs?.delete(fuse.componentKey(name))) throw NO_ATTRIBUTE;
    node.ctimeNs = this.#clock.now();
  }

  // ---- locks, preallocation, holes, copies ----

  /** F_GETLK. */
  getlk(_path: Path | null, fh: number, owner: bigint, lock: fuse.FileLock): fuse.FileLock {
    const node = this.#file(fh).node;
    return node.posixLocks?.test(owner, lock) ?? new fuse.FileLock({ ...lock, type: fuse.F_UNLCK });
  }

  /** F_SETLK / F_SETLKW; a waiting lock gives way when the caller is interrupted. */
  async setlk(
    _path: Path | null,
    fh: number,
    owner: bigint,
    lock: fuse.FileLock,
    wait: boolean,
    ctx: RequestContext,
  ): Promise<void> {
    const node = this.#file(fh).node;
    await (node.posixLocks ??= new PosixLocks()).set(owner, lock, wait, ctx.signal);
  }

  /** flock(2). */
  async flock(
    _path: Path | null,
    fh: number,
    owner: bigint,
    op: number,
    ctx: RequestContext,
  ): Promise<void> {
    const node = this.#file(fh).node;
    await (node.flocks ??= new FlockLocks()).apply(owner, op, ctx.signal);
  }

  /** fallocate: preallocate (optionally keeping the size), punch holes, zero ranges. */
  fallocate(_path: Path | null, fh: number, mode: number, offset: number, length: number): void {
    const file = this.#file(fh);
    if ((file.flags & O_ACCMODE) === O_RDONLY) throw new FUSEError(errno.EBADF);
    if (fallocateData(file.node.data!, mode, offset, length)) {
      file.node.mtimeNs = file.node.ctimeNs = this.#clock.now();
    }
    // No kill flag comes with fallocate, and with handleKillprivV2 in
    // force the kernel clears nothing itself: the rule of old decides.
    if (file.opener.uid !== 0) file.node.mode = killPriv(file.node, file.opener);
  }

  /** SEEK_DATA / SEEK_HOLE at page granularity. */
  lseek(_path: Path | null, fh: number, offset: number, whence: number): number {
    return seekData(this.#file(fh).node.data!, offset, whence);
  }

  /** copy_file_range in steps of 1 MiB; short if the filesystem fills up part way. */
  copyFileRange(
    _pathIn: Path | null,
    fhIn: number,
    offIn: number,
    pathOut: Path | null,
    fhOut: number,
    offOut: number,
    length: number,
    _flags: number,
    ctx: RequestContext,
  ): number {
    const src = this.#file(fhIn);
    if ((src.flags & O_ACCMODE) === O_WRONLY) throw new FUSEError(errno.EBADF);
    const sameFile = src.node === this.#files.get(fhOut)?.node;
    return copyRange(
      src.node.data!,
      offIn,
      offOut,
      length,
      sameFile,
      // ctx carries no kill flag: write clears set-id bits by the rule of old.
      (part, at) => this.write(pathOut, fhOut, part, at, ctx),
    );
  }

  // ---- internals ----

  /** The node at `path`; ENOENT, ENOTDIR or ENAMETOOLONG as a walk of the path finds. */
  #resolve(path: Path | null): MemNode {
    if (path === null) throw NO_ENTRY;
    let node = this.#root;
    if (path === "/") return node;
    const parts = fuse.pathComponents(path);
    for (let i = 0; i < parts.length; i++) {
      if (!node.entries) throw new FUSEError(errno.ENOTDIR);
      const part = parts[i];
      const entry = node.entries.get(fuse.componentKey(part));
      if (!entry) {
        if (nameLength(part) > NAME_MAX) throw new FUSEError(errno.ENAMETOOLONG);
        throw NO_ENTRY;
      }
      node = entry.node;
    }
    return node;
  }

  /** The directory holding `path`'s last component, that component's key, and its name. */
  #parent(path: Path): [MemNode, string, PathName] {
    const parts = fuse.pathComponents(path);
    const name = parts.pop();
    if (name === undefined) throw new FUSEError(errno.EBUSY); // the root itself
    if (nameLength(name) > NAME_MAX) throw new FUSEError(errno.ENAMETOOLONG);
    let dir = this.#root;
    for (const part of parts) {
      const entry = dir.entries?.get(fuse.componentKey(part));
      if (!entry) throw NO_ENTRY;
      dir = entry.node;
    }
    if (!dir.entries) throw new FUSEError(errno.ENOTDIR);
    return [dir, fuse.componentKey(name), name];
  }

  /** The node of a setattr-style call: the open file's when there is one. */
  #target(path: Path | null, fh: number | undefined): MemNode {
    return fh !== undefined ? this.#file(fh).node : this.#resolve(path);
  }

  #file(fh: number): OpenFile {
    const file = this.#files.get(fh);
    if (!file) throw new FUSEError(errno.EBADF);
    return file;
  }

  #open(node: MemNode, flags: number, ctx: RequestContext): number {
    const fh = this.#nextFh++;
    this.#files.set(fh, { node, flags, opener: { uid: ctx.uid, gid: ctx.gid } });
    node.opens++;
    return fh;
  }

  #create(path: Path, mode: number, ctx: RequestContext, target?: PathName): MemNode {
    const [dir, key, name] = this.#parent(path);
    if (dir.entries!.has(key)) throw new FUSEError(errno.EEXIST);
    if (this.#inodes >= this.#maxInodes) throw new FUSEError(errno.ENOSPC);
    const made = newInodeMode(dir, mode, ctx);
    const node = new MemNode(this.#nextIno++, made.mode, ctx.uid, made.gid, this.#clock.now());
    this.#inodes++;
    const type = made.mode & S_IFMT;
    if (type === S_IFDIR) {
      node.entries = new Map();
      node.parent = dir;
      node.nlink = 2;
      dir.nlink++;
    } else if (type === S_IFREG) {
      node.data = new FileData(this.#pages);
    } else if (type === S_IFLNK) {
      node.target = target;
    }
    dir.entries!.set(key, new Entry(name, node));
    dir.mtimeNs = dir.ctimeNs = node.ctimeNs;
    return node;
  }

  #kill(dir: MemNode, now: bigint): void {
    dir.nlink = 0;
    dir.ctimeNs = now;
    this.#maybeFree(dir);
  }

  #reparent(dir: MemNode, from: MemNode, to: MemNode): void {
    dir.parent = to;
    from.nlink--;
    to.nlink++;
  }

  #isWithin(dir: MemNode, ancestor: MemNode): boolean {
    for (let node = dir;; node = node.parent!) {
      if (node === ancestor) return true;
      if (node === this.#root) return false;
    }
  }

  #maybeFree(node: MemNode): void {
    if (node.nlink > 0 || node.opens > 0 || node === this.#root) return;
    this.#inodes--;
    node.data?.truncate(0);
  }

  #touchAtime(node: MemNode): void {
    const now = this.#clock.now();
    if (relatimeDue(node, now)) node.atimeNs = now;
  }

  /** A node is its own stat answer (a {@link fuse.StatLike}): no copy per request. */
  #attr(node: MemNode): fuse.PathStat {
    return node;
  }
}

/**
 * A {@link PathMemFs} as the inode API's `Operations`, for `mount` and
 * `mountInWorker({ module, export: "memfs" })`.
 *
 * @param options capacity and root mode
 * @returns the filesystem to mount
 * @example
 * ```ts ignore
 * import { mountInWorker } from "../paths.ts";
 * await using fs = mountInWorker({ module: new URL("./paths_memfs.ts", import.meta.url), export: "memfs" }, "/mnt/m");
 * ```
 */
export function memfs(options: PathMemFsOptions = {}): fuse.PathFilesystem {
  return fuse.pathOperations(new PathMemFs(options));
}

function parseSize(option: string, value: string): number {
  const match = /^(\d+)([kmg]?)$/i.exec(value);
  if (!match) throw new Error(`bad option ${option}: expected a number with optional k/m/g`);
  return Number(match[1]) * 2 ** ({ "": 0, k: 10, m: 20, g: 30 }[match[2].toLowerCase()] as number);
}

if (import.meta.main) {
  await runFromCommandLine({
    name: "paths_memfs",
    positional: ["MOUNTPOINT"],
    create: (_args, options) => {
      const fs: PathMemFsOptions = {}, mount: string[] = [];
      for (const option of options) {
        const [key, value] = option.split("=", 2);
        if (key === "size" && value) fs.maxBytes = parseSize(option, value);
        else if (key === "nr_inodes" && value) fs.maxInodes = parseSize(option, value);
        else mount.push(option);
      }
      return {
        ops: memfs(fs),
        options: [...fuse.defaultOptions, "fsname=paths_memfs", ...mount],
      };
    },
  });
}

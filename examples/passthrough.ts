/**
 * passthrough: mirrors a SOURCE directory at MOUNTPOINT, the counterpart of
 * pyfuse3's examples/passthroughfs.py.
 *
 *     deno run --allow-ffi --allow-read examples/passthrough.ts [-o opt,...] SOURCE MOUNTPOINT
 *
 * Stays in the foreground; Ctrl-C (SIGINT) or SIGTERM unmounts. Run it as
 * root with `-o allow_other` to serve other users: the kernel then checks
 * every caller's permissions (`default_permissions`, always on), and objects
 * they create are handed to them.
 *
 * How it reaches the backing files, and why:
 *
 * - Every inode the kernel knows is held as an `O_PATH` file descriptor on
 *   the backing object, and every call is a `*at()` call relative to one of
 *   those descriptors with a single name component, never following a
 *   symlink. Paths are never rebuilt from strings, so a rename on either side
 *   cannot make us act on the wrong file, and nothing the kernel sends can
 *   reach outside SOURCE: names containing '/' are refused, and ".." at the
 *   root resolves to the root.
 * - Inode numbers are the backing `st_ino` for objects on SOURCE's own
 *   filesystem (so `stat` and `ls -i` agree on both sides), except that
 *   SOURCE itself is inode 1. Objects on other filesystems mounted inside
 *   SOURCE, and the rare `st_ino` of 1 or at least 2^52, get numbers
 *   allocated from 2^52 up, which no identity-mapped number can reach.
 *   Holding the `O_PATH` descriptor keeps the backing inode alive, so its
 *   number cannot be reused for another file while the kernel still knows
 *   it.
 * - Lookup counts are kept per inode; when `forget` brings one to zero the
 *   descriptor is closed.
 * - Name and attribute timeouts are 0 by default, so changes made directly
 *   in SOURCE show through the mount at once, at the cost of one lookup per
 *   path component per access.
 *
 * @module
 */

import * as fuse from "../mod.ts";
import { runFromCommandLine } from "../utils/cli.ts";
import {
  acquireLibc,
  AT,
  check,
  cstr,
  EMPTY,
  fstatat,
  fstatvfs,
  isMemoryBacked,
  lastError,
  NO_ID,
  O,
  offThread,
  parseDirents,
  releaseLibc,
  S,
  type Stat,
  sym,
  timespecs,
} from "../ffi/posix.ts";

const { errno, FUSEError } = fuse;

/** First inode number handed out for objects whose `st_ino` cannot be used as is. */
const ALLOC_BASE = 2 ** 52;

/** Directory entries are read from the backing directory in chunks of this size. */
const DIRENT_CHUNK = 64 * 1024;

/** One backing object the kernel holds a reference to. */
interface Node {
  /** Our (and the kernel's) inode number. */
  readonly id: fuse.Inode;
  /** `O_PATH` descriptor on the backing object. */
  readonly fd: number;
  /** `st_dev:st_ino`, to find the node again when another name leads to it (hard links). */
  readonly key: string;
  readonly dev: bigint;
  readonly isSymlink: boolean;
  /** Lookups the kernel has not forgotten yet (plus short-lived pins while a call is in flight). */
  nlookup: number;
  /** `/proc/self/fd/N`: reaches the object itself through its `O_PATH` descriptor. */
  readonly proc: Uint8Array<ArrayBuffer>;
}

/** An open directory. */
interface DirHandle {
  readonly fd: number;
  readonly node: Node;
  /** The listing taken when reading started at offset 0; entry i continues at i + 1. */
  entries: Array<{ ino: bigint; type: number; name: Uint8Array }> | null;
}

/** How the ownership and mode fix-up of a new object reaches it. */
interface NewObject {
  chown(uid: number, gid: number): void;
  chmod(mode: number): void;
  stat(): Stat;
}

/** Options of {@link PassthroughFs}. */
export interface PassthroughOptions {
  /**
   * Seconds the kernel may cache names and attributes (default 0, so that
   * changes made directly in the source directory show at once).
   */
  timeout?: number;
  /**
   * Where file reads and writes run. `"thread"`: on Deno's blocking thread
   * pool, so a slow disk never stalls the other requests. `"inline"`: on the
   * JS thread, as libfuse's single-threaded passthrough_ll does; about three
   * times as many small requests per second, but one slow read holds up
   * every request behind it. `"auto"` (the default): inline when the source
   * is in memory (tmpfs, ramfs), where nothing waits for a device, else
   * thread.
   */
  io?: "auto" | "inline" | "thread";
}

const DOT = 0x2e;
const isDot = (n: Uint8Array) => n.length === 1 && n[0] === DOT;
const isDotDot = (n: Uint8Array) => n.length === 2 && n[0] === DOT && n[1] === DOT;

/**
 * Checks a single name component from the kernel and makes it a C string.
 * The kernel never sends '/', "." or ".." here; refusing them anyway keeps a
 * confused or hostile caller of these handlers inside the source directory.
 *
 * @param name the raw name
 * @param dotErrno what Linux answers for "." or ".." in this operation
 * @returns the NUL-terminated name
 */
function component(name: Uint8Array, dotErrno: number): Uint8Array<ArrayBuffer> {
  if (name.length === 0) throw new FUSEError(errno.ENOENT);
  if (name.includes(0x2f)) throw new FUSEError(errno.EINVAL);
  if (isDot(name) || isDotDot(name)) throw new FUSEError(dotErrno);
  return cstr(name);
}

const procPath = (fd: number) => cstr(`/proc/self/fd/${fd}`);
const DOTDOT = cstr("..");

/**
 * The process umask, read without changing it (umask(2) can only set it,
 * which would race with other threads creating files).
 */
function processUmask(): number {
  const c = sym();
  const fd = c.openat(AT.FDCWD, cstr("/proc/self/status"), O.O_RDONLY | O.O_CLOEXEC, 0);
  if (fd < 0) return 0o777;
  try {
    const buf = new Uint8Array(8192);
    const n = Number(c.pread(fd, buf, BigInt(buf.length), 0n));
    const match = /^Umask:\s*([0-7]+)$/m.exec(new TextDecoder().decode(buf.subarray(0, n)));
    // Unknown: treat every permission bit as possibly masked, so all are restored.
    return match ? parseInt(match[1], 8) : 0o777;
  } finally {
    c.close(fd);
  }
}

/**
 * pread(2) until `size` bytes or end of file: the kernel takes a short read
 * as end of file.
 *
 * @param fd the backing file
 * @param off where to start
 * @param size how many bytes
 * @param buf where to read to (at least `size` bytes)
 * @returns the bytes read, a view of `buf`
 */
function readFully(
  fd: number,
  off: number,
  size: number,
  buf: Uint8Array<ArrayBuffer>,
): Uint8Array {
  const c = sym();
  let got = 0;
  while (got < size) {
    const part = buf.subarray(got, size);
    const n = check(c.pread(fd, part, BigInt(part.length), BigInt(off + got)));
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

/**
 * {@link readFully} with each pread on Deno's blocking thread pool.
 *
 * @param fd the backing file
 * @param off where to start
 * @param size how many bytes
 * @returns the bytes read
 */
async function readFullyOffThread(fd: number, off: number, size: number): Promise<Uint8Array> {
  const c = sym();
  const buf = new Uint8Array(size);
  let got = 0;
  while (got < size) {
    const part = buf.subarray(got);
    const at = off + got;
    const n = await offThread(
      () => c.pread_nb(fd, part, BigInt(part.length), BigInt(at)),
      () => c.pread(fd, part, BigInt(part.length), BigInt(at)),
    );
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

/**
 * The passthrough filesystem: forwards every operation to the backing
 * directory given to the constructor.
 *
 * Call {@link close} after unmounting to release the backing descriptors
 * (the library has no "destroy" callback).
 *
 * @example
 * ```ts ignore
 * import * as fuse from "../mod.ts";
 * import { PassthroughFs } from "./passthrough.ts";
 * const fs = new PassthroughFs("/srv/data");
 * await using _mount = fuse.mount(fs, "/mnt/data");
 * ```
 */
export class PassthroughFs implements fuse.Operations {
  /**
   * Plain READDIR when the kernel needs no attributes (`ls`, `find`);
   * readdir counts lookups only for READDIRPLUS entries.
   */
  readonly enableReaddirplusAuto = true;
  /** The mirrored directory, as given to the constructor. */
  readonly source: string;
  readonly #timeout: number;
  readonly #nodes = new Map<fuse.Inode, Node>();
  readonly #byKey = new Map<string, Node>();
  readonly #files = new Map<fuse.FileHandle, number>();
  readonly #dirs = new Map<fuse.FileHandle, DirHandle>();
  readonly #root: Node;
  /** Whether we run as root and so can hand new objects to their creator. */
  readonly #chown: boolean;
  /** Bits our own umask strips from new objects, which the caller did not ask to strip. */
  readonly #umask: number;
  /** Whether file reads and writes run on the JS thread (see {@link PassthroughOptions.io}). */
  readonly inlineIo: boolean;
  #readBuffer = new Uint8Array(0);
  #nextFh = 1;
  #nextId = ALLOC_BASE;
  #closed = false;

  /**
   * Opens the source directory. Do this before mounting: the descriptor then
   * refers to the source even if the mount hides it (SOURCE = MOUNTPOINT).
   *
   * @param source the directory to mirror
   * @param options cache timeouts
   * @throws {Error} if `source` cannot be opened as a directory
   */
  constructor(source: string, options: PassthroughOptions = {}) {
    this.source = source;
    this.#timeout = options.timeout ?? 0;
    const path = cstr(source);
    const c = acquireLibc();
    const fd = c.openat(AT.FDCWD, path, O.O_PATH | O.O_DIRECTORY | O.O_CLOEXEC, 0);
    if (fd < 0) {
      const e = lastError();
      releaseLibc();
      throw new Error(`passthrough: cannot open source directory ${source}: ${e.code}`, {
        cause: e,
      });
    }
    const st = fstatat(fd, EMPTY, AT.EMPTY_PATH);
    this.#root = {
      id: fuse.ROOT_INODE,
      fd,
      key: `${st.dev}:${st.ino}`,
      dev: st.dev,
      isSymlink: false,
      nlookup: 1,
      proc: procPath(fd),
    };
    this.#nodes.set(this.#root.id, this.#root);
    this.#byKey.set(this.#root.key, this.#root);
    this.#chown = c.geteuid() === 0;
    this.#umask = processUmask() & 0o777;
    const io = options.io ?? "auto";
    this.inlineIo = io === "inline" || (io === "auto" && isMemoryBacked(fd));
  }

  /** Inodes the kernel currently holds (each one an open `O_PATH` descriptor), the root excluded. */
  get openInodes(): number {
    return this.#nodes.size - 1;
  }

  /** Files and directories currently open through the mount. */
  get openHandles(): number {
    return this.#files.size + this.#dirs.size;
  }

  /** Closes every backing descriptor. Call once unmounted; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const c = sym();
    for (const fd of this.#files.values()) c.close(fd);
    for (const d of this.#dirs.values()) c.close(d.fd);
    for (const n of this.#nodes.values()) c.close(n.fd);
    this.#files.clear();
    this.#dirs.clear();
    this.#nodes.clear();
    this.#byKey.clear();
    releaseLibc();
  }

  // -------------------------------------------------------------------------
  // Inode table
  // -------------------------------------------------------------------------

  #node(inode: fuse.Inode): Node {
    const node = this.#nodes.get(inode);
    if (!node) throw new FUSEError(errno.ESTALE);
    return node;
  }

  #stat(node: Node): Stat {
    return fstatat(node.fd, EMPTY, AT.EMPTY_PATH | AT.SYMLINK_NOFOLLOW);
  }

  #attr(node: Node, st: Stat): fuse.EntryAttributes {
    return new fuse.EntryAttributes({
      stIno: node.id,
      entryTimeout: this.#timeout,
      attrTimeout: this.#timeout,
      stMode: st.mode,
      stNlink: st.nlink,
      stUid: st.uid,
      stGid: st.gid,
      stRdev: st.rdev,
      stSize: st.size,
      stBlksize: st.blksize,
      stBlocks: st.blocks,
      stAtimeNs: st.atimeNs,
      stMtimeNs: st.mtimeNs,
      stCtimeNs: st.ctimeNs,
    });
  }

  /** The inode number for a backing object (see the module documentation). */
  #idFor(dev: bigint, ino: bigint): fuse.Inode {
    if (dev === this.#root.dev && ino > 1n && ino < BigInt(ALLOC_BASE)) return Number(ino);
    return this.#nextId++;
  }

  /**
   * Takes ownership of an `O_PATH` descriptor: returns the node already known
   * for its object (closing the descriptor) or a new node with lookup count
   * 0, which the caller must either reference or {@link #dropIfUnused}.
   */
  #adopt(fd: number): { node: Node; st: Stat } {
    let st: Stat;
    try {
      st = fstatat(fd, EMPTY, AT.EMPTY_PATH | AT.SYMLINK_NOFOLLOW);
    } catch (error) {
      sym().close(fd);
      throw error;
    }
    const key = `${st.dev}:${st.ino}`;
    const known = this.#byKey.get(key);
    if (known) {
      sym().close(fd);
      return { node: known, st };
    }
    const node: Node = {
      id: this.#idFor(st.dev, st.ino),
      fd,
      key,
      dev: st.dev,
      isSymlink: (st.mode & S.IFMT) === S.IFLNK,
      nlookup: 0,
      proc: procPath(fd),
    };
    this.#nodes.set(node.id, node);
    this.#byKey.set(key, node);
    return { node, st };
  }

  /** Looks up one name in a directory (lookup count unchanged). */
  #find(parent: Node, name: Uint8Array<ArrayBuffer>): { node: Node; st: Stat } {
    const fd = check(
      sym().openat(parent.fd, name, O.O_PATH | O.O_NOFOLLOW | O.O_CLOEXEC, 0),
    );
    return this.#adopt(fd);
  }

  /** Drops `count` references; the descriptor closes when none is left. */
  #unref(node: Node, count: number): void {
    node.nlookup -= count;
    this.#dropIfUnused(node);
  }

  #dropIfUnused(node: Node): void {
    if (node.nlookup > 0 || node === this.#root || this.#nodes.get(node.id) !== node) return;
    this.#nodes.delete(node.id);
    this.#byKey.delete(node.key);
    sym().close(node.fd);
  }

  /**
   * Resolves ".." of a directory without leaving the source: the root's
   * parent is the root, and a directory that was moved out of the source
   * (directly in the backing filesystem) has no parent we may show.
   */
  #parentOf(dir: Node): { node: Node; st: Stat } {
    if (dir === this.#root) return { node: dir, st: this.#stat(dir) };
    const c = sym();
    const fd = check(c.openat(dir.fd, DOTDOT, O.O_PATH | O.O_DIRECTORY | O.O_CLOEXEC, 0));
    let inside: boolean;
    try {
      inside = this.#inSource(fd);
    } catch (error) {
      c.close(fd);
      throw error;
    }
    if (!inside) {
      c.close(fd);
      throw new FUSEError(errno.EACCES);
    }
    return this.#adopt(fd);
  }

  /** Whether directory `fd` is the source or below it, found by walking ".." up. */
  #inSource(fd: number): boolean {
    const c = sym();
    let cur = fd;
    try {
      for (let depth = 0; depth < 4096; depth++) {
        const st = fstatat(cur, EMPTY, AT.EMPTY_PATH);
        if (`${st.dev}:${st.ino}` === this.#root.key) return true;
        const up = check(c.openat(cur, DOTDOT, O.O_PATH | O.O_DIRECTORY | O.O_CLOEXEC, 0));
        if (cur !== fd) c.close(cur);
        cur = up;
        const upSt = fstatat(cur, EMPTY, AT.EMPTY_PATH);
        // "/" is its own parent: the walk passed no source directory.
        if (upSt.dev === st.dev && upSt.ino === st.ino) return false;
      }
      return false;
    } finally {
      if (cur !== fd) c.close(cur);
    }
  }

  /**
   * Makes a new object look as if its caller had created it: owned by the
   * caller (unless the parent's set-group-ID bit gives it the parent's
   * group), with the permission bits the caller asked for even where our
   * own umask or the chown removed them.
   */
  #own(
    obj: NewObject,
    st: Stat,
    parent: Node,
    mode: number | null,
    ctx: fuse.RequestContext,
  ): Stat {
    let cur = st;
    if (this.#chown) {
      const gid = (this.#stat(parent).mode & S.ISGID) !== 0 ? NO_ID : ctx.gid;
      if (cur.uid !== ctx.uid || (gid !== NO_ID && cur.gid !== gid)) {
        obj.chown(ctx.uid, gid);
        cur = obj.stat();
      }
    }
    if (mode !== null) {
      // The kernel already applied the caller's umask to `mode`; restore
      // only what our umask and chown's set-ID clearing took away, so that
      // modes derived from a default ACL on the parent stay as they are.
      const missing = mode & (this.#umask | S.ISUID | S.ISGID) & ~cur.mode & 0o7777;
      if (missing !== 0) {
        obj.chmod((cur.mode & 0o7777) | missing);
        cur = obj.stat();
      }
    }
    return cur;
  }

  /** After mknod, mkdir or symlink: look the new entry up and hand it to the caller. */
  #created(
    parent: Node,
    name: Uint8Array<ArrayBuffer>,
    mode: number | null,
    ctx: fuse.RequestContext,
  ): fuse.EntryAttributes {
    const c = sym();
    const { node, st } = this.#find(parent, name);
    try {
      const final = this.#own(
        {
          chown: (uid, gid) =>
            check(c.fchownat(node.fd, EMPTY, uid, gid, AT.EMPTY_PATH | AT.SYMLINK_NOFOLLOW)),
          chmod: (m) => check(c.fchmodat(AT.FDCWD, node.proc, m, 0)),
          stat: () => this.#stat(node),
        },
        st,
        parent,
        mode,
        ctx,
      );
      node.nlookup++;
      return this.#attr(node, final);
    } catch (error) {
      this.#dropIfUnused(node);
      throw error;
    }
  }

  #fileFd(fh: fuse.FileHandle): number {
    const fd = this.#files.get(fh);
    if (fd === undefined) throw new FUSEError(errno.EBADF);
    return fd;
  }

  /**
   * Opens `path` relative to `dirfd` off the JS thread, keeping `pin`'s
   * descriptor (which the worker thread uses) from being closed meanwhile.
   */
  async #openPinned(
    pin: Node,
    dirfd: number,
    path: Uint8Array<ArrayBuffer>,
    flags: number,
    mode: number,
  ): Promise<number> {
    const c = sym();
    pin.nlookup++;
    try {
      return await offThread(
        () => c.openat_nb(dirfd, path, flags, mode),
        () => c.openat(dirfd, path, flags, mode),
      );
    } finally {
      this.#unref(pin, 1);
    }
  }

  // -------------------------------------------------------------------------
  // Handlers
  // -------------------------------------------------------------------------

  /** Looks `name` up in the backing directory; "." and ".." never leave the source. */
  lookup(parentInode: fuse.Inode, name: Uint8Array): fuse.EntryAttributes {
    const parent = this.#node(parentInode);
    let found: { node: Node; st: Stat };
    if (isDot(name)) found = { node: parent, st: this.#stat(parent) };
    else if (isDotDot(name)) found = this.#parentOf(parent);
    else found = this.#find(parent, component(name, errno.EINVAL));
    found.node.nlookup++;
    return this.#attr(found.node, found.st);
  }

  /** Drops the kernel's references; closes descriptors no longer referenced. */
  forget(inodeList: Array<[fuse.Inode, number]>): void {
    for (const [inode, count] of inodeList) {
      const node = this.#nodes.get(inode);
      if (node) this.#unref(node, count);
    }
  }

  /** The backing object's attributes. */
  getattr(inode: fuse.Inode): fuse.EntryAttributes {
    const node = this.#node(inode);
    return this.#attr(node, this.#stat(node));
  }

  /**
   * chmod, chown, truncate and utimens on the backing object, through the
   * open file when the kernel names one (ftruncate, futimens).
   */
  setattr(
    inode: fuse.Inode,
    attr: fuse.EntryAttributes,
    fields: fuse.SetattrFields,
    fh: fuse.FileHandle | null,
    _ctx: fuse.RequestContext,
  ): fuse.EntryAttributes {
    const c = sym();
    const node = this.#node(inode);
    const fd = fh === null ? null : this.#fileFd(fh);
    if (fields.updateMode) {
      const mode = attr.stMode & 0o7777;
      check(fd !== null ? c.fchmod(fd, mode) : c.fchmodat(AT.FDCWD, node.proc, mode, 0));
    }
    if (fields.updateUid || fields.updateGid) {
      const uid = fields.updateUid ? attr.stUid : NO_ID;
      const gid = fields.updateGid ? attr.stGid : NO_ID;
      check(c.fchownat(node.fd, EMPTY, uid, gid, AT.EMPTY_PATH | AT.SYMLINK_NOFOLLOW));
    }
    if (fields.updateSize) {
      check(
        fd !== null
          ? c.ftruncate(fd, BigInt(attr.stSize))
          : c.truncate(node.proc, BigInt(attr.stSize)),
      );
    }
    if (fields.updateAtime || fields.updateMtime) {
      // The library resolves "set to now" to a timestamp before we see it,
      // so explicit times are all we can pass (no UTIME_NOW).
      const times = timespecs(
        fields.updateAtime ? attr.stAtimeNs : null,
        fields.updateMtime ? attr.stMtimeNs : null,
      );
      if (c.utimensat(node.fd, EMPTY, times, AT.EMPTY_PATH) < 0) {
        // Kernels before 5.8 refuse AT_EMPTY_PATH here; go through /proc.
        const e = lastError();
        if (e.errno !== errno.EINVAL || node.isSymlink) throw e;
        check(c.utimensat(AT.FDCWD, node.proc, times, 0));
      }
    }
    return this.#attr(node, this.#stat(node));
  }

  /** The symlink's target, as raw bytes. */
  readlink(inode: fuse.Inode): Uint8Array {
    const node = this.#node(inode);
    for (let size = 4096;; size *= 2) {
      const buf = new Uint8Array(size);
      const n = check(sym().readlinkat(node.fd, EMPTY, buf, BigInt(size)));
      if (n < size) return buf.subarray(0, n);
    }
  }

  /** Creates a FIFO, socket, device node or regular file, owned by the caller. */
  mknod(
    parentInode: fuse.Inode,
    name: Uint8Array,
    mode: number,
    rdev: number,
    ctx: fuse.RequestContext,
  ): fuse.EntryAttributes {
    const parent = this.#node(parentInode);
    const n = component(name, errno.EEXIST);
    check(sym().mknodat(parent.fd, n, mode, BigInt(rdev)));
    return this.#created(parent, n, mode, ctx);
  }

  /** Creates a directory, owned by the caller. */
  mkdir(
    parentInode: fuse.Inode,
    name: Uint8Array,
    mode: number,
    ctx: fuse.RequestContext,
  ): fuse.EntryAttributes {
    const parent = this.#node(parentInode);
    const n = component(name, errno.EEXIST);
    check(sym().mkdirat(parent.fd, n, mode));
    return this.#created(parent, n, mode, ctx);
  }

  /** Removes a non-directory. */
  unlink(parentInode: fuse.Inode, name: Uint8Array): void {
    const parent = this.#node(parentInode);
    check(sym().unlinkat(parent.fd, component(name, errno.EISDIR), 0));
  }

  /** Removes an empty directory. */
  rmdir(parentInode: fuse.Inode, name: Uint8Array): void {
    const parent = this.#node(parentInode);
    check(sym().unlinkat(parent.fd, component(name, errno.EINVAL), AT.REMOVEDIR));
  }

  /** Creates a symlink with the target exactly as given, owned by the caller. */
  symlink(
    parentInode: fuse.Inode,
    name: Uint8Array,
    target: Uint8Array,
    ctx: fuse.RequestContext,
  ): fuse.EntryAttributes {
    const parent = this.#node(parentInode);
    const n = component(name, errno.EEXIST);
    check(sym().symlinkat(cstr(target), parent.fd, n));
    return this.#created(parent, n, null, ctx);
  }

  /** renameat2(2), flags (RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT) included. */
  rename(
    parentInodeOld: fuse.Inode,
    nameOld: Uint8Array,
    parentInodeNew: fuse.Inode,
    nameNew: Uint8Array,
    flags: number,
  ): void {
    const from = this.#node(parentInodeOld);
    const to = this.#node(parentInodeNew);
    check(
      sym().renameat2(
        from.fd,
        component(nameOld, errno.EBUSY),
        to.fd,
        component(nameNew, errno.EBUSY),
        flags,
      ),
    );
  }

  /** Creates a hard link; the new name leads to the same inode. */
  link(
    inode: fuse.Inode,
    newParentInode: fuse.Inode,
    newName: Uint8Array,
  ): fuse.EntryAttributes {
    const c = sym();
    const node = this.#node(inode);
    const parent = this.#node(newParentInode);
    const n = component(newName, errno.EEXIST);
    if (c.linkat(node.fd, EMPTY, parent.fd, n, AT.EMPTY_PATH) < 0) {
      // AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH (ENOENT without it); the
      // /proc link works for anyone, but would follow a symlink.
      const e = lastError();
      if (e.errno !== errno.ENOENT || node.isSymlink) throw e;
      check(c.linkat(AT.FDCWD, node.proc, parent.fd, n, AT.SYMLINK_FOLLOW));
    }
    node.nlookup++;
    return this.#attr(node, this.#stat(node));
  }

  /** Opens the backing file with the caller's flags. */
  async open(inode: fuse.Inode, flags: number): Promise<fuse.FileInfo> {
    const node = this.#node(inode);
    // O_DIRECT needs aligned buffers, which JS memory is not; the kernel
    // still bypasses its page cache for us (directIo).
    // O_NOFOLLOW: the kernel has resolved the name already, and the
    // /proc/self/fd link we open through is itself a symlink.
    const backing = (flags & ~(O.O_CREAT | O.O_EXCL | O.O_NOCTTY | O.O_DIRECT | O.O_NOFOLLOW)) |
      O.O_CLOEXEC;
    const fd = await this.#openPinned(node, AT.FDCWD, node.proc, backing, 0);
    const fh = this.#nextFh++;
    this.#files.set(fh, fd);
    return new fuse.FileInfo({ fh, directIo: (flags & O.O_DIRECT) !== 0 });
  }

  /** Reads from the backing file; short only at end of file. */
  read(fh: fuse.FileHandle, off: number, size: number): Uint8Array | Promise<Uint8Array> {
    const fd = this.#fileFd(fh);
    if (!this.inlineIo) return readFullyOffThread(fd, off, size);
    // One buffer serves every inline read: the reply is sent from it before
    // this handler returns to the loop, so the next read may reuse it. (A
    // fresh 1 MiB array per request cost page faults on every read.)
    if (this.#readBuffer.length < size) this.#readBuffer = new Uint8Array(size);
    return readFully(fd, off, size, this.#readBuffer);
  }

  /** Writes to the backing file. */
  write(fh: fuse.FileHandle, off: number, buf: Uint8Array): number | Promise<number> {
    const c = sym();
    const fd = this.#fileFd(fh);
    const data = buf as Uint8Array<ArrayBuffer>;
    if (this.inlineIo) return check(c.pwrite(fd, data, BigInt(data.length), BigInt(off)));
    return offThread(
      () => c.pwrite_nb(fd, data, BigInt(data.length), BigInt(off)),
      () => c.pwrite(fd, data, BigInt(data.length), BigInt(off)),
    );
  }

  /**
   * Emulates close(2) of one of the caller's descriptors: closing a
   * duplicate releases POSIX locks and makes network filesystems flush and
   * report write errors, while our descriptor stays open until release.
   * Synchronous: a close that failed on a worker thread could neither
   * report its errno nor be repeated to learn it (see ffi/posix.ts).
   */
  flush(fh: fuse.FileHandle): void {
    const c = sym();
    check(c.close(check(c.dup(this.#fileFd(fh)))));
  }

  /** Closes the backing file. */
  release(fh: fuse.FileHandle): void {
    const fd = this.#fileFd(fh);
    this.#files.delete(fh);
    check(sym().close(fd));
  }

  /** fsync(2) or fdatasync(2) on the backing file. */
  async fsync(fh: fuse.FileHandle, datasync: boolean): Promise<void> {
    const c = sym();
    const fd = this.#fileFd(fh);
    if (datasync) await offThread(() => c.fdatasync_nb(fd), () => c.fdatasync(fd), false);
    else await offThread(() => c.fsync_nb(fd), () => c.fsync(fd), false);
  }

  /** Opens the backing directory for listing. */
  async opendir(inode: fuse.Inode): Promise<fuse.FileHandle> {
    const node = this.#node(inode);
    const flags = O.O_RDONLY | O.O_DIRECTORY | O.O_CLOEXEC;
    const fd = await this.#openPinned(node, node.fd, cstr("."), flags, 0);
    const fh = this.#nextFh++;
    this.#dirs.set(fh, { fd, node, entries: null });
    return fh;
  }

  /** Reads the whole backing directory (getdents64), from its start. */
  async #list(fd: number): Promise<Array<{ ino: bigint; type: number; name: Uint8Array }>> {
    const c = sym();
    check(c.lseek(fd, 0n, 0 /* SEEK_SET */));
    const buf = new Uint8Array(DIRENT_CHUNK);
    const entries: Array<{ ino: bigint; type: number; name: Uint8Array }> = [];
    for (;;) {
      const n = await offThread(
        () => c.getdents64_nb(fd, buf, BigInt(buf.length)),
        () => c.getdents64(fd, buf, BigInt(buf.length)),
      );
      if (n === 0) return entries;
      for (const e of parseDirents(buf, n)) entries.push(e);
    }
  }

  /**
   * Lists the directory with full attributes (readdirplus). Offsets are
   * indices into a listing taken when reading starts at 0: the backing
   * filesystem's own offsets are 64-bit cookies that need not fit a JS
   * number.
   */
  async readdir(fh: fuse.FileHandle, startId: number, token: fuse.ReaddirToken): Promise<void> {
    const dir = this.#dirs.get(fh);
    if (!dir) throw new FUSEError(errno.EBADF);
    if (startId === 0 || dir.entries === null) dir.entries = await this.#list(dir.fd);
    const entries = dir.entries;
    for (let i = startId; i < entries.length; i++) {
      const { ino, type, name } = entries[i];
      if (isDot(name) || isDotDot(name)) {
        // The kernel takes no reference for these two, so they must not
        // count as lookups; only their number and type are shown.
        const id = isDot(name) || dir.node === this.#root
          ? dir.node.id
          : this.#byKey.get(`${dir.node.dev}:${ino}`)?.id ??
            (ino > 1n && ino < BigInt(ALLOC_BASE) ? Number(ino) : fuse.ROOT_INODE);
        const attr = new fuse.EntryAttributes({ stIno: id, stMode: S.IFDIR });
        if (!fuse.readdirReply(token, name, attr, i + 1)) return;
        continue;
      }
      if (!token.plus) {
        // Plain READDIR: the number and type the backing directory reports,
        // no lookup. Inodes known to the kernel keep their id.
        const known = this.#byKey.get(`${dir.node.dev}:${ino}`);
        if (known || (dir.node.dev === this.#root.dev && ino > 1n && ino < BigInt(ALLOC_BASE))) {
          const stIno = known ? known.id : Number(ino);
          const attr = new fuse.EntryAttributes({ stIno, stMode: (type & 0o17) << 12 });
          if (!fuse.readdirReply(token, name, attr, i + 1)) return;
          continue;
        }
        // An inode number we would map to an id of our own: look it up.
      }
      let found: { node: Node; st: Stat };
      try {
        found = this.#find(dir.node, cstr(name));
      } catch (error) {
        // Removed since the listing was taken: leave it out, as a fresh
        // listing would.
        if (error instanceof FUSEError && error.errno === errno.ENOENT) continue;
        throw error;
      }
      let added = false;
      try {
        added = fuse.readdirReply(token, name, this.#attr(found.node, found.st), i + 1);
      } finally {
        if (added && token.plus) found.node.nlookup++;
        else this.#dropIfUnused(found.node);
      }
      if (!added) return;
    }
  }

  /** Closes the backing directory. */
  releasedir(fh: fuse.FileHandle): void {
    const dir = this.#dirs.get(fh);
    if (!dir) throw new FUSEError(errno.EBADF);
    this.#dirs.delete(fh);
    check(sym().close(dir.fd));
  }

  /** fsync(2) or fdatasync(2) on the backing directory. */
  async fsyncdir(fh: fuse.FileHandle, datasync: boolean): Promise<void> {
    const c = sym();
    const dir = this.#dirs.get(fh);
    if (!dir) throw new FUSEError(errno.EBADF);
    const fd = dir.fd;
    if (datasync) await offThread(() => c.fdatasync_nb(fd), () => c.fdatasync(fd), false);
    else await offThread(() => c.fsync_nb(fd), () => c.fsync(fd), false);
  }

  /** The backing filesystem's statistics (fstatvfs of the source directory). */
  statfs(): fuse.StatvfsData {
    const v = fstatvfs(this.#root.fd);
    return new fuse.StatvfsData({
      fBsize: v.bsize,
      fFrsize: v.frsize,
      fBlocks: v.blocks,
      fBfree: v.bfree,
      fBavail: v.bavail,
      fFiles: v.files,
      fFfree: v.ffree,
      fFavail: v.favail,
      fNamemax: v.namemax,
    });
  }

  /**
   * setxattr(2) with its flags. Through `/proc/self/fd/N` the call reaches
   * the object itself, symlinks included (never their target).
   */
  setxattr(
    inode: fuse.Inode,
    name: Uint8Array,
    value: Uint8Array,
    _ctx: fuse.RequestContext,
    flags: number,
  ): void {
    const node = this.#node(inode);
    const v = value as Uint8Array<ArrayBuffer>;
    check(sym().setxattr(node.proc, cstr(name), v, BigInt(v.length), flags));
  }

  /** The attribute's whole value; the library answers size probes and ERANGE from it. */
  getxattr(inode: fuse.Inode, name: Uint8Array): Uint8Array {
    const c = sym();
    const node = this.#node(inode);
    const n = cstr(name);
    for (;;) {
      const size = check(c.getxattr(node.proc, n, null, 0n));
      const buf = new Uint8Array(size);
      if (size === 0) return buf;
      const got = Number(c.getxattr(node.proc, n, buf, BigInt(size)));
      if (got >= 0) return buf.subarray(0, got);
      const e = lastError();
      if (e.errno !== errno.ERANGE) throw e;
      // The value grew between the two calls: ask for its size again.
    }
  }

  /** The names of the object's extended attributes. */
  listxattr(inode: fuse.Inode): Uint8Array[] {
    const c = sym();
    const node = this.#node(inode);
    for (;;) {
      const size = check(c.listxattr(node.proc, null, 0n));
      if (size === 0) return [];
      const buf = new Uint8Array(size);
      const got = Number(c.listxattr(node.proc, buf, BigInt(size)));
      if (got < 0) {
        const e = lastError();
        if (e.errno !== errno.ERANGE) throw e;
        continue;
      }
      const names: Uint8Array[] = [];
      let start = 0;
      for (let i = 0; i < got; i++) {
        if (buf[i] === 0) {
          if (i > start) names.push(buf.slice(start, i));
          start = i + 1;
        }
      }
      return names;
    }
  }

  /** removexattr(2). */
  removexattr(inode: fuse.Inode, name: Uint8Array): void {
    const node = this.#node(inode);
    check(sym().removexattr(node.proc, cstr(name)));
  }

  /**
   * Permission check for access(2), asked only when mounted without
   * `default_permissions`. Decided from the mode bits for the caller's uid
   * and primary gid: the server runs as root, so asking the backing
   * filesystem would always say yes.
   */
  access(inode: fuse.Inode, mode: number, ctx: fuse.RequestContext): boolean {
    const node = this.#node(inode);
    const st = this.#stat(node);
    const want = mode & 7;
    if (want === 0) return true;
    if (ctx.uid === 0) {
      // root may do anything, except execute what nobody may execute.
      return (want & 1) === 0 || (st.mode & S.IFMT) === S.IFDIR || (st.mode & 0o111) !== 0;
    }
    const bits = ctx.uid === st.uid
      ? (st.mode >> 6) & 7
      : ctx.gid === st.gid
      ? (st.mode >> 3) & 7
      : st.mode & 7;
    return (bits & want) === want;
  }

  /**
   * Creates and opens a regular file, owned by the caller. Always
   * exclusive on the backing side, so that we only chown what we created;
   * if the name appeared meanwhile and the caller did not ask for O_EXCL,
   * the existing file is opened instead, as open(2) would.
   */
  async create(
    parentInode: fuse.Inode,
    name: Uint8Array,
    mode: number,
    flags: number,
    ctx: fuse.RequestContext,
  ): Promise<[fuse.FileInfo, fuse.EntryAttributes]> {
    const c = sym();
    const parent = this.#node(parentInode);
    const n = component(name, errno.EEXIST);
    // O_NOFOLLOW: a symlink planted in the backing directory must not make
    // us create or open a file elsewhere.
    const base = (flags & ~(O.O_CREAT | O.O_EXCL | O.O_NOCTTY | O.O_DIRECT)) | O.O_CLOEXEC |
      O.O_NOFOLLOW;
    let created = true;
    let fd: number;
    try {
      fd = await this.#openPinned(parent, parent.fd, n, base | O.O_CREAT | O.O_EXCL, mode);
    } catch (error) {
      if (!(error instanceof FUSEError) || error.errno !== errno.EEXIST || (flags & O.O_EXCL)) {
        throw error;
      }
      created = false;
      fd = await this.#openPinned(parent, parent.fd, n, base, 0);
    }
    try {
      const { node, st } = this.#adopt(
        check(c.openat(AT.FDCWD, procPath(fd), O.O_PATH | O.O_CLOEXEC, 0)),
      );
      try {
        const final = created
          ? this.#own(
            {
              chown: (uid, gid) => check(c.fchown(fd, uid, gid)),
              chmod: (m) => check(c.fchmod(fd, m)),
              stat: () => fstatat(fd, EMPTY, AT.EMPTY_PATH),
            },
            st,
            parent,
            mode,
            ctx,
          )
          : st;
        const fh = this.#nextFh++;
        this.#files.set(fh, fd);
        node.nlookup++;
        return [
          new fuse.FileInfo({ fh, directIo: (flags & O.O_DIRECT) !== 0 }),
          this.#attr(node, final),
        ];
      } catch (error) {
        this.#dropIfUnused(node);
        throw error;
      }
    } catch (error) {
      c.close(fd);
      throw error;
    }
  }
}

/** Escapes a value for libfuse's comma-separated `-o` list. */
function escapeOption(value: string): string {
  return value.replace(/[\\,]/g, "\\$&");
}

if (import.meta.main) {
  await runFromCommandLine({
    name: "passthrough",
    positional: ["SOURCE", "MOUNTPOINT"],
    create: ([source], options) => {
      // This process only serves the mount: with umask 0 new objects get
      // exactly the mode the caller asked for (the kernel has applied the
      // caller's umask already).
      try {
        acquireLibc().umask(0);
      } finally {
        releaseLibc();
      }
      const fs = new PassthroughFs(source);
      return {
        ops: fs,
        options: [...fuse.defaultOptions, `fsname=${escapeOption(source)}`, ...options],
        cleanup: () => fs.close(),
      };
    },
  });
}

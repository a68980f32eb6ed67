/**
 * passthrough: mirrors a SOURCE directory at MOUNTPOINT, the counterpart of
 * pyfuse3's examples/passthroughfs.py.
 *
 *     deno run --allow-ffi --allow-read examples/passthrough.ts [-o opt,...] SOURCE MOUNTPOINT
 *
 * Besides the usual FUSE options, `-o kernel_passthrough=off` turns kernel
 * passthrough off (it is on by default where available; see below).
 *
 * Stays in the foreground; Ctrl-C (SIGINT) or SIGTERM unmounts. Run it as
 * root with `-o allow_other` to serve other users: the kernel then checks
 * every caller's permissions (`default_permissions`, always on), and objects
 * they create are handed to them.
 *
 * How it reaches the backing files, and why:
 *
 * - Every inode the kernel knows is reached through an `O_PATH` file
 *   descriptor on the backing object, and every call is a `*at()` call
 *   relative to one of those descriptors with a single name component,
 *   never following a symlink. Paths are never rebuilt from strings, so a
 *   rename on either side cannot make us act on the wrong file, and nothing
 *   the kernel sends can reach outside SOURCE: names containing '/' are
 *   refused, and ".." at the root resolves to the root.
 * - Inode numbers are the backing `st_ino` for objects on SOURCE's own
 *   filesystem (so `stat` and `ls -i` agree on both sides), except that
 *   SOURCE itself is inode 1. Objects on other filesystems mounted inside
 *   SOURCE, and the rare `st_ino` of 1 or at least 2^52, get numbers
 *   allocated from 2^52 up, which no identity-mapped number can reach.
 *   An open descriptor keeps the backing inode alive, so its number cannot
 *   pass to another file meanwhile; an evicted one (below) is reopened by
 *   file handle, which names one object, never a later one with the same
 *   number.
 * - Lookup counts are kept per inode; when `forget` brings one to zero the
 *   node is dropped.
 * - Descriptors are a bounded cache, not one per inode: the kernel may
 *   remember far more inodes than the process may hold descriptors (each
 *   create leaves one, and with `allow_other` any user can create 100,000
 *   files). The most recently used descriptors stay open: a quarter of
 *   RLIMIT_NOFILE, at most 4,096 (`maxCachedFds`; the CLI first raises the
 *   soft limit to the hard one). When the cache is full the least recently
 *   used is closed, after its file handle is taken (name_to_handle_at(2));
 *   its next use reopens it with open_by_handle_at(2) and checks that it is
 *   still the same `st_dev`/`st_ino`, while a lookup that reaches it by name
 *   simply keeps the descriptor the lookup opened. A call short of a
 *   descriptor (EMFILE, ENFILE) first closes the older half of the cache and
 *   tries again. So a hot inode costs no extra system call, an evicted one
 *   a name_to_handle_at when it leaves and an open_by_handle_at and fstat
 *   when it is used without a lookup, and the root and the files already
 *   known stay reachable however many inodes the kernel holds. The inodes
 *   of open files and of calls running off the JS thread are never evicted:
 *   an unlinked open file has no name, and on some filesystems no handle.
 * - File handles need the backing filesystem's support (tmpfs, ext4, xfs,
 *   btrfs and NFS have it; procfs and many FUSE filesystems do not) and
 *   CAP_DAC_READ_SEARCH for open_by_handle_at, so a server running as root.
 *   Without them (`fileHandles` is then false), and for objects on other
 *   filesystems mounted inside SOURCE (a handle decodes only on its own
 *   filesystem), a descriptor stays open as long as the kernel knows its
 *   inode, as it always did, but at most a quarter of RLIMIT_NOFILE of them
 *   (`maxFixedFds`): lookups of further such objects fail with ENFILE until
 *   the kernel forgets some, a READDIRPLUS reply ends before an entry it
 *   cannot look up (the kernel reads the rest with plain READDIR), and the
 *   root, the inodes already known and open files keep working. Reopening
 *   by name instead would need the path the kernel last used, which renames
 *   made directly in SOURCE change behind our back; refusing new objects
 *   cannot act on the wrong file.
 * - Name and attribute timeouts are 0 by default, so changes made directly
 *   in SOURCE show through the mount at once, at the cost of one lookup per
 *   path component per access.
 * - Kernel passthrough (libfuse 3.17+, Linux 6.9+, running as root): every
 *   opened regular file's descriptor is handed to the kernel, which then
 *   reads, writes and mmaps the backing file itself, at the backing
 *   filesystem's own speed, with no request to us; names, attributes,
 *   permissions and the other file operations still come here. Where it is
 *   not available (older libfuse or kernel, not root) the mount works as
 *   before, with reads and writes served here; the mount handle's
 *   `connection.passthrough` and `passthroughFallback` say which.
 *
 * @module
 */

import * as fuse from "../mod.ts";
import { runFromCommandLine } from "./lib/cli.ts";
import { killPriv } from "./lib/posix_rules.ts";
import {
  acquireLibc,
  AT,
  check,
  cstr,
  EMPTY,
  fileHandle,
  fstatat,
  fstatvfs,
  isMemoryBacked,
  lastError,
  NO_ID,
  nofileLimit,
  O,
  offThread,
  raiseNofileLimit,
  releaseLibc,
  S,
  type Stat,
  sym,
  timespecs,
} from "../posix.ts";

const { errno, FUSEError } = fuse;

/** First inode number handed out for objects whose `st_ino` cannot be used as is. */
const ALLOC_BASE = 2 ** 52;

/**
 * A directory listing's first buffer; it doubles while getdents64 has less
 * than `DIRENT_CHUNK` bytes of it left to fill.
 */
const LISTING_START = 64 * 1024;
const DIRENT_CHUNK = 32 * 1024;
/**
 * The largest listing kept for the next directory opened after its own was
 * released (a listing of some 300,000 short names).
 */
const SPARE_LISTING_MAX = 8 * 1024 * 1024;
/** Records a listing's index starts with room for. */
const LISTING_RECORDS = 1024;
/** 2^52 as the high 32 bits of a 64-bit inode number. */
const ALLOC_BASE_HI = 2 ** 20;

/**
 * The fewest descriptors the cache keeps: a handler uses at most three
 * nodes' descriptors at once (rename, link, create), and eviction takes the
 * least recently used, so the ones a handler is still using are never among
 * those closed.
 */
const MIN_CACHED = 8;

/** Largest default descriptor cache: beyond it each descriptor only pins kernel memory. */
const MAX_DEFAULT_CACHED = 4096;

/** One backing object the kernel holds a reference to. */
interface Node {
  /** Our (and the kernel's) inode number. */
  readonly id: fuse.Inode;
  /** `O_PATH` descriptor on the backing object, -1 while evicted. Use `#fd()`, which reopens. */
  fd: number;
  /** `/proc/self/fd/N` of `fd`, made on first use. Use `#proc()`. */
  proc: Uint8Array<ArrayBuffer> | null;
  /** Finds the node again when another name leads to it (hard links); see `#keyOf`. */
  readonly key: string | number;
  readonly dev: bigint;
  readonly ino: bigint;
  isSymlink: boolean;
  /** Lookups the kernel has not forgotten yet. */
  nlookup: number;
  /**
   * Open files, and calls running off the JS thread, that use the
   * descriptor: while any is, the node is neither dropped nor evicted.
   */
  pins: number;
  /** How to reopen it once evicted; taken when it is first evicted. */
  handle: Uint8Array<ArrayBuffer> | null;
  /** Its descriptor cannot be reopened, so it stays open as long as the node lives. */
  fixed: boolean;
  /** Whether it is in the cache's recency list (open, not fixed, not pinned). */
  listed: boolean;
  /** Neighbours in that list: the next less and more recently used. */
  older: Node | null;
  newer: Node | null;
}

/**
 * A directory listing as getdents64(2) returned it: `struct linux_dirent64`
 * records back to back (`u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type;
 * char d_name[]`), read in large batches and served from there, with no
 * object per entry.
 */
interface Listing {
  buf: Uint8Array<ArrayBuffer>;
  view: DataView;
  /** Where record i starts in `buf`. */
  at: Int32Array;
  /** Where record i's name ends (its NUL). */
  nameEnd: Int32Array;
  /** Records listed. */
  count: number;
}

/** An open directory. */
interface DirHandle {
  readonly fd: number;
  readonly node: Node;
  /**
   * The listing taken when reading started at offset 0 (entry i continues
   * at i + 1); its buffers are reused when reading starts over.
   */
  listing: Listing | null;
  /** Whether `listing` holds the current listing (false until reading starts at 0). */
  listed: boolean;
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
   * `O_PATH` descriptors kept open for recently used inodes; the others are
   * reopened by file handle when next used. Default: a quarter of the soft
   * RLIMIT_NOFILE, at most 4,096. At least 8.
   */
  maxCachedFds?: number;
  /**
   * Descriptors held for inodes that cannot be reopened by file handle (see
   * {@link PassthroughFs.fileHandles}); lookups of further such objects fail with ENFILE
   * until the kernel forgets some. Default: a quarter of the soft
   * RLIMIT_NOFILE. At least 8.
   */
  maxFixedFds?: number;
  /**
   * Whether to evict descriptors and reopen them by file handle where the
   * backing filesystem and our privileges allow (default true). false keeps
   * one descriptor per inode, as where handles are unavailable.
   */
  fileHandles?: boolean;
  /**
   * Where file reads and writes run. `"thread"`: on Deno's blocking thread
   * pool, so a slow disk never stalls the other requests. `"inline"`: on the
   * JS thread, as libfuse's single-threaded passthrough_ll does; about three
   * times as many small requests per second, but one slow read holds up
   * every request behind it. `"auto"` (the default): inline when the source
   * is in memory (tmpfs, ramfs), where nothing waits for a device, else
   * thread. Opens, creates and directory listings follow the same choice,
   * except for objects on another filesystem mounted inside the source,
   * which always go to the thread pool.
   */
  io?: "auto" | "inline" | "thread";
  /**
   * Hand each opened regular file's descriptor to the kernel (kernel
   * passthrough), so that its reads, writes and mmap go straight to the
   * backing file without a request (default true). Takes effect only with
   * libfuse 3.17+, Linux 6.9+ and a server running as root; elsewhere
   * reads and writes come to this filesystem as before.
   */
  kernelPassthrough?: boolean;
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
const DOTNAME = cstr(".");

/** Whether a failed call ran out of descriptors (ours or the system's). */
const outOfFds = (e: fuse.FUSEError) => e.errno === errno.EMFILE || e.errno === errno.ENFILE;

/**
 * Opens a directory that open_by_handle_at(2) can decode `rootFd`'s handles
 * against (an `O_PATH` descriptor is refused there), and checks that it
 * does: the filesystem must encode handles and we must hold
 * CAP_DAC_READ_SEARCH.
 *
 * @param rootFd the source directory
 * @returns the descriptor, or -1 where handles cannot be used
 */
function openHandleMount(rootFd: number): number {
  const c = sym();
  const mountFd = c.openat(
    AT.FDCWD,
    procPath(rootFd),
    O.O_RDONLY | O.O_DIRECTORY | O.O_CLOEXEC,
    0,
  );
  if (mountFd < 0) return -1;
  try {
    const fd = c.open_by_handle_at(mountFd, fileHandle(rootFd), O.O_PATH | O.O_CLOEXEC);
    if (fd >= 0) {
      c.close(fd);
      return mountFd;
    }
  } catch {
    // EOPNOTSUPP: no handles on this filesystem.
  }
  c.close(mountFd);
  return -1;
}

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
 * What `open` and `create` answer for a backing file opened as `fd`. The
 * descriptor also goes to the kernel as the open file's backing file
 * (used only where the mount has kernel passthrough on: see
 * {@link PassthroughOptions.kernelPassthrough}), so reads, writes and mmap
 * no longer come to us. We keep it open until release all the same, as
 * libfuse's passthrough_hp does: flush, fsync, ftruncate, fallocate, lseek
 * and copy_file_range still arrive with this handle. O_DIRECT opens pass
 * it too, as the kernel requires of every open of an inode in passthrough
 * mode; with `directIo` their reads and writes still come to us, the way
 * O_DIRECT always worked here. Cached pages are dropped at each open
 * (`keepCache` false, as libfuse's passthrough_ll does by default): the
 * source directory may change behind the mount's back.
 */
function openFile(fh: fuse.FileHandle, fd: number, flags: number): fuse.FileInfo {
  const directIo = (flags & O.O_DIRECT) !== 0;
  return new fuse.FileInfo({ fh, backingFd: fd, directIo, keepCache: false });
}

/**
 * Whether an open or create that truncates an existing file must clear its
 * set-id bits: as the kernel's flag says, or without one (no
 * FUSE_HANDLE_KILLPRIV_V2) for callers other than root, since under atomic
 * O_TRUNC the kernel leaves open(O_TRUNC) to the filesystem.
 */
function truncKill(flags: number, ctx: fuse.RequestContext): boolean {
  return (flags & O.O_TRUNC) !== 0 && (ctx.killSuidgid ?? ctx.uid !== 0);
}

/** An open backing file's attributes and chmod (for killing its set-id bits). */
function openedFile(fd: number): Pick<NewObject, "stat" | "chmod"> {
  return {
    stat: () => fstatat(fd, EMPTY, AT.EMPTY_PATH),
    chmod: (m) => check(sym().fchmod(fd, m)),
  };
}

/**
 * Runs a handler body that may finish on the JS thread; a failure becomes a
 * rejected promise, as from the async handler it was before (direct
 * callers, tests among them, await it rather than catch a throw).
 */
function settled<T>(body: () => T | Promise<T>): T | Promise<T> {
  try {
    return body();
  } catch (error) {
    return Promise.reject(error);
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
 * The backing descriptors are closed by `destroy()`, which libfuse calls
 * when the filesystem is unmounted; call {@link close} yourself if the
 * mount ends before the kernel ever connected (then there is no destroy).
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
  /**
   * Set-id bits are cleared on the backing file where the kernel's kill
   * flags say so (`ctx.killSuidgid`): our own writes, truncations and
   * opens run as root, with CAP_FSETID, which keeps them. The kernel then
   * no longer asks for `security.capability` before every write. denofuse
   * does not negotiate it while kernel passthrough is on (those writes
   * never come here); the kernel then clears the bits itself, as it does
   * with libfuse < 3.17, except on open(O_TRUNC), which is done here for
   * callers other than root.
   */
  readonly handleKillprivV2 = true;
  /** Whether opened files are handed to the kernel (see {@link PassthroughOptions.kernelPassthrough}). */
  readonly enableKernelPassthrough: boolean;
  /** The mirrored directory, as given to the constructor. */
  readonly source: string;
  /**
   * Whether evicted descriptors are reopened by file handle; if false, every
   * node keeps its descriptor (see the module documentation).
   */
  readonly fileHandles: boolean;
  readonly #timeout: number;
  readonly #nodes = new Map<fuse.Inode, Node>();
  readonly #byKey = new Map<string | number, Node>();
  readonly #files = new Map<fuse.FileHandle, number>();
  /** The node of each open file, unpinned on release. */
  readonly #fileNodes = new Map<fuse.FileHandle, Node>();
  readonly #dirs = new Map<fuse.FileHandle, DirHandle>();
  readonly #root: Node;
  /** A readable descriptor on the source, for open_by_handle_at; -1 without handles. */
  readonly #mountFd: number;
  /** Open descriptors the recency list may hold before the least recent is evicted. */
  readonly #maxCached: number;
  /** Fixed nodes beyond which lookups of new objects that would be fixed are refused. */
  readonly #maxFixed: number;
  /** Most and least recently used node of the recency list. */
  #mru: Node | null = null;
  #lru: Node | null = null;
  #cached = 0;
  #fixed = 0;
  #reopens = 0;
  /** Whether we run as root and so can hand new objects to their creator. */
  readonly #chown: boolean;
  /** Bits our own umask strips from new objects, which the caller did not ask to strip. */
  readonly #umask: number;
  /** Whether file reads and writes run on the JS thread (see {@link PassthroughOptions.io}). */
  readonly inlineIo: boolean;
  #readBuffer = new Uint8Array(0);
  /** The attributes of plain READDIR entries (number and type only), reused entry after entry. */
  readonly #plainEntry = new fuse.EntryAttributes();
  /** A released directory's listing buffers, for the next listing (see `#list`). */
  #spareListing: Listing | null = null;
  #nextFh = 1;
  #nextId = ALLOC_BASE;
  #closed = false;

  /**
   * Opens the source directory. Do this before mounting: the descriptor then
   * refers to the source even if the mount hides it (SOURCE = MOUNTPOINT).
   * The descriptor cache is sized from the soft RLIMIT_NOFILE in force now.
   *
   * @param source the directory to mirror
   * @param options cache timeouts, descriptor cache, where I/O runs
   * @throws {Error} if `source` cannot be opened as a directory
   */
  constructor(source: string, options: PassthroughOptions = {}) {
    this.source = source;
    this.#timeout = options.timeout ?? 0;
    this.enableKernelPassthrough = options.kernelPassthrough ?? true;
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
      proc: null,
      // #keyOf, which needs the root already.
      key: st.ino < BigInt(ALLOC_BASE) ? Number(st.ino) : `${st.dev}:${st.ino}`,
      dev: st.dev,
      ino: st.ino,
      isSymlink: false,
      nlookup: 1,
      pins: 0,
      handle: null,
      fixed: true,
      listed: false,
      older: null,
      newer: null,
    };
    this.#nodes.set(this.#root.id, this.#root);
    this.#byKey.set(this.#root.key, this.#root);
    this.#mountFd = options.fileHandles === false ? -1 : openHandleMount(fd);
    this.fileHandles = this.#mountFd >= 0;
    const limit = Math.min(nofileLimit().soft, 2 ** 30);
    const quarter = Math.floor(limit / 4);
    this.#maxCached = Math.max(
      MIN_CACHED,
      Math.floor(options.maxCachedFds ?? Math.min(quarter, MAX_DEFAULT_CACHED)),
    );
    this.#maxFixed = Math.max(MIN_CACHED, Math.floor(options.maxFixedFds ?? quarter));
    this.#chown = c.geteuid() === 0;
    this.#umask = processUmask() & 0o777;
    const io = options.io ?? "auto";
    this.inlineIo = io === "inline" || (io === "auto" && isMemoryBacked(fd));
  }

  /** Inodes the kernel currently holds, the root excluded. */
  get openInodes(): number {
    return this.#nodes.size - 1;
  }

  /** `O_PATH` descriptors currently open for inodes, the root's excluded. */
  get inodeDescriptors(): number {
    let n = 0;
    for (const node of this.#nodes.values()) if (node.fd >= 0 && node !== this.#root) n++;
    return n;
  }

  /** Descriptors reopened by file handle so far: each a use of an inode the cache had evicted. */
  get reopenedByHandle(): number {
    return this.#reopens;
  }

  /** Files and directories currently open through the mount. */
  get openHandles(): number {
    return this.#files.size + this.#dirs.size;
  }

  /** libfuse's destroy: the filesystem is unmounted, so release everything. */
  destroy(): void {
    this.close();
  }

  /** Closes every backing descriptor. Call once unmounted; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const c = sym();
    for (const fd of this.#files.values()) c.close(fd);
    for (const d of this.#dirs.values()) c.close(d.fd);
    for (const n of this.#nodes.values()) if (n.fd >= 0) c.close(n.fd);
    if (this.#mountFd >= 0) c.close(this.#mountFd);
    this.#files.clear();
    this.#fileNodes.clear();
    this.#dirs.clear();
    this.#nodes.clear();
    this.#byKey.clear();
    this.#mru = this.#lru = null;
    releaseLibc();
  }

  // -------------------------------------------------------------------------
  // Inode table and descriptor cache
  // -------------------------------------------------------------------------

  #node(inode: fuse.Inode): Node {
    const node = this.#nodes.get(inode);
    if (!node) throw new FUSEError(errno.ESTALE);
    return node;
  }

  /**
   * The node's `O_PATH` descriptor, reopened if it was evicted. Valid until
   * the next call that may open a descriptor for another node, except for
   * the few most recently used, which eviction never reaches.
   */
  #fd(node: Node): number {
    if (node.fd < 0) return this.#reopen(node);
    if (node.listed && node !== this.#mru) {
      this.#unlist(node);
      this.#listFirst(node);
    }
    return node.fd;
  }

  /** `/proc/self/fd/N` of the node's descriptor, which reaches the object itself. */
  #proc(node: Node): Uint8Array<ArrayBuffer> {
    const fd = this.#fd(node);
    return node.proc ??= procPath(fd);
  }

  #listFirst(node: Node): void {
    node.older = this.#mru;
    node.newer = null;
    if (this.#mru) this.#mru.newer = node;
    else this.#lru = node;
    this.#mru = node;
    node.listed = true;
    this.#cached++;
  }

  #unlist(node: Node): void {
    if (node.older) node.older.newer = node.newer;
    else this.#lru = node.newer;
    if (node.newer) node.newer.older = node.older;
    else this.#mru = node.older;
    node.older = node.newer = null;
    node.listed = false;
    this.#cached--;
  }

  /** Gives a node a fresh descriptor; evicts the least recently used beyond the cache's size. */
  #install(node: Node, fd: number): void {
    node.fd = fd;
    node.proc = null;
    if (node.fixed || node.pins > 0) return;
    this.#listFirst(node);
    if (this.#cached > this.#maxCached) this.#trim(this.#maxCached);
  }

  /** Evicts least recently used descriptors until at most `keep` are listed. */
  #trim(keep: number): number {
    let closed = 0;
    while (this.#cached > keep) if (this.#evict(this.#lru!)) closed++;
    return closed;
  }

  /**
   * Closes a listed node's descriptor, taking its file handle first. A node
   * whose filesystem refuses to encode one becomes fixed instead.
   *
   * @returns whether a descriptor was closed
   */
  #evict(node: Node): boolean {
    this.#unlist(node);
    if (node.handle === null) {
      try {
        node.handle = fileHandle(node.fd);
      } catch {
        node.fixed = true;
        this.#fixed++;
        return false;
      }
    }
    sym().close(node.fd);
    node.fd = -1;
    node.proc = null;
    return true;
  }

  /**
   * Out of descriptors: closes the older half of the cache (never the most
   * recent few, which a handler may be using).
   *
   * @returns whether any descriptor was closed, so that a retry may succeed
   */
  #shed(): boolean {
    return this.#trim(Math.max(MIN_CACHED, Math.floor(this.#cached / 2))) > 0;
  }

  /**
   * Call right after `open` returned a negative result: if it ran out of
   * descriptors, sheds cached ones and tries once more.
   *
   * @returns the new descriptor
   * @throws {FUSEError} the call's errno
   */
  #retryOpen(open: () => number): number {
    const e = lastError();
    if (!outOfFds(e) || !this.#shed()) throw e;
    return check(open());
  }

  /** open_by_handle_at for an evicted node, checking it still names the same object. */
  #reopen(node: Node): number {
    const c = sym();
    const handle = node.handle;
    // A node without a handle always holds its descriptor; not finding one is a bug.
    if (handle === null) throw new FUSEError(errno.EIO);
    const flags = O.O_PATH | O.O_CLOEXEC;
    let fd = c.open_by_handle_at(this.#mountFd, handle, flags);
    if (fd < 0) fd = this.#retryOpen(() => c.open_by_handle_at(this.#mountFd, handle, flags));
    let st: Stat;
    try {
      st = fstatat(fd, EMPTY, AT.EMPTY_PATH | AT.SYMLINK_NOFOLLOW);
    } catch (error) {
      c.close(fd);
      throw error;
    }
    if (st.dev !== node.dev || st.ino !== node.ino) {
      c.close(fd);
      throw new FUSEError(errno.ESTALE);
    }
    this.#install(node, fd);
    this.#reopens++;
    return fd;
  }

  /** Keeps the node and its descriptor while an open file or a worker thread uses it. */
  #pin(node: Node): void {
    node.pins++;
    if (node.listed) this.#unlist(node);
  }

  #unpin(node: Node): void {
    // Listed again without trimming: the caller may still be using other
    // descriptors, and the next install trims anyway.
    if (--node.pins === 0 && node.fd >= 0 && !node.fixed) this.#listFirst(node);
    this.#dropIfUnused(node);
  }

  /** Whether a new object on filesystem `dev` would get a fixed descriptor. */
  #wouldFix(dev: bigint): boolean {
    return !this.fileHandles || dev !== this.#root.dev;
  }

  /**
   * Refuses to make another fixed node once there are too many, so that
   * objects without handles cannot take every descriptor the process has.
   */
  #checkRoom(dev: bigint): void {
    if (this.#wouldFix(dev) && this.#fixed >= this.#maxFixed) throw new FUSEError(errno.ENFILE);
  }

  #stat(node: Node): Stat {
    return fstatat(this.#fd(node), EMPTY, AT.EMPTY_PATH | AT.SYMLINK_NOFOLLOW);
  }

  /**
   * Clears set-user-ID, and set-group-ID where the kernel's tmpfs would
   * (`killPriv` of lib/posix_rules.ts), on a backing file, for `caller`.
   *
   * @param file its attributes and chmod, through an open file or the node
   * @param caller who writes, truncates or chowns
   * @returns its attributes afterwards
   */
  #killPriv(file: Pick<NewObject, "stat" | "chmod">, caller: fuse.RequestContext): Stat {
    const st = file.stat();
    const mode = killPriv(st, caller);
    if (mode === st.mode) return st;
    file.chmod(mode & 0o7777);
    return file.stat();
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

  /**
   * The `#byKey` key of a backing object: its `st_ino` as a number on the
   * source's own filesystem where that is exact, else `"st_dev:st_ino"`
   * (never a number, so the two kinds cannot collide).
   */
  #keyOf(dev: bigint, ino: bigint): string | number {
    return dev === this.#root.dev && ino < BigInt(ALLOC_BASE) ? Number(ino) : `${dev}:${ino}`;
  }

  /** The inode number for a backing object (see the module documentation). */
  #idFor(dev: bigint, ino: bigint): fuse.Inode {
    if (dev === this.#root.dev && ino > 1n && ino < BigInt(ALLOC_BASE)) return Number(ino);
    return this.#nextId++;
  }

  /**
   * Takes ownership of an `O_PATH` descriptor: returns the node already known
   * for its object (closing the descriptor, or keeping it if the node's was
   * evicted) or a new node with lookup count 0, which the caller must either
   * reference or {@link #dropIfUnused}.
   *
   * @param fd the descriptor
   * @param refuse whether to refuse (ENFILE) a new fixed node beyond the
   *   limit; false where the object was just created for the caller
   */
  #adopt(fd: number, refuse = true): { node: Node; st: Stat } {
    const c = sym();
    let st: Stat;
    try {
      st = fstatat(fd, EMPTY, AT.EMPTY_PATH | AT.SYMLINK_NOFOLLOW);
    } catch (error) {
      c.close(fd);
      throw error;
    }
    const key = this.#keyOf(st.dev, st.ino);
    const known = this.#byKey.get(key);
    if (known) {
      if (known.fd >= 0) {
        c.close(fd);
      } else {
        // The number may have passed to a new object since the node was
        // evicted (the old one deleted): the node now names what the name
        // leads to, and its handle is taken again at the next eviction.
        known.handle = null;
        known.isSymlink = (st.mode & S.IFMT) === S.IFLNK;
        this.#install(known, fd);
      }
      return { node: known, st };
    }
    const fixed = this.#wouldFix(st.dev);
    if (fixed && refuse && this.#fixed >= this.#maxFixed) {
      c.close(fd);
      throw new FUSEError(errno.ENFILE);
    }
    const node: Node = {
      id: this.#idFor(st.dev, st.ino),
      fd: -1,
      proc: null,
      key,
      dev: st.dev,
      ino: st.ino,
      isSymlink: (st.mode & S.IFMT) === S.IFLNK,
      nlookup: 0,
      pins: 0,
      handle: null,
      fixed,
      listed: false,
      older: null,
      newer: null,
    };
    if (fixed) this.#fixed++;
    this.#nodes.set(node.id, node);
    this.#byKey.set(key, node);
    this.#install(node, fd);
    return { node, st };
  }

  /**
   * Looks up one name in a directory (lookup count unchanged).
   *
   * @param dirfd the directory's descriptor (a node's or an open directory's)
   * @param name the NUL-terminated name
   * @param refuse see {@link #adopt}
   */
  #find(dirfd: number, name: Uint8Array<ArrayBuffer>, refuse = true): { node: Node; st: Stat } {
    const c = sym();
    const flags = O.O_PATH | O.O_NOFOLLOW | O.O_CLOEXEC;
    let fd = c.openat(dirfd, name, flags, 0);
    if (fd < 0) fd = this.#retryOpen(() => c.openat(dirfd, name, flags, 0));
    return this.#adopt(fd, refuse);
  }

  /**
   * {@link #find} for a name that probably leads to a node the kernel
   * already holds (with timeouts of 0, most lookups revalidate a name the
   * kernel knows): stat'ed by name first, and if it is a node whose
   * descriptor is open, that is all, one system call instead of an openat,
   * an fstat and a close. The descriptor keeps the object alive, so its
   * `st_dev`/`st_ino` cannot name another one meanwhile. Otherwise opened
   * and stat'ed through the new descriptor, as `#find` does.
   */
  #findKnown(
    dirfd: number,
    name: Uint8Array<ArrayBuffer>,
    refuse = true,
  ): { node: Node; st: Stat } {
    const st = fstatat(dirfd, name, AT.SYMLINK_NOFOLLOW);
    const known = this.#byKey.get(this.#keyOf(st.dev, st.ino));
    if (known !== undefined && known.fd >= 0) {
      this.#fd(known); // most recently used
      return { node: known, st };
    }
    const c = sym();
    const flags = O.O_PATH | O.O_NOFOLLOW | O.O_CLOEXEC;
    let fd = c.openat(dirfd, name, flags, 0);
    if (fd < 0) fd = this.#retryOpen(() => c.openat(dirfd, name, flags, 0));
    return this.#adopt(fd, refuse);
  }

  /** Drops `count` references; the node goes when none is left. */
  #unref(node: Node, count: number): void {
    node.nlookup -= count;
    this.#dropIfUnused(node);
  }

  #dropIfUnused(node: Node): void {
    if (
      node.nlookup > 0 || node.pins > 0 || node === this.#root ||
      this.#nodes.get(node.id) !== node
    ) return;
    this.#nodes.delete(node.id);
    this.#byKey.delete(node.key);
    if (node.listed) this.#unlist(node);
    if (node.fixed) this.#fixed--;
    if (node.fd >= 0) sym().close(node.fd);
    node.fd = -1;
  }

  /**
   * Resolves ".." of a directory without leaving the source: the root's
   * parent is the root, and a directory that was moved out of the source
   * (directly in the backing filesystem) has no parent we may show.
   */
  #parentOf(dir: Node): { node: Node; st: Stat } {
    if (dir === this.#root) return { node: dir, st: this.#stat(dir) };
    const c = sym();
    const flags = O.O_PATH | O.O_DIRECTORY | O.O_CLOEXEC;
    const dirfd = this.#fd(dir);
    let fd = c.openat(dirfd, DOTDOT, flags, 0);
    if (fd < 0) fd = this.#retryOpen(() => c.openat(dirfd, DOTDOT, flags, 0));
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
    const flags = O.O_PATH | O.O_DIRECTORY | O.O_CLOEXEC;
    let cur = fd;
    try {
      for (let depth = 0; depth < 4096; depth++) {
        const st = fstatat(cur, EMPTY, AT.EMPTY_PATH);
        if (st.dev === this.#root.dev && st.ino === this.#root.ino) return true;
        const from = cur;
        let up = c.openat(from, DOTDOT, flags, 0);
        if (up < 0) up = this.#retryOpen(() => c.openat(from, DOTDOT, flags, 0));
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
    // Already the caller's user and group (always so for a root caller):
    // nothing to change, whatever the parent's set-group-ID bit says.
    if (this.#chown && (cur.uid !== ctx.uid || cur.gid !== ctx.gid)) {
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
    const { node, st } = this.#find(this.#fd(parent), name, false);
    try {
      const final = this.#own(
        {
          chown: (uid, gid) =>
            check(
              c.fchownat(this.#fd(node), EMPTY, uid, gid, AT.EMPTY_PATH | AT.SYMLINK_NOFOLLOW),
            ),
          chmod: (m) => check(c.fchmodat(AT.FDCWD, this.#proc(node), m, 0)),
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
   * Whether opens relative to `node` run on the JS thread: where file I/O
   * is inline and the object is on the source's own (memory-backed)
   * filesystem, not on another one mounted inside it.
   */
  #inline(node: Node): boolean {
    return this.inlineIo && node.dev === this.#root.dev;
  }

  /**
   * {@link #openPinned} on the JS thread (see {@link #inline}); nothing
   * else runs meanwhile, so `dir` needs no pin.
   */
  #openInline(
    dir: Node,
    name: Uint8Array<ArrayBuffer> | null,
    flags: number,
    mode: number,
  ): number {
    const c = sym();
    const fd = name === null
      ? c.openat(AT.FDCWD, this.#proc(dir), flags, mode)
      : c.openat(this.#fd(dir), name, flags, mode);
    if (fd >= 0) return fd;
    return this.#retryOpen(() =>
      name === null
        ? c.openat(AT.FDCWD, this.#proc(dir), flags, mode)
        : c.openat(this.#fd(dir), name, flags, mode)
    );
  }

  /**
   * Opens `name` in directory `pin` (or, for null, `pin` itself through
   * /proc) off the JS thread, keeping `pin`'s descriptor, which the worker
   * thread uses, open meanwhile. Out of descriptors, sheds cached ones and
   * tries once more.
   */
  async #openPinned(
    pin: Node,
    name: Uint8Array<ArrayBuffer> | null,
    flags: number,
    mode: number,
  ): Promise<number> {
    const c = sym();
    this.#pin(pin);
    try {
      for (let retried = false;; retried = true) {
        const dirfd = name === null ? AT.FDCWD : this.#fd(pin);
        const path = name ?? this.#proc(pin);
        try {
          return await offThread(
            () => c.openat_nb(dirfd, path, flags, mode),
            () => c.openat(dirfd, path, flags, mode),
          );
        } catch (error) {
          if (retried || !(error instanceof FUSEError) || !outOfFds(error) || !this.#shed()) {
            throw error;
          }
        }
      }
    } finally {
      this.#unpin(pin);
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
    else found = this.#findKnown(this.#fd(parent), component(name, errno.EINVAL));
    found.node.nlookup++;
    return this.#attr(found.node, found.st);
  }

  /** Drops the kernel's references; drops nodes no longer referenced. */
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
    ctx: fuse.RequestContext,
  ): fuse.EntryAttributes {
    const c = sym();
    const node = this.#node(inode);
    const fd = fh === null ? null : this.#fileFd(fh);
    if (fields.updateMode) {
      const mode = attr.stMode & 0o7777;
      check(fd !== null ? c.fchmod(fd, mode) : c.fchmodat(AT.FDCWD, this.#proc(node), mode, 0));
    }
    if (fields.updateUid || fields.updateGid) {
      const uid = fields.updateUid ? attr.stUid : NO_ID;
      const gid = fields.updateGid ? attr.stGid : NO_ID;
      check(c.fchownat(this.#fd(node), EMPTY, uid, gid, AT.EMPTY_PATH | AT.SYMLINK_NOFOLLOW));
    }
    if (fields.updateSize) {
      check(
        fd !== null
          ? c.ftruncate(fd, BigInt(attr.stSize))
          : c.truncate(this.#proc(node), BigInt(attr.stSize)),
      );
    }
    // A truncate or chown whose set-id bits the kernel left to us (root's
    // chown of the backing file clears them too; twice is harmless).
    if (ctx.killSuidgid) {
      this.#killPriv(
        fd !== null ? openedFile(fd) : {
          stat: () => this.#stat(node),
          chmod: (m) => check(c.fchmodat(AT.FDCWD, this.#proc(node), m, 0)),
        },
        ctx,
      );
    }
    if (fields.updateAtime || fields.updateMtime) {
      // The library resolves "set to now" to a timestamp before we see it,
      // so explicit times are all we can pass (no UTIME_NOW).
      const times = timespecs(
        fields.updateAtime ? attr.stAtimeNs : null,
        fields.updateMtime ? attr.stMtimeNs : null,
      );
      if (c.utimensat(this.#fd(node), EMPTY, times, AT.EMPTY_PATH) < 0) {
        // Kernels before 5.8 refuse AT_EMPTY_PATH here; go through /proc.
        const e = lastError();
        if (e.errno !== errno.EINVAL || node.isSymlink) throw e;
        check(c.utimensat(AT.FDCWD, this.#proc(node), times, 0));
      }
    }
    return this.#attr(node, this.#stat(node));
  }

  /** The symlink's target, as raw bytes. */
  readlink(inode: fuse.Inode): Uint8Array {
    const node = this.#node(inode);
    for (let size = 4096;; size *= 2) {
      const buf = new Uint8Array(size);
      const n = check(sym().readlinkat(this.#fd(node), EMPTY, buf, BigInt(size)));
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
    this.#checkRoom(parent.dev);
    check(sym().mknodat(this.#fd(parent), n, mode, BigInt(rdev)));
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
    this.#checkRoom(parent.dev);
    check(sym().mkdirat(this.#fd(parent), n, mode));
    return this.#created(parent, n, mode, ctx);
  }

  /** Removes a non-directory. */
  unlink(parentInode: fuse.Inode, name: Uint8Array): void {
    const parent = this.#node(parentInode);
    check(sym().unlinkat(this.#fd(parent), component(name, errno.EISDIR), 0));
  }

  /** Removes an empty directory. */
  rmdir(parentInode: fuse.Inode, name: Uint8Array): void {
    const parent = this.#node(parentInode);
    check(sym().unlinkat(this.#fd(parent), component(name, errno.EINVAL), AT.REMOVEDIR));
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
    this.#checkRoom(parent.dev);
    check(sym().symlinkat(cstr(target), this.#fd(parent), n));
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
        this.#fd(from),
        component(nameOld, errno.EBUSY),
        this.#fd(to),
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
    if (c.linkat(this.#fd(node), EMPTY, this.#fd(parent), n, AT.EMPTY_PATH) < 0) {
      // AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH (ENOENT without it); the
      // /proc link works for anyone, but would follow a symlink.
      const e = lastError();
      if (e.errno !== errno.ENOENT || node.isSymlink) throw e;
      check(c.linkat(AT.FDCWD, this.#proc(node), this.#fd(parent), n, AT.SYMLINK_FOLLOW));
    }
    node.nlookup++;
    return this.#attr(node, this.#stat(node));
  }

  /** Opens the backing file with the caller's flags. */
  open(
    inode: fuse.Inode,
    flags: number,
    ctx: fuse.RequestContext,
  ): fuse.FileInfo | Promise<fuse.FileInfo> {
    return settled(() => this.#open(inode, flags, ctx));
  }

  #open(
    inode: fuse.Inode,
    flags: number,
    ctx: fuse.RequestContext,
  ): fuse.FileInfo | Promise<fuse.FileInfo> {
    const node = this.#node(inode);
    // O_DIRECT needs aligned buffers, which JS memory is not; the kernel
    // still bypasses its page cache for us (directIo).
    // O_NOFOLLOW: the kernel has resolved the name already, and the
    // /proc/self/fd link we open through is itself a symlink.
    const backing = (flags & ~(O.O_CREAT | O.O_EXCL | O.O_NOCTTY | O.O_DIRECT | O.O_NOFOLLOW)) |
      O.O_CLOEXEC;
    // Pinned for as long as the file is open (until release), from before
    // the open: the file may be unlinked meanwhile.
    this.#pin(node);
    const opened = (fd: number) => {
      if (truncKill(flags, ctx)) this.#killPriv(openedFile(fd), ctx);
      const fh = this.#nextFh++;
      this.#files.set(fh, fd);
      this.#fileNodes.set(fh, node);
      return openFile(fh, fd, flags);
    };
    const failed = (error: unknown): never => {
      this.#unpin(node);
      throw error;
    };
    if (!this.#inline(node)) return this.#openPinned(node, null, backing, 0).then(opened, failed);
    let fd: number;
    try {
      fd = this.#openInline(node, null, backing, 0);
    } catch (error) {
      return failed(error);
    }
    return opened(fd);
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

  /** Writes to the backing file, clearing its set-id bits first where the kernel says so. */
  write(
    fh: fuse.FileHandle,
    off: number,
    buf: Uint8Array,
    ctx: fuse.RequestContext,
  ): number | Promise<number> {
    const c = sym();
    const fd = this.#fileFd(fh);
    if (ctx.killSuidgid) this.#killPriv(openedFile(fd), ctx);
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
   * report its errno nor be repeated to learn it (see posix/libc.ts).
   */
  flush(fh: fuse.FileHandle): void {
    const c = sym();
    const fd = this.#fileFd(fh);
    let copy = c.dup(fd);
    if (copy < 0) copy = this.#retryOpen(() => c.dup(fd));
    check(c.close(copy));
  }

  /** Closes the backing file. */
  release(fh: fuse.FileHandle): void {
    const fd = this.#fileFd(fh);
    const node = this.#fileNodes.get(fh);
    this.#files.delete(fh);
    this.#fileNodes.delete(fh);
    if (node) this.#unpin(node);
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
  opendir(inode: fuse.Inode): fuse.FileHandle | Promise<fuse.FileHandle> {
    return settled(() => this.#opendir(inode));
  }

  #opendir(inode: fuse.Inode): fuse.FileHandle | Promise<fuse.FileHandle> {
    const node = this.#node(inode);
    const flags = O.O_RDONLY | O.O_DIRECTORY | O.O_CLOEXEC;
    const opened = (fd: number) => {
      const fh = this.#nextFh++;
      this.#dirs.set(fh, { fd, node, listing: null, listed: false });
      return fh;
    };
    if (!this.#inline(node)) return this.#openPinned(node, DOTNAME, flags, 0).then(opened);
    return opened(this.#openInline(node, DOTNAME, flags, 0));
  }

  /**
   * Reads the whole backing directory (getdents64), from its start, into
   * `dir.listing`, reusing its buffers: on the JS thread where opens are
   * (see {@link #inline}: a directory in memory never waits for a device),
   * else on Deno's blocking thread pool.
   */
  #list(dir: DirHandle): Listing | Promise<Listing> {
    const c = sym();
    const fd = dir.fd;
    check(c.lseek(fd, 0n, 0 /* SEEK_SET */));
    // The buffers of a directory released earlier if there is one: fresh
    // ones cost their zeroing and a page fault per page as getdents64
    // fills them, on every `ls`.
    const l = dir.listing ??= this.#spareListing ?? {
      buf: new Uint8Array(LISTING_START),
      view: new DataView(new ArrayBuffer(0)),
      at: new Int32Array(LISTING_RECORDS),
      nameEnd: new Int32Array(LISTING_RECORDS),
      count: 0,
    };
    if (l === this.#spareListing) this.#spareListing = null;
    dir.listed = false;
    if (!this.#inline(dir.node)) return this.#listOffThread(dir, l);
    let used = 0;
    for (;;) {
      const part = this.#listingRoom(l, used);
      const n = check(c.getdents64(fd, part, BigInt(part.length)));
      if (n === 0) return this.#index(dir, l, used);
      used += n;
    }
  }

  async #listOffThread(dir: DirHandle, l: Listing): Promise<Listing> {
    const c = sym();
    const fd = dir.fd;
    let used = 0;
    for (;;) {
      const part = this.#listingRoom(l, used);
      const n = await offThread(
        () => c.getdents64_nb(fd, part, BigInt(part.length)),
        () => c.getdents64(fd, part, BigInt(part.length)),
      );
      if (n === 0) return this.#index(dir, l, used);
      used += n;
    }
  }

  /** The free part of the listing's buffer after `used` bytes, grown to at least a chunk. */
  #listingRoom(l: Listing, used: number): Uint8Array<ArrayBuffer> {
    if (l.buf.length - used < DIRENT_CHUNK) {
      const bigger = new Uint8Array(l.buf.length * 2);
      bigger.set(l.buf.subarray(0, used));
      l.buf = bigger;
    }
    return l.buf.subarray(used);
  }

  /** Finds where each record of the first `used` bytes of the listing starts. */
  #index(dir: DirHandle, l: Listing, used: number): Listing {
    const buf = l.buf;
    const view = l.view = new DataView(buf.buffer);
    l.count = 0;
    for (let at = 0; at < used;) {
      const reclen = view.getUint16(at + 16, true);
      if (l.count === l.at.length) {
        const starts = new Int32Array(l.count * 2), ends = new Int32Array(l.count * 2);
        starts.set(l.at);
        ends.set(l.nameEnd);
        l.at = starts;
        l.nameEnd = ends;
      }
      // NUL-terminated, and the record is padded to 8 bytes after the NUL
      // (padding that getdents64 does not clear), so the NUL is among the
      // record's last 8 bytes.
      const recEnd = at + reclen;
      let nameEnd = Math.max(at + 19, recEnd - 8);
      while (nameEnd < recEnd && buf[nameEnd] !== 0) nameEnd++;
      l.at[l.count] = at;
      l.nameEnd[l.count] = nameEnd;
      l.count++;
      at += reclen;
    }
    dir.listed = true;
    return l;
  }

  /**
   * Lists the directory with full attributes (readdirplus). Offsets are
   * indices into a listing taken when reading starts at 0: the backing
   * filesystem's own offsets are 64-bit cookies that need not fit a JS
   * number.
   */
  readdir(fh: fuse.FileHandle, startId: number, token: fuse.ReaddirToken): void | Promise<void> {
    return settled(() => this.#readdir(fh, startId, token));
  }

  #readdir(fh: fuse.FileHandle, startId: number, token: fuse.ReaddirToken): void | Promise<void> {
    const dir = this.#dirs.get(fh);
    if (!dir) throw new FUSEError(errno.EBADF);
    if (startId !== 0 && dir.listed) return this.#readdirFrom(dir, dir.listing!, startId, token);
    const l = this.#list(dir);
    if (l instanceof Promise) return l.then((l) => this.#readdirFrom(dir, l, startId, token));
    return this.#readdirFrom(dir, l, startId, token);
  }

  /** Adds entries `startId`... of the listing to the reply, until it is full. */
  #readdirFrom(dir: DirHandle, l: Listing, startId: number, token: fuse.ReaddirToken): void {
    const { buf, view, at: starts, nameEnd, count } = l;
    // Numbers of objects on the source's filesystem are their st_ino, except
    // the source's own (1) and those from 2^52 up (see #idFor): those, and
    // every entry of a directory on another filesystem, go the slow way.
    const sameDev = dir.node.dev === this.#root.dev;
    const rootIno = Number(this.#root.ino);
    const plain = this.#plainEntry;
    let replied = false;
    for (let i = startId; i < count; i++) {
      const at = starts[i];
      const name = buf.subarray(at + 19, nameEnd[i]);
      const lo = view.getUint32(at, true), hi = view.getUint32(at + 4, true);
      const len = name.length;
      if ((len === 1 || len === 2) && name[0] === DOT && (len === 1 || name[1] === DOT)) {
        // The kernel takes no reference for these two, so they must not
        // count as lookups; only their number and type are shown.
        const ino = view.getBigUint64(at, true);
        const id = len === 1 || dir.node === this.#root
          ? dir.node.id
          : this.#byKey.get(this.#keyOf(dir.node.dev, ino))?.id ??
            (ino > 1n && ino < BigInt(ALLOC_BASE) ? Number(ino) : fuse.ROOT_INODE);
        const attr = new fuse.EntryAttributes({ stIno: id, stMode: S.IFDIR });
        if (!fuse.readdirReply(token, name, attr, i + 1)) return;
        replied = true;
        continue;
      }
      if (!token.plus) {
        // Plain READDIR: the number and type the backing directory reports,
        // no lookup. Inodes known to the kernel keep their id.
        const ino = hi * 2 ** 32 + lo;
        if (sameDev && hi < ALLOC_BASE_HI && ino > 1 && ino !== rootIno) {
          // What #idFor gives this object, whether known or not.
          plain.stIno = ino;
          plain.stMode = (buf[at + 18] & 0o17) << 12;
          if (!fuse.readdirReply(token, name, plain, i + 1)) return;
          replied = true;
          continue;
        }
        const known = this.#byKey.get(this.#keyOf(dir.node.dev, view.getBigUint64(at, true)));
        if (known) {
          plain.stIno = known.id;
          plain.stMode = (buf[at + 18] & 0o17) << 12;
          if (!fuse.readdirReply(token, name, plain, i + 1)) return;
          replied = true;
          continue;
        }
        // An inode number we would map to an id of our own: look it up.
      }
      let found: { node: Node; st: Stat };
      try {
        // The open directory's own descriptor, which eviction never closes.
        // A plain READDIR drops the node at once, so it may exceed the
        // limit on fixed nodes.
        found = token.plus
          ? this.#findKnown(dir.fd, cstr(name))
          : this.#find(dir.fd, cstr(name), false);
      } catch (error) {
        if (!(error instanceof FUSEError)) throw error;
        // Removed since the listing was taken: leave it out, as a fresh
        // listing would.
        if (error.errno === errno.ENOENT) continue;
        // No room for another inode: end this reply here. The kernel asks
        // for the rest, usually with plain READDIR, which takes no lookups.
        if (outOfFds(error) && replied) return;
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
      replied = true;
    }
  }

  /** Closes the backing directory. */
  releasedir(fh: fuse.FileHandle): void {
    const dir = this.#dirs.get(fh);
    if (!dir) throw new FUSEError(errno.EBADF);
    this.#dirs.delete(fh);
    const l = dir.listing;
    if (l !== null && l.buf.length <= SPARE_LISTING_MAX) {
      if (this.#spareListing === null || this.#spareListing.buf.length < l.buf.length) {
        this.#spareListing = l;
      }
    }
    dir.listing = null;
    dir.listed = false;
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
    check(sym().setxattr(this.#proc(node), cstr(name), v, BigInt(v.length), flags));
  }

  /** The attribute's whole value; the library answers size probes and ERANGE from it. */
  getxattr(inode: fuse.Inode, name: Uint8Array): Uint8Array {
    const c = sym();
    const node = this.#node(inode);
    const n = cstr(name);
    for (;;) {
      const size = check(c.getxattr(this.#proc(node), n, null, 0n));
      const buf = new Uint8Array(size);
      if (size === 0) return buf;
      const got = Number(c.getxattr(this.#proc(node), n, buf, BigInt(size)));
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
      const size = check(c.listxattr(this.#proc(node), null, 0n));
      if (size === 0) return [];
      const buf = new Uint8Array(size);
      const got = Number(c.listxattr(this.#proc(node), buf, BigInt(size)));
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
    check(sym().removexattr(this.#proc(node), cstr(name)));
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
  create(
    parentInode: fuse.Inode,
    name: Uint8Array,
    mode: number,
    flags: number,
    ctx: fuse.RequestContext,
  ): [fuse.FileInfo, fuse.EntryAttributes] | Promise<[fuse.FileInfo, fuse.EntryAttributes]> {
    return settled(() => this.#create(parentInode, name, mode, flags, ctx));
  }

  #create(
    parentInode: fuse.Inode,
    name: Uint8Array,
    mode: number,
    flags: number,
    ctx: fuse.RequestContext,
  ): [fuse.FileInfo, fuse.EntryAttributes] | Promise<[fuse.FileInfo, fuse.EntryAttributes]> {
    const parent = this.#node(parentInode);
    const n = component(name, errno.EEXIST);
    // O_NOFOLLOW: a symlink planted in the backing directory must not make
    // us create or open a file elsewhere.
    const base = (flags & ~(O.O_CREAT | O.O_EXCL | O.O_NOCTTY | O.O_DIRECT)) | O.O_CLOEXEC |
      O.O_NOFOLLOW;
    this.#checkRoom(parent.dev);
    const existing = (error: unknown) => {
      if (!(error instanceof FUSEError) || error.errno !== errno.EEXIST || (flags & O.O_EXCL)) {
        throw error;
      }
    };
    if (!this.#inline(parent)) {
      return this.#openPinned(parent, n, base | O.O_CREAT | O.O_EXCL, mode).then(
        (fd) => this.#createdFile(parent, fd, true, mode, flags, ctx),
        async (error) => {
          existing(error);
          const fd = await this.#openPinned(parent, n, base, 0);
          return this.#createdFile(parent, fd, false, mode, flags, ctx);
        },
      );
    }
    let created = true;
    let fd: number;
    try {
      fd = this.#openInline(parent, n, base | O.O_CREAT | O.O_EXCL, mode);
    } catch (error) {
      existing(error);
      created = false;
      fd = this.#openInline(parent, n, base, 0);
    }
    return this.#createdFile(parent, fd, created, mode, flags, ctx);
  }

  /**
   * The rest of {@link create} once the file is open as `fd`: its node, the
   * caller's ownership and mode if we created it, the open file.
   */
  #createdFile(
    parent: Node,
    fd: number,
    created: boolean,
    mode: number,
    flags: number,
    ctx: fuse.RequestContext,
  ): [fuse.FileInfo, fuse.EntryAttributes] {
    const c = sym();
    try {
      const proc = procPath(fd);
      const pathFlags = O.O_PATH | O.O_CLOEXEC;
      let pathFd = c.openat(AT.FDCWD, proc, pathFlags, 0);
      if (pathFd < 0) pathFd = this.#retryOpen(() => c.openat(AT.FDCWD, proc, pathFlags, 0));
      const { node, st } = this.#adopt(pathFd, !created);
      try {
        let final = created
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
        if (!created && truncKill(flags, ctx)) final = this.#killPriv(openedFile(fd), ctx);
        const fh = this.#nextFh++;
        this.#files.set(fh, fd);
        this.#fileNodes.set(fh, node);
        this.#pin(node);
        node.nlookup++;
        return [openFile(fh, fd, flags), this.#attr(node, final)];
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

if (import.meta.main) {
  await runFromCommandLine({
    name: "passthrough",
    positional: ["SOURCE", "MOUNTPOINT"],
    create: ([source], allOptions) => {
      const off = "kernel_passthrough=off", on = "kernel_passthrough=on";
      const options = allOptions.filter((o) => o !== off && o !== on);
      const kernelPassthrough = allOptions.findLast((o) => o === off || o === on) !== off;
      // This process only serves the mount: with umask 0 new objects get
      // exactly the mode the caller asked for (the kernel has applied the
      // caller's umask already).
      try {
        acquireLibc().umask(0);
        // The descriptor cache is sized from the soft limit; the hard one
        // is ours to take.
        raiseNofileLimit();
      } finally {
        releaseLibc();
      }
      const fs = new PassthroughFs(source, { kernelPassthrough });
      return {
        ops: fs,
        options: [...fuse.defaultOptions, `fsname=${source}`, ...options],
        cleanup: () => fs.close(),
      };
    },
  });
}

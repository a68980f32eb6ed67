/**
 * pgfs: a filesystem in a PostgreSQL database that several hosts mount at
 * once, each seeing the others' changes.
 *
 *     PGPASSWORD=... deno run --allow-ffi --allow-net --allow-read --allow-write \
 *       --allow-env --allow-sys=hostname examples/pgfs.ts [-o opt,...] POSTGRES_URL MOUNTPOINT
 *
 * POSTGRES_URL is libpq's (`postgres://user@host:5432/db`, or a Unix socket
 * directory as `postgres://user@/db?host=/run/postgresql`; Deno asks
 * `--allow-all` for a socket under /dev, such as /dev/shm), without the
 * password: that comes from `PGPASSWORD` or `~/.pgpass` (see
 * examples/lib/pg_connect.ts), never from the command line every user can
 * read. The database must be empty (pgfs creates its schema, `pgfs`) or
 * hold a pgfs filesystem; anything else is refused untouched. Besides the
 * FUSE options, `-o` takes `timeout=SECONDS` (how long the kernel may cache
 * names and attributes, default 60) and `deadline=SECONDS` (how long a
 * request may wait for the database before it fails with EIO, default 10).
 *
 * Design notes. The parts live in examples/lib/pg_*.ts: the client and its
 * errors (pg_client.ts), the schema (pg_schema.ts), rows (pg_store.ts),
 * data blocks (pg_blocks.ts), names (pg_names.ts), locks (pg_locks.ts),
 * the mount's session (pg_session.ts) and coherence (pg_changes.ts); this
 * file has the request handlers. The POSIX rules are the ones tmpfs.ts and
 * sqlitefs.ts apply (examples/lib/posix_rules.ts).
 *
 * - The database is the only truth: each request is one transaction (or a
 *   single read), locking the inode rows it changes in inode order; a
 *   transaction that loses a race with another mount's (serialization
 *   failure, deadlock) runs again. Memory holds only what exists per mount:
 *   lookup counts, open handles, lock waiters.
 * - Coherence: a changing transaction ends with `pg_notify` of what it
 *   changed, delivered to every mount's LISTENing session at commit; each
 *   mount invalidates what its kernel cached (entries, negative ones too,
 *   attributes, data). So kernel caches can keep long timeouts, and a
 *   change on one mount shows on the others within a notification's trip.
 *   File data is close-to-open consistent besides: open compares the
 *   file's data version with the one this mount last saw and drops the
 *   kernel's cached pages when it changed (`keepCache` false). After the
 *   session was cut off (notifications may have been lost) every cached
 *   name is made stale (`incrementEpoch`, libfuse 3.18; older libfuse:
 *   names stay cached until their timeout) and every known inode's
 *   attributes and data are dropped.
 * - Open files outlive their names: a mount records the inodes it has open
 *   (`pgfs.holds`); an inode without names is deleted when the last mount
 *   closes it. Locks (flock and fcntl) live in `pgfs.locks`, by mount.
 * - A mount is alive while its session holds an advisory lock on its id.
 *   Other mounts reap a mount whose lock is free (it crashed, or was cut
 *   off): its holds and locks go.
 * - Durability: every request commits before it is answered (synchronous
 *   commit), so whatever a write, create or rename was acknowledged with
 *   survives `kill -9` of the mount and a restart of PostgreSQL; fsync has
 *   nothing left to do. While the database is unreachable requests fail
 *   with EIO (at once when the server is down, after `deadline` when it
 *   hangs); the mount reconnects by itself and serves again.
 * - What depends on PostgreSQL itself: LISTEN/NOTIFY (transactional
 *   notifications), session advisory locks (liveness), row locks with
 *   `FOR UPDATE`. A PostgreSQL-compatible distributed database without
 *   them (e.g. CockroachDB, YugabyteDB without LISTEN) needs a change feed
 *   (CockroachDB's changefeeds on the tables) in place of NOTIFY, and a
 *   lease row with an expiry renewed by each mount in place of the
 *   advisory lock; serializable retries (40001) are already handled.
 *
 * @module
 */

import * as fuse from "../mod.ts";
import { runFromCommandLine } from "./lib/cli.ts";
import { type RootAttributes } from "./lib/database_refused.ts";
import {
  applySetattr,
  checkName,
  checkRenameFlags,
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
import * as blocks from "./lib/pg_blocks.ts";
import { ChangeSet, CHANNEL, KernelCache } from "./lib/pg_changes.ts";
import {
  connect,
  isRetryable,
  isStaleConnection,
  type Pool,
  type Sql,
  toFuseError,
} from "./lib/pg_client.ts";
import { describeTarget, parseTarget, type PgTarget } from "./lib/pg_connect.ts";
import { SharedLocks } from "./lib/pg_locks.ts";
import * as names from "./lib/pg_names.ts";
import { prepareSchema } from "./lib/pg_schema.ts";
import { MountSession, reapDeadMounts } from "./lib/pg_session.ts";
import {
  attributes,
  hold,
  listEntries,
  load,
  lockInode,
  lookupEntry,
  type PgInode,
  save,
  unhold,
  xattrs,
} from "./lib/pg_store.ts";
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

export { DatabaseRefused } from "./lib/database_refused.ts";

/** Options of {@link PgFs.open}. */
export interface PgFsOptions {
  /** Seconds the kernel may cache names and attributes (default 60). */
  timeoutSec?: number;
  /** Milliseconds a request may wait for the database (default 10 000); the mount's `deadlineMs` should be this. */
  deadlineMs?: number;
  /** Owner and mode of the root directory of a new filesystem (default: this process, 0755). */
  root?: RootAttributes;
  /** Connections for requests (default 4). */
  poolSize?: number;
  /** Where messages go (default: stderr, prefixed "pgfs: "). */
  log?: (line: string) => void;
}

/** The capacity statfs reports: PostgreSQL does not say how much room its disk has. */
const CAPACITY_BLOCKS = 2 ** 28;
/** Entries fetched per query while listing a directory. */
const READDIR_CHUNK = 256;
/** How often dead mounts are looked for. */
const REAP_MS = 5000;
/** How often a transaction that lost a race runs again before the request fails. */
const RETRIES = 8;

/**
 * Waits before a request runs again on a fresh connection: a server that
 * is starting or stopping (57P03) refuses connections for a moment, and
 * immediate retries would all meet it. 20, 40, ... 140 ms: under a second
 * in all, well within the request deadline.
 */
function staleRetryPause(attempt: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 20 * attempt));
}
const NO_SUCH_ATTRIBUTE = new fuse.FUSEError(fuse.errno.ENODATA);

/** An open regular file. */
interface OpenFile {
  ino: number;
  flags: number;
  /** Who opened it: write requests carry no caller, and set-id clearing depends on it. */
  opener: { uid: number; gid: number };
}

/**
 * A filesystem in a PostgreSQL database, coherent across every mount of
 * the database. Create it with {@link PgFs.open}, mount it (with
 * `default_permissions`), {@link PgFs.attach} the mount's notifications,
 * and {@link PgFs.close} it after unmounting.
 *
 * @example
 * ```ts ignore
 * import { mount } from "../mod.ts";
 * import { PgFs } from "./pgfs.ts";
 * const fs = await PgFs.open("postgres://fs@/fs?host=/run/postgresql");
 * try {
 *   await using m = mount(fs, "/mnt/pg", { options: ["default_permissions"], deadlineMs: 10_000 });
 *   fs.attach(m);
 *   // ... serve ...
 * } finally {
 *   await fs.close();
 * }
 * ```
 */
export class PgFs implements fuse.Operations {
  /** Plain READDIR when the kernel needs no attributes; only READDIRPLUS entries are lookups. */
  readonly enableReaddirplusAuto = true;
  /**
   * Set-id bits are cleared here where the kernel's kill flags say so
   * (`ctx.killSuidgid`), so the kernel does not ask for
   * `security.capability` before every write (a round trip to the
   * database each); without them (libfuse < 3.17) the rules of old apply.
   */
  readonly handleKillprivV2 = true;
  readonly #target: PgTarget;
  #pool: Pool;
  readonly #newPool: () => Pool;
  readonly #timeout: number;
  readonly #log: (line: string) => void;
  readonly #clock = new Clock();
  readonly #cache: KernelCache;
  readonly #locks: SharedLocks;
  #session!: MountSession;
  readonly #files = new Map<number, OpenFile>();
  readonly #dirs = new Map<number, number>();
  /** Open handles per inode: the first takes this mount's hold, the last gives it back. */
  readonly #opens = new Map<number, number>();
  /** Kernel references per inode (lookups minus forgets). */
  readonly #lookups = new Map<number, number>();
  /** The data version this mount last saw of each file it knows: open keeps the kernel's pages if unchanged. */
  readonly #versions = new Map<number, bigint>();
  #reaper: ReturnType<typeof setInterval> | undefined;
  #nextFh = 1;
  #closed = false;

  private constructor(target: PgTarget, options: PgFsOptions) {
    this.#target = target;
    this.#timeout = options.timeoutSec ?? 60;
    this.#log = options.log ?? ((line) => console.error(`pgfs: ${line}`));
    const deadlineMs = options.deadlineMs ?? 10_000;
    this.#newPool = () =>
      connect(target, {
        max: options.poolSize ?? 4,
        connectTimeoutSeconds: Math.max(1, Math.min(2, Math.ceil(deadlineMs / 2000))),
        statementTimeoutMs: deadlineMs,
      });
    this.#pool = this.#newPool();
    this.#cache = new KernelCache(() => this.#session.id, {
      dataChanged: (ino) => this.#versions.delete(ino),
      unlocked: (ino) => this.#locks.wake(ino),
    });
    this.#locks = new SharedLocks((fn) => this.#change(fn), () => this.#session.id);
  }

  /**
   * Connects, checks (or creates) the schema, and registers this mount.
   *
   * @param url a libpq-style URL without a password (see examples/lib/pg_connect.ts)
   * @param options timeouts, root attributes, pool size, logging
   * @returns the filesystem, ready to mount
   * @throws {DatabaseRefused} for a database of something else or of a newer pgfs
   * @throws {Error} when the URL is bad or the server cannot be reached (the password never shows)
   */
  static async open(url: string, options: PgFsOptions = {}): Promise<PgFs> {
    const target = parseTarget(url);
    const fs = new PgFs(target, options);
    try {
      const ids = fuse.processIds();
      await prepareSchema(
        fs.#pool,
        describeTarget(target),
        options.root ?? { uid: ids.uid, gid: ids.gid, mode: 0o755 },
        fs.#clock.now(),
      );
      fs.#session = await MountSession.open(target, {
        notify: (payload) => fs.#cache.receive(payload),
        resumed: () => fs.#resumed(),
        lost: (reason) => fs.#log(`${reason}; reconnecting`),
      }, 5);
      await fs.#reap();
      fs.#reaper = setInterval(() => fs.#reap(), REAP_MS);
    } catch (error) {
      await fs.#pool.end({ timeout: 5 });
      if (error instanceof fuse.FUSEError || !(error instanceof Error)) throw error;
      if (error.name === "DatabaseRefused") throw error;
      throw new Error(
        `cannot use ${describeTarget(target)}: ${redacted(error, target)}`,
        { cause: error },
      );
    }
    return fs;
  }

  /** This mount's id in `pgfs.mounts`. */
  get mountId(): number {
    return this.#session.id;
  }

  /** How many file and directory handles are open. */
  get openHandles(): number {
    return this.#files.size + this.#dirs.size;
  }

  /**
   * Where invalidations of this mount's kernel caches go: the MountHandle
   * of `mount()`, or {@link moduleNotifications} after `init()`.
   *
   * @param kernel the mount's notifications, or undefined before unmounting
   */
  attach(kernel: fuse.Notifications | undefined): void {
    this.#cache.attach(kernel);
  }

  /** Leaves the database (this mount's holds and locks go); call after unmounting. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#cache.attach(undefined);
    clearInterval(this.#reaper);
    await this.#session?.close();
    await this.#pool.end({ timeout: 5 });
  }

  // ---- lookups and attributes ----

  /** Looks `name` up in `parentInode`; an absent name is cached (other mounts announce creations). */
  async lookup(parentInode: fuse.Inode, name: Uint8Array): Promise<fuse.EntryAttributes> {
    checkName(name);
    const node = await this.#read(async (q) => {
      if (isDot(name)) return await load(q, parentInode);
      if (isDotDot(name)) return await load(q, (await load(q, parentInode)).parent);
      return await lookupEntry(q, parentInode, name);
    });
    if (!node) return fuse.EntryAttributes.negative(this.#timeout);
    this.#lookups.set(node.ino, (this.#lookups.get(node.ino) ?? 0) + 1);
    return attributes(node, this.#timeout);
  }

  /** Drops kernel references. */
  forget(inodeList: Array<[fuse.Inode, number]>): void {
    for (const [ino, count] of inodeList) {
      const left = (this.#lookups.get(ino) ?? 0) - count;
      if (left > 0) {
        this.#lookups.set(ino, left);
        continue;
      }
      this.#lookups.delete(ino);
      if (!this.#opens.has(ino)) this.#versions.delete(ino);
    }
  }

  /** The attributes of `inode`. */
  async getattr(inode: fuse.Inode): Promise<fuse.EntryAttributes> {
    return attributes(await this.#read((q) => load(q, inode)), this.#timeout);
  }

  /** statx(2): the attributes and the birth time (libfuse 3.18+). */
  async statx(inode: fuse.Inode): Promise<fuse.StatxAttributes> {
    const node = await this.#read((q) => load(q, inode));
    return new fuse.StatxAttributes(attributes(node, this.#timeout), { btimeNs: node.btimeNs });
  }

  /** chmod, chown, truncate and utimens. */
  async setattr(
    inode: fuse.Inode,
    attr: fuse.EntryAttributes,
    fields: fuse.SetattrFields,
    _fh: fuse.FileHandle | null,
    ctx: fuse.RequestContext,
  ): Promise<fuse.EntryAttributes> {
    if (fields.updateAtime) this.#clock.observe(attr.stAtimeNs);
    if (fields.updateMtime) this.#clock.observe(attr.stMtimeNs);
    const node = await this.#change(async (tx, changes) => {
      const node = await lockInode(tx, inode);
      checkSetattr(node.mode, attr, fields, MAX_FILE_SIZE);
      if (fields.updateSize) {
        await blocks.truncate(tx, node, attr.stSize);
        node.version++;
        changes.wrote(node.ino);
      }
      applySetattr(node, attr, fields, ctx, this.#clock.now(), clampNs);
      await save(tx, node);
      changes.attr(node.ino);
      return node;
    });
    this.#saw(node);
    return attributes(node, this.#timeout);
  }

  /** Whether `ctx` may access `inode` with `mode`; only asked without `default_permissions`. */
  async access(inode: fuse.Inode, mode: number, ctx: fuse.RequestContext): Promise<boolean> {
    return mayAccess(await this.#read((q) => load(q, inode)), mode, ctx);
  }

  /**
   * Usage in 4 KiB units: the database's size as used, and a nominal 1 TiB
   * of capacity (PostgreSQL does not tell its clients how full its disk is).
   */
  async statfs(): Promise<fuse.StatvfsData> {
    const [row] = await this.#read((q) =>
      q`SELECT pg_database_size(current_database()) AS bytes,
               (SELECT count(*) FROM pgfs.inodes) AS files`
    );
    const used = Math.ceil(Number(row.bytes) / STATFS_BLOCK);
    const total = Math.max(CAPACITY_BLOCKS, used);
    const free = total - used;
    return new fuse.StatvfsData({
      fBsize: STATFS_BLOCK,
      fFrsize: STATFS_BLOCK,
      fBlocks: total,
      fBfree: free,
      fBavail: free,
      fFiles: Number(row.files) + free,
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
  ): Promise<fuse.EntryAttributes> {
    const type = mknodType(mode);
    const device = type === S_IFCHR || type === S_IFBLK;
    return this.#make(parentInode, name, type | (mode & PERMISSION_BITS), ctx, {
      rdev: device ? rdev : 0,
    });
  }

  /** Creates a directory (mkdir(2) honours the permission and sticky bits only). */
  mkdir(
    parentInode: fuse.Inode,
    name: Uint8Array,
    mode: number,
    ctx: fuse.RequestContext,
  ): Promise<fuse.EntryAttributes> {
    return this.#make(parentInode, name, S_IFDIR | (mode & 0o1777), ctx);
  }

  /** Creates a symbolic link. */
  symlink(
    parentInode: fuse.Inode,
    name: Uint8Array,
    target: Uint8Array,
    ctx: fuse.RequestContext,
  ): Promise<fuse.EntryAttributes> {
    return this.#make(parentInode, name, S_IFLNK | 0o777, ctx, { target });
  }

  /** Creates and opens a regular file (in one transaction). */
  async create(
    parentInode: fuse.Inode,
    name: Uint8Array,
    mode: number,
    flags: number,
    ctx: fuse.RequestContext,
  ): Promise<[fuse.FileInfo, fuse.EntryAttributes]> {
    checkName(name);
    const node = await this.#change(async (tx, changes) => {
      const t = { tx, changes, now: this.#clock.now() };
      const node = await names.makeEntry(
        t,
        parentInode,
        name,
        S_IFREG | (mode & PERMISSION_BITS),
        ctx,
      );
      await this.#holdIfFirst(tx, node.ino);
      return node;
    });
    this.#counted(node);
    return [this.#openFile(node, flags, ctx, true), attributes(node, this.#timeout)];
  }

  /** Adds the hard link `newName` to `inode`. */
  async link(
    inode: fuse.Inode,
    newParentInode: fuse.Inode,
    newName: Uint8Array,
  ): Promise<fuse.EntryAttributes> {
    checkName(newName);
    const node = await this.#change((tx, changes) =>
      names.link({ tx, changes, now: this.#clock.now() }, inode, newParentInode, newName)
    );
    this.#counted(node);
    return attributes(node, this.#timeout);
  }

  /** Removes a non-directory name. */
  async unlink(parentInode: fuse.Inode, name: Uint8Array, ctx: fuse.RequestContext): Promise<void> {
    checkName(name);
    await this.#change((tx, changes) =>
      names.unlink({ tx, changes, now: this.#clock.now() }, parentInode, name, ctx)
    );
  }

  /** Removes an empty directory. */
  async rmdir(parentInode: fuse.Inode, name: Uint8Array, ctx: fuse.RequestContext): Promise<void> {
    checkName(name);
    await this.#change((tx, changes) =>
      names.rmdir({ tx, changes, now: this.#clock.now() }, parentInode, name, ctx)
    );
  }

  /** renameat2(2), with RENAME_NOREPLACE and RENAME_EXCHANGE. */
  async rename(
    parentInodeOld: fuse.Inode,
    nameOld: Uint8Array,
    parentInodeNew: fuse.Inode,
    nameNew: Uint8Array,
    flags: number,
    ctx: fuse.RequestContext,
  ): Promise<void> {
    checkRenameFlags(flags);
    checkName(nameOld);
    checkName(nameNew);
    await this.#change((tx, changes) =>
      names.rename(
        { tx, changes, now: this.#clock.now() },
        parentInodeOld,
        nameOld,
        parentInodeNew,
        nameNew,
        flags,
        ctx,
      )
    );
  }

  /** The target of a symbolic link. */
  async readlink(inode: fuse.Inode): Promise<Uint8Array> {
    const node = await this.#read((q) => load(q, inode));
    if (!node.target) throw new fuse.FUSEError(fuse.errno.EINVAL);
    return node.target;
  }

  // ---- file I/O ----

  /**
   * Opens a regular file (O_TRUNC truncates here: libfuse negotiates atomic
   * O_TRUNC). The kernel keeps its cached pages only if no mount changed
   * the data since this mount last saw it.
   */
  async open(inode: fuse.Inode, flags: number, ctx: fuse.RequestContext): Promise<fuse.FileInfo> {
    const seen = this.#versions.get(inode);
    const node = await this.#change(async (tx, changes) => {
      const node = await lockInode(tx, inode);
      if (node.isDir) throw new fuse.FUSEError(fuse.errno.EISDIR);
      if (!node.isRegular) throw new fuse.FUSEError(fuse.errno.EINVAL);
      if (flags & O_TRUNC) {
        await blocks.truncate(tx, node, 0);
        node.mtimeNs = node.ctimeNs = this.#clock.now();
        if (ctx.killSuidgid ?? ctx.uid !== 0) node.mode = killPriv(node, ctx);
        node.version++;
        await save(tx, node);
        changes.wrote(node.ino);
      }
      await this.#holdIfFirst(tx, node.ino);
      return node;
    });
    const keepCache = seen === node.version && !(flags & O_TRUNC);
    return this.#openFile(node, flags, ctx, keepCache);
  }

  /** Reads from an open file; holes read as zeros. */
  async read(fh: fuse.FileHandle, off: number, size: number): Promise<Uint8Array> {
    const { ino } = this.#file(fh);
    const got = await this.#read((q) => blocks.readRange(q, ino, off, size));
    if (!got) throw new fuse.FUSEError(fuse.errno.ESTALE);
    if (relatimeDue(got.times, this.#clock.now())) this.#touchAtime(ino);
    return got.data;
  }

  /** Writes to an open file; only the blocks the write touches are rewritten. */
  async write(
    fh: fuse.FileHandle,
    off: number,
    buf: Uint8Array,
    ctx: fuse.RequestContext,
  ): Promise<number> {
    const file = this.#file(fh);
    if ((file.flags & O_ACCMODE) === O_RDONLY) throw new fuse.FUSEError(fuse.errno.EBADF);
    if (buf.length === 0) return 0;
    if (off + buf.length > MAX_FILE_SIZE) throw new fuse.FUSEError(fuse.errno.EFBIG);
    const node = await this.#change(async (tx, changes) => {
      const node = await lockInode(tx, file.ino);
      await blocks.writeRange(tx, node, off, buf);
      node.mtimeNs = node.ctimeNs = this.#clock.now();
      // The opener stands in for the writer, as in sqlitefs.ts.
      if (ctx.killSuidgid ?? file.opener.uid !== 0) node.mode = killPriv(node, file.opener);
      node.version++;
      await save(tx, node);
      changes.wrote(node.ino);
      return node;
    });
    this.#saw(node);
    return buf.length;
  }

  /** Every write was committed before it was answered: only the handle is checked. */
  fsync(fh: fuse.FileHandle, _datasync: boolean): void {
    this.#file(fh);
  }

  /** Closes an open file; this mount's hold ends with its last handle. */
  async release(fh: fuse.FileHandle): Promise<void> {
    const file = this.#files.get(fh);
    if (!file) throw new fuse.FUSEError(fuse.errno.EBADF);
    this.#files.delete(fh);
    const left = (this.#opens.get(file.ino) ?? 1) - 1;
    if (left > 0) {
      this.#opens.set(file.ino, left);
      return;
    }
    this.#opens.delete(file.ino);
    if (!this.#lookups.has(file.ino)) this.#versions.delete(file.ino);
    // If the database is unreachable now, the hold goes when this mount is reaped or closed.
    await this.#change((tx) => unhold(tx, this.mountId, file.ino));
  }

  // ---- directories ----

  /** Opens a directory for listing. */
  async opendir(inode: fuse.Inode): Promise<fuse.FileHandle> {
    const node = await this.#read((q) => load(q, inode));
    if (!node.isDir) throw new fuse.FUSEError(fuse.errno.ENOTDIR);
    const fh = this.#nextFh++;
    this.#dirs.set(fh, inode);
    return fh;
  }

  /** Lists entries after cookie `startId`: ".", "..", then entries in creation order. */
  async readdir(fh: fuse.FileHandle, startId: number, token: fuse.ReaddirToken): Promise<void> {
    const ino = this.#dirs.get(fh);
    if (ino === undefined) throw new fuse.FUSEError(fuse.errno.EBADF);
    const dir = await this.#read((q) => load(q, ino).catch(() => undefined));
    if (!dir || dir.nlink === 0) return;
    // The kernel takes no lookup reference for "." and "..".
    if (startId < 1 && !fuse.readdirReply(token, DOT, attributes(dir, 0), 1)) return;
    if (startId < 2) {
      const parent = await this.#read((q) => load(q, dir.parent));
      if (!fuse.readdirReply(token, DOTDOT, attributes(parent, 0), 2)) return;
    }
    for (let after = Math.max(startId, 2);;) {
      const rows = await this.#read((q) => listEntries(q, ino, after, READDIR_CHUNK));
      for (const { cookie, name, node } of rows) {
        const attr = token.plus
          ? attributes(node, this.#timeout)
          : new fuse.EntryAttributes({ stIno: node.ino, stMode: node.mode });
        if (!fuse.readdirReply(token, name, attr, cookie)) return;
        if (token.plus) this.#counted(node);
      }
      if (rows.length < READDIR_CHUNK) return;
      after = rows[rows.length - 1].cookie;
    }
  }

  /** Every change was committed before it was answered: only the handle is checked. */
  fsyncdir(fh: fuse.FileHandle, _datasync: boolean): void {
    if (!this.#dirs.has(fh)) throw new fuse.FUSEError(fuse.errno.EBADF);
  }

  /** Closes a directory handle. */
  releasedir(fh: fuse.FileHandle): void {
    if (!this.#dirs.delete(fh)) throw new fuse.FUSEError(fuse.errno.EBADF);
  }

  // ---- extended attributes ----

  /** Sets an extended attribute, honouring XATTR_CREATE and XATTR_REPLACE. */
  async setxattr(
    inode: fuse.Inode,
    name: Uint8Array,
    value: Uint8Array,
    _ctx: fuse.RequestContext,
    flags: number,
  ): Promise<void> {
    checkXattrName(name);
    if (value.length > XATTR_SIZE_MAX) throw new fuse.FUSEError(fuse.errno.E2BIG);
    await this.#change(async (tx, changes) => {
      const node = await lockInode(tx, inode);
      const exists = (await xattrs.get(tx, inode, name)) !== undefined;
      if ((flags & XATTR_CREATE) && exists) throw new fuse.FUSEError(fuse.errno.EEXIST);
      if ((flags & XATTR_REPLACE) && !exists) throw NO_SUCH_ATTRIBUTE;
      await xattrs.set(tx, inode, name, value);
      await this.#statusChanged(tx, changes, node);
    });
  }

  /** The value of an extended attribute. */
  async getxattr(inode: fuse.Inode, name: Uint8Array): Promise<Uint8Array> {
    checkXattrName(name);
    const value = await this.#read((q) => xattrs.get(q, inode, name));
    if (value === undefined) throw NO_SUCH_ATTRIBUTE;
    return value;
  }

  /** The names of the extended attributes; trusted.* only for root. */
  async listxattr(inode: fuse.Inode, ctx: fuse.RequestContext): Promise<Uint8Array[]> {
    return visibleXattrs(await this.#read((q) => xattrs.list(q, inode)), ctx);
  }

  /** Removes an extended attribute. */
  async removexattr(inode: fuse.Inode, name: Uint8Array): Promise<void> {
    checkXattrName(name);
    await this.#change(async (tx, changes) => {
      const node = await lockInode(tx, inode);
      if (!(await xattrs.remove(tx, inode, name))) throw NO_SUCH_ATTRIBUTE;
      await this.#statusChanged(tx, changes, node);
    });
  }

  // ---- locks, holes, preallocation (beyond pyfuse3) ----

  /** F_GETLK: the first conflicting lock of another owner, on any mount. */
  getlk(
    inode: fuse.Inode,
    _fh: fuse.FileHandle,
    owner: bigint,
    lock: fuse.FileLock,
  ): Promise<fuse.FileLock> {
    return this.#read((q) => this.#locks.test(q, inode, owner, lock));
  }

  /** F_SETLK / F_SETLKW, across mounts; a waiting lock gives way when the caller is interrupted. */
  setlk(
    inode: fuse.Inode,
    _fh: fuse.FileHandle,
    owner: bigint,
    lock: fuse.FileLock,
    wait: boolean,
    ctx: fuse.RequestContext,
  ): Promise<void> {
    return this.#locks.set(inode, owner, lock, wait, ctx.signal);
  }

  /** flock(2), across mounts; the kernel sends LOCK_UN for the open file on its last close. */
  flock(
    inode: fuse.Inode,
    _fh: fuse.FileHandle,
    owner: bigint,
    op: number,
    ctx: fuse.RequestContext,
  ): Promise<void> {
    return this.#locks.flock(inode, owner, op, ctx.signal);
  }

  /** fallocate(2): extending the size (no reservation), punching holes, zeroing ranges. */
  async fallocate(
    fh: fuse.FileHandle,
    mode: number,
    offset: number,
    length: number,
  ): Promise<void> {
    const file = this.#file(fh);
    if ((file.flags & O_ACCMODE) === O_RDONLY) throw new fuse.FUSEError(fuse.errno.EBADF);
    const node = await this.#change(async (tx, changes) => {
      const node = await lockInode(tx, file.ino);
      const plan = fallocatePlan(mode, offset, length, node.size, MAX_FILE_SIZE);
      if (!plan) return node;
      if (plan.clear) await blocks.punch(tx, node, offset, length);
      if (plan.growTo !== undefined) node.size = plan.growTo;
      node.mtimeNs = node.ctimeNs = this.#clock.now();
      // No kill flag comes with fallocate: the rule of old decides.
      if (file.opener.uid !== 0) node.mode = killPriv(node, file.opener);
      node.version++;
      await save(tx, node);
      changes.wrote(node.ino);
      return node;
    });
    this.#saw(node);
  }

  /** SEEK_DATA / SEEK_HOLE, at block granularity. */
  async lseek(fh: fuse.FileHandle, offset: number, whence: number): Promise<number> {
    const { ino } = this.#file(fh);
    if (whence !== SEEK_DATA && whence !== SEEK_HOLE) throw new fuse.FUSEError(fuse.errno.EINVAL);
    const at = await this.#read(async (q) => {
      const node = await load(q, ino);
      return whence === SEEK_DATA
        ? await blocks.seekData(q, node, offset)
        : await blocks.seekHole(q, node, offset);
    });
    if (at < 0) throw new fuse.FUSEError(fuse.errno.ENXIO);
    return at;
  }

  // ---- internals ----

  /**
   * Runs one request's changes as a transaction that ends by announcing
   * them; a transaction that lost a race with another mount runs again.
   */
  async #change<T>(fn: (tx: Sql, changes: ChangeSet) => Promise<T>): Promise<T> {
    for (let attempt = 1;; attempt++) {
      let committing = false;
      try {
        return await this.#pool.begin(async (tx) => {
          const changes = new ChangeSet();
          const result = await fn(tx, changes);
          if (!changes.empty) {
            for (const payload of changes.payloads(this.mountId)) {
              await tx`SELECT pg_notify(${CHANNEL}, ${payload})`;
            }
          }
          committing = true;
          return result;
        }) as T;
      } catch (error) {
        // Once COMMIT is on its way, a lost connection leaves the outcome unknown: EIO.
        const stale = !committing && isStaleConnection(error);
        if ((isRetryable(error) || stale) && attempt < RETRIES) {
          if (stale) await staleRetryPause(attempt);
          continue;
        }
        throw toFuseError(error, this.#target, this.#log);
      }
    }
  }

  /** Runs reads outside a transaction, with the errors mapped as for {@link #change}. */
  async #read<T>(fn: (q: Sql) => Promise<T>): Promise<T> {
    for (let attempt = 1;; attempt++) {
      try {
        return await fn(this.#pool);
      } catch (error) {
        if (isStaleConnection(error) && attempt < RETRIES) {
          await staleRetryPause(attempt);
          continue;
        }
        throw toFuseError(error, this.#target, this.#log);
      }
    }
  }

  #file(fh: number): OpenFile {
    const file = this.#files.get(fh);
    if (!file) throw new fuse.FUSEError(fuse.errno.EBADF);
    return file;
  }

  #openFile(
    node: PgInode,
    flags: number,
    ctx: fuse.RequestContext,
    keepCache: boolean,
  ): fuse.FileInfo {
    const fh = this.#nextFh++;
    this.#files.set(fh, { ino: node.ino, flags, opener: { uid: ctx.uid, gid: ctx.gid } });
    this.#opens.set(node.ino, (this.#opens.get(node.ino) ?? 0) + 1);
    this.#saw(node);
    return new fuse.FileInfo({ fh, keepCache });
  }

  /** Within an open's transaction: this mount's first handle of `ino` records the hold. */
  async #holdIfFirst(tx: Sql, ino: number): Promise<void> {
    if (!this.#opens.has(ino)) await hold(tx, this.mountId, ino);
  }

  /** The data version this mount has seen (its own change, or what it opened). */
  #saw(node: PgInode): void {
    if (this.#opens.has(node.ino) || this.#lookups.has(node.ino)) {
      this.#versions.set(node.ino, node.version);
    }
  }

  /** A new entry: the lookup reference the kernel takes for it. */
  #counted(node: PgInode): void {
    this.#lookups.set(node.ino, (this.#lookups.get(node.ino) ?? 0) + 1);
  }

  async #make(
    parentInode: fuse.Inode,
    name: Uint8Array,
    mode: number,
    ctx: fuse.RequestContext,
    extra: names.NewInodeExtra = {},
  ): Promise<fuse.EntryAttributes> {
    checkName(name);
    const node = await this.#change((tx, changes) =>
      names.makeEntry({ tx, changes, now: this.#clock.now() }, parentInode, name, mode, ctx, extra)
    );
    this.#counted(node);
    return attributes(node, this.#timeout);
  }

  /** An xattr changed: the inode's ctime. */
  async #statusChanged(tx: Sql, changes: ChangeSet, node: PgInode): Promise<void> {
    node.ctimeNs = this.#clock.now();
    await save(tx, node);
    changes.attr(node.ino);
  }

  /**
   * relatime, written when due (rarely), after the read has been answered;
   * this mount's kernel is told too (a read's reply carries no attributes).
   */
  #touchAtime(ino: number): void {
    const now = this.#clock.now();
    this.#change(async (tx, changes) => {
      await tx`UPDATE pgfs.inodes SET atime = ${now} WHERE ino = ${ino}`;
      changes.attr(ino);
    }).then(
      () => this.#cache.refreshOwn(ino),
      () => {/* a lost atime update is harmless */},
    );
  }

  /**
   * Reconnected: a fresh pool (connections of the old one may be dead or,
   * through postgres.js's null-socket bug, stuck; their queries are
   * rejected and run again on the new one), the holds again (a reaper may
   * have removed them), caches resynced, lock waiters woken.
   */
  async #resumed(): Promise<void> {
    const old = this.#pool;
    this.#pool = this.#newPool();
    old.end({ timeout: 0 }).catch(() => {});
    for (const ino of this.#opens.keys()) {
      await this.#change((tx) => hold(tx, this.mountId, ino)).catch(() => {
        // Gone meanwhile: its handles read ESTALE.
      });
    }
    this.#cache.resync(this.#lookups.keys());
    this.#locks.wakeAll();
    this.#log("reconnected to the database");
  }

  async #reap(): Promise<void> {
    try {
      for (const ino of await reapDeadMounts(this.#pool, this.mountId)) this.#locks.wake(ino);
    } catch {
      // The database is unreachable: the next round tries again.
    }
  }
}

/**
 * The notifications of the filesystem mounted by `init()`, for
 * {@link PgFs.attach} (`mount()`'s MountHandle is one itself).
 */
export const moduleNotifications: fuse.Notifications = {
  invalidateInode: fuse.invalidateInode,
  invalidateEntry: fuse.invalidateEntry,
  invalidateEntryAsync: fuse.invalidateEntryAsync,
  notifyStore: fuse.notifyStore,
  notifyDelete: fuse.notifyDelete,
  notifyRetrieve: fuse.notifyRetrieve,
  incrementEpoch: fuse.incrementEpoch,
};

function redacted(error: Error, target: PgTarget): string {
  const pw = target.password;
  return pw ? error.message.split(pw).join("********") : error.message;
}

/** `-o` options of pgfs itself; the rest go to FUSE. */
function splitOptions(options: string[]): { fs: PgFsOptions; mount: string[] } {
  const fs: PgFsOptions = {};
  const mount: string[] = [];
  for (const option of options) {
    const [key, value] = option.split("=", 2);
    if (key === "timeout" || key === "deadline") {
      const seconds = Number(value);
      if (!(seconds >= 0) || (key === "deadline" && seconds === 0)) {
        throw new Error(`-o ${key}= needs a number of seconds${key === "deadline" ? " > 0" : ""}`);
      }
      if (key === "timeout") fs.timeoutSec = seconds;
      else fs.deadlineMs = seconds * 1000;
    } else {
      mount.push(option);
    }
  }
  return { fs, mount };
}

if (import.meta.main) {
  await runFromCommandLine({
    name: "pgfs",
    positional: ["POSTGRES_URL", "MOUNTPOINT"],
    create: async ([url], options) => {
      const split = splitOptions(options);
      const fs = await PgFs.open(url, split.fs);
      return {
        ops: fs,
        options: {
          options: [...fuse.defaultOptions, "fsname=pgfs", "subtype=pgfs", ...split.mount],
          deadlineMs: split.fs.deadlineMs ?? 10_000,
        },
        mounted: () => fs.attach(moduleNotifications),
        cleanup: () => fs.close(),
      };
    },
  });
}

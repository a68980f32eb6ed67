/**
 * {@link pathOperations}: a {@link PathOperations} filesystem as the inode
 * API's `Operations`, so that `mount`, `init`/`main`, `testMount` and
 * `mountInWorker` serve it unchanged.
 *
 * Per request the layer finds the node (one `Map` lookup), takes its cached
 * path and calls the handler; reads and writes find the node and the
 * handler's handle by array index. Namespace changes (lookup, create,
 * unlink, rename, link, forget) update the node table once the handler has
 * succeeded, against the nodes the request named, not the paths: a lookup
 * whose parent is renamed while the handler runs is recorded under the
 * parent's new name. A path call that fails with ENOENT while a rename is
 * in flight, or after the path changed under it, is retried on the new path
 * (at most three times).
 *
 * @module
 */

import {
  type BytesLike,
  EntryAttributes,
  errno,
  type FileHandle,
  FileInfo,
  type FileLock,
  FUSEError,
  type Inode,
  type MaybePromise,
  nameKey,
  type Operations,
  type ReaddirToken,
  type RequestContext,
  type SetattrFields,
  type StatvfsData,
} from "../mod.ts";
import { HandleTable, type Slot } from "./handles.ts";
import { type ListingEnv, serveListing } from "./listing.ts";
import { NodeTable, type PathNode } from "./node_table.ts";
import type { OpenResult, PathOperations } from "./operations.ts";
import { decodeName, type Path, type PathName } from "./path.ts";
import { bindHandlers, hideUnbacked, need } from "./handlers.ts";
import { PathCalls } from "./path_calls.ts";
import { isNoEntry, settle } from "./settle.ts";
import { handlerIno, type PathStat, toEntryAttributes, toStatvfs } from "./stat.ts";

const NO_ENTRY = new FUSEError(errno.ENOENT);
const BAD_HANDLE = new FUSEError(errno.EBADF);

function keyOf(name: PathName): string {
  return typeof name === "string" ? name : "\0" + nameKey(name);
}

/**
 * The inode-API filesystem that serves a {@link PathOperations}. Made by
 * {@link pathOperations}; its `table` and `handles` are there for tests and
 * diagnostics.
 */
export class PathFilesystem implements Operations {
  /** Plain READDIR when the kernel needs no attributes (`ls`, `find`, `rm -r`). */
  readonly enableReaddirplusAuto = true;
  /** "." and ".." are answered from the node table. */
  readonly supportsDotLookup = true;
  /** From {@link PathOperations.enableWritebackCache}. */
  readonly enableWritebackCache: boolean;
  /** From {@link PathOperations.enableAcl}. */
  readonly enableAcl: boolean;
  /** From {@link PathOperations.handleKillpriv}. */
  readonly handleKillpriv: boolean;
  /** From {@link PathOperations.handleKillprivV2}. */
  readonly handleKillprivV2: boolean;
  /** From {@link PathOperations.enableKernelPassthrough}. */
  readonly enableKernelPassthrough: boolean;
  /** Which inode number the kernel knows each name by. */
  readonly table: NodeTable;
  /** The open files and directories. */
  readonly handles: HandleTable = new HandleTable();
  readonly #ops: PathOperations;
  readonly #entryTimeout: number;
  readonly #attrTimeout: number;
  readonly #negativeTimeout: number;
  readonly #calls: PathCalls;
  readonly #listing: ListingEnv;

  /**
   * Wraps a path filesystem.
   *
   * @param ops the path filesystem
   */
  constructor(ops: PathOperations) {
    this.#ops = bindHandlers(ops);
    this.table = new NodeTable(ops.useIno ?? false);
    this.#entryTimeout = ops.entryTimeout ?? 1;
    this.#attrTimeout = ops.attrTimeout ?? 1;
    this.#negativeTimeout = ops.negativeTimeout ?? 0;
    this.enableWritebackCache = ops.enableWritebackCache ?? false;
    this.enableAcl = ops.enableAcl ?? false;
    this.handleKillpriv = ops.handleKillpriv ?? false;
    this.handleKillprivV2 = ops.handleKillprivV2 ?? false;
    this.enableKernelPassthrough = ops.enableKernelPassthrough ?? false;
    hideUnbacked(this, ops);
    this.#calls = new PathCalls(this.table);
    this.#listing = {
      table: this.table,
      useIno: ops.useIno ?? false,
      entryTimeout: this.#entryTimeout,
      attrTimeout: this.#attrTimeout,
      list: (path, fh, ctx) => need(this.#ops.readdir)(path, fh, ctx),
      stat: (path, ctx) => need(this.#ops.getattr)(path, undefined, ctx),
    };
  }

  /** Calls the path filesystem's `init`. */
  init(): void {
    this.#ops.init?.();
  }

  /** Calls the path filesystem's `destroy`. */
  destroy(): void {
    this.#ops.destroy?.();
  }

  // ---- names ----

  /** Looks a name up: getattr of its path, then the node is recorded. */
  lookup(parentInode: Inode, name: Uint8Array, ctx: RequestContext): MaybePromise<EntryAttributes> {
    const parent = this.#node(parentInode);
    if (name.length <= 2 && name[0] === 0x2e && (name.length === 1 || name[1] === 0x2e)) {
      const node = name.length === 1 ? parent : this.table.parentOf(parent);
      return settle(this.#stat(node, undefined, ctx), (stat) => {
        node.lookups++;
        return this.#attrs(node, stat);
      });
    }
    const n = decodeName(name);
    if (!this.table.rootKnown) {
      return settle(this.#stat(this.table.root, undefined, ctx), (stat) => {
        this.#attrs(this.table.root, stat);
        return this.#lookup(parent, n, ctx);
      });
    }
    return this.#lookup(parent, n, ctx);
  }

  /** Gives back the kernel's lookups; nodes nothing holds are dropped. */
  forget(inodeList: Array<[Inode, number]>): void {
    for (const [ino, count] of inodeList) this.table.forget(ino, count);
  }

  /** getattr of the node's path, with the open file's handle when the kernel names one. */
  getattr(
    inode: Inode,
    ctx: RequestContext,
    fh?: FileHandle | null,
  ): MaybePromise<EntryAttributes> {
    const node = this.#node(inode);
    const slot = fh === null || fh === undefined ? undefined : this.handles.get(fh);
    return settle(this.#stat(node, slot, ctx), (stat) => this.#attrs(node, stat));
  }

  /** truncate, chown, chmod, utimens (those asked for, in that order), then getattr. */
  setattr(
    inode: Inode,
    attr: EntryAttributes,
    fields: SetattrFields,
    fh: FileHandle | null,
    ctx: RequestContext,
  ): MaybePromise<EntryAttributes> {
    const node = this.#node(inode);
    const slot = (fh === null ? undefined : this.handles.get(fh)) ?? this.#orphanSlot(node);
    const ufh = slot?.fh;
    const ops = this.#ops;
    const steps: ((p: Path | null) => MaybePromise<void>)[] = [];
    if (fields.updateSize) steps.push((p) => need(ops.truncate)(p, attr.stSize, ufh, ctx));
    if (fields.updateUid || fields.updateGid) {
      const uid = fields.updateUid ? attr.stUid : -1, gid = fields.updateGid ? attr.stGid : -1;
      steps.push((p) => need(ops.chown)(p, uid, gid, ufh, ctx));
    }
    if (fields.updateMode) steps.push((p) => need(ops.chmod)(p, attr.stMode, ufh, ctx));
    if (fields.updateAtime || fields.updateMtime) {
      const a = fields.updateAtime ? attr.stAtimeNs : null;
      const m = fields.updateMtime ? attr.stMtimeNs : null;
      steps.push((p) => need(ops.utimens)(p, a, m, ufh, ctx));
    }
    const run = (i: number): MaybePromise<EntryAttributes> => {
      if (i === steps.length) {
        return settle(this.#stat(node, slot, ctx), (s) => this.#attrs(node, s));
      }
      return settle(this.#onFile(node, steps[i]), () => run(i + 1));
    };
    return run(0);
  }

  /** The target of a symlink. */
  readlink(inode: Inode, ctx: RequestContext): MaybePromise<BytesLike> {
    const readlink = need(this.#ops.readlink);
    return this.#calls.call(this.#node(inode), undefined, (p) => readlink(p, ctx));
  }

  /** mknod of the path. */
  mknod(
    parentInode: Inode,
    name: Uint8Array,
    mode: number,
    rdev: number,
    ctx: RequestContext,
  ): MaybePromise<EntryAttributes> {
    const mknod = need(this.#ops.mknod);
    return this.#make(parentInode, name, ctx, (p) => mknod(p, mode, rdev, ctx));
  }

  /** mkdir of the path. */
  mkdir(
    parentInode: Inode,
    name: Uint8Array,
    mode: number,
    ctx: RequestContext,
  ): MaybePromise<EntryAttributes> {
    const mkdir = need(this.#ops.mkdir);
    return this.#make(parentInode, name, ctx, (p) => mkdir(p, mode, ctx));
  }

  /** symlink at the path. */
  symlink(
    parentInode: Inode,
    name: Uint8Array,
    target: Uint8Array,
    ctx: RequestContext,
  ): MaybePromise<EntryAttributes> {
    const symlink = need(this.#ops.symlink);
    const t = decodeName(target);
    return this.#make(parentInode, name, ctx, (p) => symlink(t, p, ctx));
  }

  /** unlink of the path; the node loses that name (and lives on while open). */
  unlink(parentInode: Inode, name: Uint8Array, ctx: RequestContext): MaybePromise<void> {
    const unlink = need(this.#ops.unlink);
    const parent = this.#node(parentInode), n = decodeName(name);
    return settle(
      this.#calls.call(parent, n, (p) => unlink(p, ctx)),
      () => this.table.remove(parent, keyOf(n)),
    );
  }

  /** rmdir of the path. */
  rmdir(parentInode: Inode, name: Uint8Array, ctx: RequestContext): MaybePromise<void> {
    const rmdir = need(this.#ops.rmdir);
    const parent = this.#node(parentInode), n = decodeName(name);
    return settle(
      this.#calls.call(parent, n, (p) => rmdir(p, ctx)),
      () => this.table.remove(parent, keyOf(n)),
    );
  }

  /** rename of the paths; the node table moves the subtree once the handler succeeded. */
  rename(
    parentInodeOld: Inode,
    nameOld: Uint8Array,
    parentInodeNew: Inode,
    nameNew: Uint8Array,
    flags: number,
    ctx: RequestContext,
  ): MaybePromise<void> {
    const rename = need(this.#ops.rename);
    const from = this.#node(parentInodeOld), to = this.#node(parentInodeNew);
    const a = decodeName(nameOld), b = decodeName(nameNew);
    const done = () => this.table.rename(from, keyOf(a), to, keyOf(b), a, b, flags);
    const r = this.#calls.call2(from, a, to, b, (pa, pb) => rename(pa, pb, flags, ctx));
    if (!(r instanceof Promise)) return done();
    return this.#calls.track(r.then(done));
  }

  /** link of the node's path to the new path; both names are then the same node. */
  link(
    inode: Inode,
    newParentInode: Inode,
    newName: Uint8Array,
    ctx: RequestContext,
  ): MaybePromise<EntryAttributes> {
    const link = need(this.#ops.link);
    const node = this.#node(inode), dir = this.#node(newParentInode), n = decodeName(newName);
    return settle(
      this.#calls.call2(node, undefined, dir, n, (pa, pb) => link(pa, pb, ctx)),
      (stat) =>
        settle(stat ? stat : this.#stat(dir, undefined, ctx, n), (s) => {
          this.table.addLink(node, dir, keyOf(n), n);
          return toEntryAttributes(s, node.ino, this.#entryTimeout, this.#attrTimeout);
        }),
    );
  }

  // ---- files ----

  /** open of the path; the kernel gets a slot of the layer's handle table. */
  open(inode: Inode, flags: number, ctx: RequestContext): MaybePromise<FileInfo> {
    const node = this.#node(inode);
    const open = this.#ops.open;
    if (open === undefined) return this.#opened(node, undefined);
    return settle(
      this.#calls.call(node, undefined, (p) => open(p, flags, ctx)),
      (r) => this.#opened(node, r),
    );
  }

  /** create of the path, then (unless it answered attributes) getattr with the new handle. */
  create(
    parentInode: Inode,
    name: Uint8Array,
    mode: number,
    flags: number,
    ctx: RequestContext,
  ): MaybePromise<[FileInfo, EntryAttributes]> {
    const create = need(this.#ops.create);
    const parent = this.#node(parentInode), n = decodeName(name);
    return settle(this.#calls.call(parent, n, (p) => create(p, mode, flags, ctx)), (r) => {
      const [res, stat] = Array.isArray(r) ? r : [r, undefined];
      const finish = (s: PathStat): [FileInfo, EntryAttributes] => {
        const node = this.table.attach(parent, keyOf(n), n, handlerIno(s));
        return [this.#opened(node, res), this.#attrs(node, s)];
      };
      if (stat !== undefined) return finish(stat);
      const ufh = res instanceof FileInfo ? res.fh : res ?? 0;
      // Without attributes the create fails: give the handler its handle back.
      const undo = (e: unknown): never => {
        try {
          const released = this.#ops.release?.(null, ufh, ctx);
          if (released instanceof Promise) released.catch(() => {});
        } catch { /* the create's own error is the one to answer */ }
        throw e;
      };
      let stated: MaybePromise<[FileInfo, EntryAttributes]>;
      try {
        stated = settle(
          this.#calls.call(parent, n, (p) => need(this.#ops.getattr)(p, ufh, ctx)),
          finish,
        );
      } catch (e) {
        return undo(e);
      }
      return stated instanceof Promise ? stated.catch(undo) : stated;
    });
  }

  /** read with the handler's handle and the file's current path. */
  read(fh: FileHandle, off: number, size: number, ctx: RequestContext): MaybePromise<Uint8Array> {
    const slot = this.handles.get(fh);
    if (slot === undefined) throw BAD_HANDLE;
    return this.#ops.read!(this.table.path(slot.node), slot.fh, size, off, ctx);
  }

  /** write with the handler's handle and the file's current path. */
  write(fh: FileHandle, off: number, buf: Uint8Array, ctx: RequestContext): MaybePromise<number> {
    const slot = this.handles.get(fh);
    if (slot === undefined) throw BAD_HANDLE;
    return this.#ops.write!(this.table.path(slot.node), slot.fh, buf, off, ctx);
  }

  /** flush (each close). */
  flush(fh: FileHandle, ctx: RequestContext): MaybePromise<void> {
    const slot = this.#slot(fh);
    return this.#ops.flush!(this.table.path(slot.node), slot.fh, ctx);
  }

  /** fsync. */
  fsync(fh: FileHandle, datasync: boolean, ctx: RequestContext): MaybePromise<void> {
    const slot = this.#slot(fh);
    return this.#ops.fsync!(this.table.path(slot.node), slot.fh, datasync, ctx);
  }

  /** release; the slot is freed whatever the handler answers. */
  release(fh: FileHandle, ctx: RequestContext): MaybePromise<void> {
    return this.#close(fh, this.#ops.release, ctx);
  }

  // ---- directories ----

  /** opendir of the path (the handler's opendir is optional). */
  opendir(inode: Inode, ctx: RequestContext): MaybePromise<FileHandle> {
    const node = this.#node(inode);
    const opendir = this.#ops.opendir;
    const opened = (ufh: FileHandle | void) => {
      this.table.opened(node);
      return this.handles.add(node, ufh ?? 0, true);
    };
    if (opendir === undefined) return opened(0);
    return settle(this.#calls.call(node, undefined, (p) => opendir(p, ctx)), opened);
  }

  /** Serves the listing (see paths/listing.ts). */
  readdir(
    fh: FileHandle,
    startId: number,
    token: ReaddirToken,
    ctx: RequestContext,
  ): MaybePromise<void> {
    return serveListing(this.#listing, this.#slot(fh), startId, token, ctx);
  }

  /** releasedir; the slot is freed whatever the handler answers. */
  releasedir(fh: FileHandle, ctx: RequestContext): MaybePromise<void> {
    return this.#close(fh, this.#ops.releasedir, ctx);
  }

  /** fsyncdir. */
  fsyncdir(fh: FileHandle, datasync: boolean, ctx: RequestContext): MaybePromise<void> {
    const slot = this.#slot(fh);
    return this.#ops.fsyncdir!(this.table.path(slot.node), slot.fh, datasync, ctx);
  }

  // ---- the rest ----

  /** statfs of "/". */
  statfs(ctx: RequestContext): MaybePromise<StatvfsData> {
    return settle(this.#ops.statfs!("/", ctx), toStatvfs);
  }

  /** access of the path; anything but `false` grants. */
  access(inode: Inode, mode: number, ctx: RequestContext): MaybePromise<boolean> {
    const access = this.#ops.access!;
    return settle(
      this.#calls.call(this.#node(inode), undefined, (p) => access(p, mode, ctx)),
      (r) => r !== false,
    );
  }

  /** setxattr of the path. */
  setxattr(
    inode: Inode,
    name: Uint8Array,
    value: Uint8Array,
    ctx: RequestContext,
    flags: number,
  ): MaybePromise<void> {
    const setxattr = this.#ops.setxattr!;
    return this.#calls.call(
      this.#node(inode),
      undefined,
      (p) => setxattr(p, name, value, flags, ctx),
    );
  }

  /** getxattr of the path. */
  getxattr(inode: Inode, name: Uint8Array, ctx: RequestContext): MaybePromise<BytesLike> {
    const getxattr = this.#ops.getxattr!;
    return this.#calls.call(this.#node(inode), undefined, (p) => getxattr(p, name, ctx));
  }

  /** listxattr of the path. */
  listxattr(inode: Inode, ctx: RequestContext): MaybePromise<BytesLike[]> {
    const listxattr = this.#ops.listxattr!;
    return this.#calls.call(this.#node(inode), undefined, (p) => listxattr(p, ctx));
  }

  /** removexattr of the path. */
  removexattr(inode: Inode, name: Uint8Array, ctx: RequestContext): MaybePromise<void> {
    const removexattr = this.#ops.removexattr!;
    return this.#calls.call(this.#node(inode), undefined, (p) => removexattr(p, name, ctx));
  }

  /** F_GETLK on the open file. */
  getlk(
    inode: Inode,
    fh: FileHandle,
    owner: bigint,
    lock: FileLock,
    ctx: RequestContext,
  ): MaybePromise<FileLock> {
    const slot = this.#slot(fh);
    return this.#ops.getlk!(this.table.path(this.#node(inode)), slot.fh, owner, lock, ctx);
  }

  /** F_SETLK / F_SETLKW on the open file. */
  setlk(
    inode: Inode,
    fh: FileHandle,
    owner: bigint,
    lock: FileLock,
    wait: boolean,
    ctx: RequestContext,
  ): MaybePromise<void> {
    const slot = this.#slot(fh);
    return this.#ops.setlk!(this.table.path(this.#node(inode)), slot.fh, owner, lock, wait, ctx);
  }

  /** flock on the open file. */
  flock(
    inode: Inode,
    fh: FileHandle,
    owner: bigint,
    op: number,
    ctx: RequestContext,
  ): MaybePromise<void> {
    const slot = this.#slot(fh);
    return this.#ops.flock!(this.table.path(this.#node(inode)), slot.fh, owner, op, ctx);
  }

  /** fallocate on the open file. */
  fallocate(
    fh: FileHandle,
    mode: number,
    offset: number,
    length: number,
    ctx: RequestContext,
  ): MaybePromise<void> {
    const slot = this.#slot(fh);
    return this.#ops.fallocate!(this.table.path(slot.node), slot.fh, mode, offset, length, ctx);
  }

  /** SEEK_DATA / SEEK_HOLE on the open file. */
  lseek(fh: FileHandle, offset: number, whence: number, ctx: RequestContext): MaybePromise<number> {
    const slot = this.#slot(fh);
    return this.#ops.lseek!(this.table.path(slot.node), slot.fh, offset, whence, ctx);
  }

  /** copy_file_range between two open files. */
  copyFileRange(
    fhIn: FileHandle,
    offIn: number,
    fhOut: FileHandle,
    offOut: number,
    length: number,
    flags: number,
    ctx: RequestContext,
  ): MaybePromise<number> {
    const a = this.#slot(fhIn), b = this.#slot(fhOut);
    return this.#ops.copyFileRange!(
      this.table.path(a.node),
      a.fh,
      offIn,
      this.table.path(b.node),
      b.fh,
      offOut,
      length,
      flags,
      ctx,
    );
  }

  // ---- internals ----

  #node(ino: Inode): PathNode {
    const node = this.table.get(ino);
    if (node === undefined) throw NO_ENTRY;
    return node;
  }

  #slot(fh: FileHandle): Slot {
    const slot = this.handles.get(fh);
    if (slot === undefined) throw BAD_HANDLE;
    return slot;
  }

  /** An open handle of a node without a name, to answer for it. */
  #orphanSlot(node: PathNode): Slot | undefined {
    return this.table.path(node) === null ? this.handles.anyOf(node) : undefined;
  }

  #attrs(node: PathNode, stat: PathStat): EntryAttributes {
    if (node === this.table.root) this.table.setRootIno(handlerIno(stat));
    return toEntryAttributes(stat, node.ino, this.#entryTimeout, this.#attrTimeout);
  }

  /**
   * getattr of a node (or of entry `name` in it): by path, with the open
   * handle if any; a node without a name is asked by its handle alone.
   */
  #stat(
    node: PathNode,
    slot: Slot | undefined,
    ctx: RequestContext,
    name?: PathName,
  ): MaybePromise<PathStat> {
    const getattr = need(this.#ops.getattr);
    if (name === undefined && this.table.path(node) === null) {
      slot ??= this.handles.anyOf(node);
      if (slot === undefined) throw NO_ENTRY;
      return getattr(null, slot.fh, ctx);
    }
    const ufh = slot?.fh;
    return this.#calls.call(node, name, (p) => getattr(p, ufh, ctx));
  }

  #lookup(parent: PathNode, name: PathName, ctx: RequestContext): MaybePromise<EntryAttributes> {
    const found = () =>
      settle(this.#stat(parent, undefined, ctx, name), (stat) => {
        const node = this.table.attach(parent, keyOf(name), name, handlerIno(stat));
        return toEntryAttributes(stat, node.ino, this.#entryTimeout, this.#attrTimeout);
      });
    const timeout = this.#negativeTimeout;
    if (timeout <= 0) return found();
    // libfuse's negative_timeout: the kernel may remember the absence.
    const absent = (e: unknown) => {
      if (isNoEntry(e)) return EntryAttributes.negative(timeout);
      throw e;
    };
    let r: MaybePromise<EntryAttributes>;
    try {
      r = found();
    } catch (e) {
      return absent(e);
    }
    return r instanceof Promise ? r.catch(absent) : r;
  }

  /** Creates entry `name` of `parentInode` with `fn`, then records it (with one lookup). */
  #make(
    parentInode: Inode,
    name: Uint8Array,
    ctx: RequestContext,
    fn: (path: Path) => MaybePromise<PathStat | void>,
  ): MaybePromise<EntryAttributes> {
    const parent = this.#node(parentInode), n = decodeName(name);
    return settle(
      this.#calls.call(parent, n, fn),
      (stat) =>
        stat
          ? this.#recorded(parent, n, stat)
          : settle(this.#stat(parent, undefined, ctx, n), (s) => this.#recorded(parent, n, s)),
    );
  }

  #recorded(parent: PathNode, name: PathName, stat: PathStat): EntryAttributes {
    const node = this.table.attach(parent, keyOf(name), name, handlerIno(stat));
    return toEntryAttributes(stat, node.ino, this.#entryTimeout, this.#attrTimeout);
  }

  #opened(node: PathNode, r: OpenResult): FileInfo {
    let info: FileInfo, ufh: FileHandle;
    if (r instanceof FileInfo) {
      info = new FileInfo(r);
      ufh = r.fh;
    } else {
      info = new FileInfo();
      ufh = r ?? 0;
    }
    this.table.opened(node);
    info.fh = this.handles.add(node, ufh);
    return info;
  }

  #close(
    fh: FileHandle,
    handler:
      | ((path: Path | null, fh: FileHandle, ctx: RequestContext) => MaybePromise<void>)
      | undefined,
    ctx: RequestContext,
  ): MaybePromise<void> {
    const slot = this.handles.get(fh);
    if (slot === undefined) return;
    const done = () => {
      this.handles.remove(fh);
      this.table.closed(slot.node);
    };
    if (handler === undefined) return done();
    let r: MaybePromise<void>;
    try {
      r = handler(this.table.path(slot.node), slot.fh, ctx);
    } catch (e) {
      done();
      throw e;
    }
    if (r instanceof Promise) return r.finally(done);
    done();
  }

  /** `fn` on the node's path, or on null (with the node's handle in the step) once it has none. */
  #onFile<T>(node: PathNode, fn: (path: Path | null) => MaybePromise<T>): MaybePromise<T> {
    return this.table.path(node) === null ? fn(null) : this.#calls.call(node, undefined, fn);
  }
}

/**
 * Turns a path-based filesystem into the inode API's `Operations`, to be
 * served by `mount`, `init`/`main`, `testMount` or `mountInWorker`.
 *
 * @param ops the path filesystem
 * @returns the inode-API filesystem (its `table` and `handles` show the layer's state)
 * @example
 * ```ts ignore
 * import { mount, pathOperations, type PathOperations } from "../paths.ts";
 * const ops: PathOperations = { getattr: (p) => ({ mode: p === "/" ? 0o40755 : 0o100644 }) };
 * await using fs = mount(pathOperations(ops), "/mnt/x");
 * ```
 */
export function pathOperations(ops: PathOperations): PathFilesystem {
  return new PathFilesystem(ops);
}

/**
 * pyfuse3's examples/passthroughfs.py, ported line by line as a new user
 * would: names renamed, `os.*` calls taken from `@denofuse/fuse/posix`,
 * `OSError` already a `FUSEError` (so the `try/except OSError: raise
 * FUSEError(exc.errno)` blocks disappear), nothing else changed: it keeps
 * the original's writeback cache, its `FileInfo({ fh })` opens and its
 * caveats (hard-link readdir offsets, a source changed behind its back).
 * One line differs, in `open` and `create`: O_APPEND is not passed on to
 * the backing file. With the writeback cache the kernel appends itself and
 * writes pages back at their offsets; the original's O_APPEND descriptor
 * put each of them at the end of the backing file again (`printf one >f;
 * printf more >>f` left "one\none\nmore\n" in the source), which pyfuse3's
 * example does too (see `Operations.enableWritebackCache`).
 * It is a test fixture, not an example: examples/passthrough.ts is the
 * complete one.
 */

import { join } from "node:path";
import * as fuse from "../../mod.ts";
import * as os from "../../posix.ts";

const { ENOENT, EINVAL } = fuse.errno;
const decoder = new TextDecoder();
const fsdecode = (name: Uint8Array) => decoder.decode(name);

/** The port; construct with the source directory and mount like any Operations. */
export class PyPassthroughFs implements fuse.Operations {
  enableWritebackCache = true;

  readonly #inodePathMap = new Map<number, string | Set<string>>();
  readonly #lookupCnt = new Map<number, number>();
  readonly #fdInodeMap = new Map<number, number>();
  readonly #inodeFdMap = new Map<number, number>();
  readonly #fdOpenCount = new Map<number, number>();

  constructor(source: string) {
    this.#inodePathMap.set(fuse.ROOT_INODE, source);
  }

  init(): void {
    os.acquireLibc();
  }

  destroy(): void {
    for (const fd of this.#fdOpenCount.keys()) os.close(fd);
    os.releaseLibc();
  }

  #inodeToPath(inode: number): string {
    const val = this.#inodePathMap.get(inode);
    if (val === undefined) throw new fuse.FUSEError(ENOENT);
    // In case of hardlinks, pick any path
    return typeof val === "string" ? val : val.values().next().value!;
  }

  #addPath(inode: number, path: string): void {
    this.#lookupCnt.set(inode, (this.#lookupCnt.get(inode) ?? 0) + 1);
    // With hardlinks, one inode may map to multiple paths.
    const val = this.#inodePathMap.get(inode);
    if (val === undefined) {
      this.#inodePathMap.set(inode, path);
    } else if (typeof val !== "string") {
      val.add(path);
    } else if (val !== path) {
      this.#inodePathMap.set(inode, new Set([path, val]));
    }
  }

  forget(inodeList: Array<[number, number]>): void {
    for (const [inode, nlookup] of inodeList) {
      const count = this.#lookupCnt.get(inode) ?? 0;
      if (count > nlookup) {
        this.#lookupCnt.set(inode, count - nlookup);
        continue;
      }
      this.#lookupCnt.delete(inode);
      this.#inodePathMap.delete(inode);
    }
  }

  lookup(inodeP: number, nameBytes: Uint8Array): fuse.EntryAttributes {
    const name = fsdecode(nameBytes);
    const path = join(this.#inodeToPath(inodeP), name);
    const attr = this.#getattr(path);
    if (name !== "." && name !== "..") this.#addPath(attr.stIno, path);
    return attr;
  }

  getattr(inode: number): fuse.EntryAttributes {
    const fd = this.#inodeFdMap.get(inode);
    return fd !== undefined
      ? this.#getattr(undefined, fd)
      : this.#getattr(this.#inodeToPath(inode));
  }

  #getattr(path?: string, fd?: number): fuse.EntryAttributes {
    const stat = fd === undefined ? os.lstat(path!) : os.fstat(fd);
    const entry = new fuse.EntryAttributes({
      stIno: Number(stat.ino),
      stMode: stat.mode,
      stNlink: stat.nlink,
      stUid: stat.uid,
      stGid: stat.gid,
      stRdev: stat.rdev,
      stSize: stat.size,
      stAtimeNs: stat.atimeNs,
      stMtimeNs: stat.mtimeNs,
      stCtimeNs: stat.ctimeNs,
    });
    entry.generation = 0;
    entry.entryTimeout = 0;
    entry.attrTimeout = 0;
    entry.stBlksize = 512;
    entry.stBlocks = Math.ceil(entry.stSize / entry.stBlksize);
    return entry;
  }

  readlink(inode: number): Uint8Array {
    return os.readlink(this.#inodeToPath(inode));
  }

  opendir(inode: number): number {
    return inode;
  }

  readdir(inode: number, off: number, token: fuse.ReaddirToken): void {
    const path = this.#inodeToPath(inode);
    const entries: Array<[number, string, fuse.EntryAttributes]> = [];
    for (const nameBytes of os.listdir(path)) {
      const name = fsdecode(nameBytes);
      if (name === "." || name === "..") continue;
      const attr = this.#getattr(join(path, name));
      entries.push([attr.stIno, name, attr]);
    }
    // Not fully POSIX compatible, as in the original: see its comment on hardlinks.
    entries.sort((a, b) => a[0] - b[0]);
    for (const [ino, name, attr] of entries) {
      if (ino <= off) continue;
      if (!fuse.readdirReply(token, name, attr, ino)) break;
      this.#addPath(attr.stIno, join(path, name));
    }
  }

  unlink(inodeP: number, nameBytes: Uint8Array): void {
    const path = join(this.#inodeToPath(inodeP), fsdecode(nameBytes));
    const inode = Number(os.lstat(path).ino);
    os.unlink(path);
    if (this.#lookupCnt.has(inode)) this.#forgetPath(inode, path);
  }

  rmdir(inodeP: number, nameBytes: Uint8Array): void {
    const path = join(this.#inodeToPath(inodeP), fsdecode(nameBytes));
    const inode = Number(os.lstat(path).ino);
    os.rmdir(path);
    if (this.#lookupCnt.has(inode)) this.#forgetPath(inode, path);
  }

  #forgetPath(inode: number, path: string): void {
    const val = this.#inodePathMap.get(inode);
    if (val !== undefined && typeof val !== "string") {
      val.delete(path);
      if (val.size === 1) this.#inodePathMap.set(inode, val.values().next().value!);
    } else {
      this.#inodePathMap.delete(inode);
    }
  }

  symlink(
    inodeP: number,
    nameBytes: Uint8Array,
    target: Uint8Array,
    ctx: fuse.RequestContext,
  ): fuse.EntryAttributes {
    const path = join(this.#inodeToPath(inodeP), fsdecode(nameBytes));
    os.symlink(target, path);
    os.chown(path, ctx.uid, ctx.gid, { followSymlinks: false });
    const stat = os.lstat(path);
    this.#addPath(Number(stat.ino), path);
    return this.getattr(Number(stat.ino));
  }

  rename(
    inodePOld: number,
    nameOld: Uint8Array,
    inodePNew: number,
    nameNew: Uint8Array,
    flags: number,
  ): void {
    if (flags !== 0) throw new fuse.FUSEError(EINVAL);
    const pathOld = join(this.#inodeToPath(inodePOld), fsdecode(nameOld));
    const pathNew = join(this.#inodeToPath(inodePNew), fsdecode(nameNew));
    os.rename(pathOld, pathNew);
    const inode = Number(os.lstat(pathNew).ino);
    if (!this.#lookupCnt.has(inode)) return;
    const val = this.#inodePathMap.get(inode);
    if (val !== undefined && typeof val !== "string") {
      val.add(pathNew);
      val.delete(pathOld);
    } else {
      this.#inodePathMap.set(inode, pathNew);
    }
  }

  link(inode: number, newInodeP: number, newName: Uint8Array): fuse.EntryAttributes {
    const path = join(this.#inodeToPath(newInodeP), fsdecode(newName));
    os.link(this.#inodeToPath(inode), path, { followSymlinks: false });
    this.#addPath(inode, path);
    return this.getattr(inode);
  }

  setattr(
    inode: number,
    attr: fuse.EntryAttributes,
    fields: fuse.SetattrFields,
    fh: number | null,
  ): fuse.EntryAttributes {
    // The f* functions where possible, for a setattr() of an inode without a path.
    if (fh === null) {
      const path = this.#inodeToPath(inode);
      if (fields.updateSize) os.truncate(path, attr.stSize);
      if (fields.updateMode) os.chmod(path, attr.stMode & 0o7777);
      if (fields.updateUid) os.chown(path, attr.stUid, -1, { followSymlinks: false });
      if (fields.updateGid) os.chown(path, -1, attr.stGid, { followSymlinks: false });
      if (fields.updateAtime || fields.updateMtime) {
        const old = os.lstat(path);
        const atime = fields.updateAtime ? attr.stAtimeNs : old.atimeNs;
        const mtime = fields.updateMtime ? attr.stMtimeNs : old.mtimeNs;
        os.utime(path, [atime, mtime], { followSymlinks: false });
      }
    } else {
      if (fields.updateSize) os.ftruncate(fh, attr.stSize);
      if (fields.updateMode) os.fchmod(fh, attr.stMode & 0o7777);
      if (fields.updateUid) os.fchown(fh, attr.stUid, -1);
      if (fields.updateGid) os.fchown(fh, -1, attr.stGid);
      if (fields.updateAtime || fields.updateMtime) {
        const old = os.fstat(fh);
        const atime = fields.updateAtime ? attr.stAtimeNs : old.atimeNs;
        const mtime = fields.updateMtime ? attr.stMtimeNs : old.mtimeNs;
        os.futimens(fh, atime, mtime);
      }
    }
    return this.getattr(inode);
  }

  mknod(
    inodeP: number,
    name: Uint8Array,
    mode: number,
    rdev: number,
    ctx: fuse.RequestContext,
  ): fuse.EntryAttributes {
    const path = join(this.#inodeToPath(inodeP), fsdecode(name));
    os.mknod(path, mode & ~ctx.umask, rdev);
    os.chown(path, ctx.uid, ctx.gid);
    const attr = this.#getattr(path);
    this.#addPath(attr.stIno, path);
    return attr;
  }

  mkdir(
    inodeP: number,
    name: Uint8Array,
    mode: number,
    ctx: fuse.RequestContext,
  ): fuse.EntryAttributes {
    const path = join(this.#inodeToPath(inodeP), fsdecode(name));
    os.mkdir(path, mode & ~ctx.umask);
    os.chown(path, ctx.uid, ctx.gid);
    const attr = this.#getattr(path);
    this.#addPath(attr.stIno, path);
    return attr;
  }

  statfs(): fuse.StatvfsData {
    const root = this.#inodePathMap.get(fuse.ROOT_INODE) as string;
    const s = os.statvfs(root);
    return new fuse.StatvfsData({
      fBsize: s.bsize,
      fFrsize: s.frsize,
      fBlocks: s.blocks,
      fBfree: s.bfree,
      fBavail: s.bavail,
      fFiles: s.files,
      fFfree: s.ffree,
      fFavail: s.favail,
      fNamemax: s.namemax - (root.length + 1),
    });
  }

  open(inode: number, flags: number): fuse.FileInfo {
    const known = this.#inodeFdMap.get(inode);
    if (known !== undefined) {
      this.#fdOpenCount.set(known, this.#fdOpenCount.get(known)! + 1);
      return new fuse.FileInfo({ fh: known });
    }
    const fd = os.open(this.#inodeToPath(inode), flags & ~os.O.O_APPEND);
    this.#inodeFdMap.set(inode, fd);
    this.#fdInodeMap.set(fd, inode);
    this.#fdOpenCount.set(fd, 1);
    return new fuse.FileInfo({ fh: fd });
  }

  create(
    inodeP: number,
    name: Uint8Array,
    mode: number,
    flags: number,
  ): [fuse.FileInfo, fuse.EntryAttributes] {
    const path = join(this.#inodeToPath(inodeP), fsdecode(name));
    const fd = os.open(path, (flags & ~os.O.O_APPEND) | os.O.O_CREAT | os.O.O_TRUNC, mode);
    const attr = this.#getattr(undefined, fd);
    this.#addPath(attr.stIno, path);
    this.#inodeFdMap.set(attr.stIno, fd);
    this.#fdInodeMap.set(fd, attr.stIno);
    this.#fdOpenCount.set(fd, 1);
    return [new fuse.FileInfo({ fh: fd }), attr];
  }

  read(fd: number, offset: number, length: number): Uint8Array {
    os.lseek(fd, offset, os.SEEK_SET);
    return os.read(fd, length);
  }

  write(fd: number, offset: number, buf: Uint8Array): number {
    os.lseek(fd, offset, os.SEEK_SET);
    return os.write(fd, buf);
  }

  release(fd: number): void {
    const count = this.#fdOpenCount.get(fd)!;
    if (count > 1) {
      this.#fdOpenCount.set(fd, count - 1);
      return;
    }
    this.#fdOpenCount.delete(fd);
    const inode = this.#fdInodeMap.get(fd)!;
    this.#inodeFdMap.delete(inode);
    this.#fdInodeMap.delete(fd);
    os.close(fd);
  }
}

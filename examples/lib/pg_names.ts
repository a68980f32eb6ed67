/**
 * The namespace of examples/pgfs.ts: making, linking, removing and
 * renaming names, with the link counts, directory sizes and times that go
 * with them, under the POSIX rules examples/lib/posix_rules.ts states (the
 * kernel tmpfs's, as tmpfs.ts and sqlitefs.ts apply them). Each function
 * runs inside one request's transaction and notes what it changed for the
 * other mounts. Inodes are locked in inode order, after the names were
 * read and before they are trusted: a name that another mount changed in
 * between is read again.
 *
 * @module
 */

import * as fuse from "../../mod.ts";
import {
  BOGO_DIRENT_SIZE,
  checkSticky,
  newInodeMode,
  renameRules,
  S_IFDIR,
  S_IFMT,
} from "./posix_rules.ts";
import type { Sql } from "./pg_client.ts";
import type { ChangeSet } from "./pg_changes.ts";
import {
  addEntry,
  entryIno,
  hasEntries,
  insertInode,
  isWithin,
  lockInodes,
  type PgInode,
  purgeIfUnheld,
  removeEntry,
  retarget,
  save,
} from "./pg_store.ts";

/** Size of an empty directory: "." and "..", as the kernel's tmpfs counts. */
export const EMPTY_DIR_SIZE = 2 * BOGO_DIRENT_SIZE;
/** Transaction-level advisory lock serializing renames between directories (no cycles). */
const RENAME_LOCK = 0x70676672;

const NO_SUCH_ENTRY = new fuse.FUSEError(fuse.errno.ENOENT);

/** What every function here works in: the transaction, its change set, the request's time. */
export interface NameTx {
  tx: Sql;
  changes: ChangeSet;
  now: bigint;
}

/** What a new inode may carry besides its mode. */
export interface NewInodeExtra {
  rdev?: number;
  target?: Uint8Array;
}

/**
 * Makes a new inode named `name` in directory `parentIno`.
 *
 * @param t the transaction
 * @param parentIno the directory
 * @param name the name (checked against NAME_MAX by the caller)
 * @param requested type and mode asked for
 * @param ctx the caller (owner; umask; a set-group-ID parent's group)
 * @param extra device number or symlink target
 * @returns the new inode
 * @throws {fuse.FUSEError} ENOTDIR, ENOENT (removed directory), EEXIST
 */
export async function makeEntry(
  t: NameTx,
  parentIno: number,
  name: Uint8Array,
  requested: number,
  ctx: fuse.RequestContext,
  extra: NewInodeExtra = {},
): Promise<PgInode> {
  const parent = (await lockInodes(t.tx, [parentIno])).get(parentIno)!;
  if (!parent.isDir) throw new fuse.FUSEError(fuse.errno.ENOTDIR);
  if (parent.nlink === 0) throw NO_SUCH_ENTRY;
  if (await entryIno(t.tx, parent.ino, name) !== 0) throw new fuse.FUSEError(fuse.errno.EEXIST);
  const { mode, gid } = newInodeMode(parent, requested, ctx);
  const isDir = (mode & S_IFMT) === S_IFDIR;
  const target = extra.target ? extra.target.slice() : null;
  const node = await insertInode(t.tx, {
    mode,
    nlink: isDir ? 2 : 1,
    uid: ctx.uid,
    gid,
    rdev: extra.rdev ?? 0,
    size: isDir ? EMPTY_DIR_SIZE : target?.length ?? 0,
    nowNs: t.now,
    parent: isDir ? parent.ino : 0,
    target,
  });
  if (isDir) parent.nlink++;
  await named(t, parent, name, node.ino);
  return node;
}

/**
 * Adds the name `name` in `dirIno` to `ino` (not a directory).
 *
 * @param t the transaction
 * @param ino the inode
 * @param dirIno the directory
 * @param name the new name
 * @returns the inode with its new link count
 * @throws {fuse.FUSEError} EPERM for a directory, ENOENT, ENOTDIR, EEXIST
 */
export async function link(
  t: NameTx,
  ino: number,
  dirIno: number,
  name: Uint8Array,
): Promise<PgInode> {
  const nodes = await lockInodes(t.tx, [ino, dirIno]);
  const node = nodes.get(ino)!, dir = nodes.get(dirIno)!;
  if (node.isDir) throw new fuse.FUSEError(fuse.errno.EPERM);
  if (!dir.isDir) throw new fuse.FUSEError(fuse.errno.ENOTDIR);
  if (node.nlink === 0 || dir.nlink === 0) throw NO_SUCH_ENTRY;
  if (await entryIno(t.tx, dir.ino, name) !== 0) throw new fuse.FUSEError(fuse.errno.EEXIST);
  node.nlink++;
  node.ctimeNs = t.now;
  await save(t.tx, node);
  t.changes.attr(node.ino);
  await named(t, dir, name, node.ino);
  return node;
}

/**
 * Removes a non-directory name; the inode goes with its last name unless
 * a mount holds it open.
 *
 * @param t the transaction
 * @param dirIno the directory
 * @param name the name
 * @param ctx the caller (sticky directories)
 * @throws {fuse.FUSEError} ENOENT, EISDIR, EPERM
 */
export async function unlink(
  t: NameTx,
  dirIno: number,
  name: Uint8Array,
  ctx: fuse.RequestContext,
): Promise<void> {
  const { dir, node } = await lockEntry(t.tx, dirIno, name);
  if (node.isDir) throw new fuse.FUSEError(fuse.errno.EISDIR);
  checkSticky(dir, node, ctx);
  await unnamed(t, dir, name, node.nlink === 1 ? node.ino : 0);
  await dropLink(t, node);
}

/**
 * Removes an empty directory.
 *
 * @param t the transaction
 * @param dirIno the directory holding it
 * @param name its name
 * @param ctx the caller (sticky directories)
 * @throws {fuse.FUSEError} ENOENT, ENOTDIR, ENOTEMPTY, EPERM
 */
export async function rmdir(
  t: NameTx,
  dirIno: number,
  name: Uint8Array,
  ctx: fuse.RequestContext,
): Promise<void> {
  const { dir, node } = await lockEntry(t.tx, dirIno, name);
  if (!node.isDir) throw new fuse.FUSEError(fuse.errno.ENOTDIR);
  if (await hasEntries(t.tx, node.ino)) throw new fuse.FUSEError(fuse.errno.ENOTEMPTY);
  checkSticky(dir, node, ctx);
  dir.nlink--;
  await unnamed(t, dir, name, node.ino);
  await dropLink(t, node);
}

/**
 * renameat2(2): moves `oldName` to `newName`, replacing what is there if
 * allowed; RENAME_NOREPLACE and RENAME_EXCHANGE (flags checked by the caller).
 *
 * @param t the transaction
 * @param oldDirIno the source directory
 * @param oldName the source name
 * @param newDirIno the target directory
 * @param newName the target name
 * @param flags renameat2's flags
 * @param ctx the caller
 * @throws {fuse.FUSEError} as renameat2(2)
 */
export async function rename(
  t: NameTx,
  oldDirIno: number,
  oldName: Uint8Array,
  newDirIno: number,
  newName: Uint8Array,
  flags: number,
  ctx: fuse.RequestContext,
): Promise<void> {
  // Like the kernel's s_vfs_rename_mutex: checking "not below itself" and
  // moving must not interleave with another move between directories.
  if (oldDirIno !== newDirIno) await t.tx`SELECT pg_advisory_xact_lock(${RENAME_LOCK})`;
  const { nodes, srcIno, dstIno } = await lockRenamed(t.tx, oldDirIno, oldName, newDirIno, newName);
  const oldDir = nodes.get(oldDirIno)!, newDir = nodes.get(newDirIno)!;
  if (!oldDir.isDir || !newDir.isDir) throw new fuse.FUSEError(fuse.errno.ENOTDIR);
  if (newDir.nlink === 0) throw NO_SUCH_ENTRY;
  const src = nodes.get(srcIno)!, dst = dstIno ? nodes.get(dstIno) : undefined;
  const moves = oldDir !== newDir;
  const srcAbove = src.isDir && moves && await isWithin(t.tx, newDir.ino, src.ino);
  const dstAbove = !!dst?.isDir && moves && await isWithin(t.tx, oldDir.ino, dst.ino);
  const dstEmpty = !dst?.isDir || !(await hasEntries(t.tx, dst.ino));
  const sameEntry = !moves && sameBytes(oldName, newName);
  const outcome = renameRules(flags, oldDir, newDir, src, dst, {
    sameEntry,
    dstEmpty: () => dstEmpty,
    srcAboveNewDir: () => srcAbove,
    dstAboveOldDir: () => dstAbove,
  }, ctx);
  if (outcome === "noop") return;
  if (outcome === "exchange") await exchange(t, oldDir, oldName, src, newDir, newName, dst!);
  else await move(t, oldDir, oldName, src, newDir, newName, dst);
}

async function move(
  t: NameTx,
  oldDir: PgInode,
  oldName: Uint8Array,
  src: PgInode,
  newDir: PgInode,
  newName: Uint8Array,
  dst: PgInode | undefined,
): Promise<void> {
  if (dst) {
    if (dst.isDir) newDir.nlink--;
    await unnamed(t, newDir, newName);
    await dropLink(t, dst);
  }
  if (src.isDir && oldDir !== newDir) reparent(src, oldDir, newDir);
  await unnamed(t, oldDir, oldName);
  // A fresh cookie: a listing in progress may show the new name even if it
  // already showed the old one, which POSIX allows for renamed entries.
  await named(t, newDir, newName, src.ino);
  src.ctimeNs = t.now;
  await save(t.tx, src);
  t.changes.attr(src.ino);
}

async function exchange(
  t: NameTx,
  oldDir: PgInode,
  oldName: Uint8Array,
  src: PgInode,
  newDir: PgInode,
  newName: Uint8Array,
  dst: PgInode,
): Promise<void> {
  await retarget(t.tx, oldDir.ino, oldName, dst.ino);
  await retarget(t.tx, newDir.ino, newName, src.ino);
  if (oldDir !== newDir) {
    if (src.isDir) reparent(src, oldDir, newDir);
    if (dst.isDir) reparent(dst, newDir, oldDir);
  }
  for (const node of new Set([oldDir, newDir, src, dst])) {
    if (node === oldDir || node === newDir) node.mtimeNs = t.now;
    node.ctimeNs = t.now;
    await save(t.tx, node);
    t.changes.attr(node.ino);
  }
  t.changes.entry(oldDir.ino, oldName);
  t.changes.entry(newDir.ino, newName);
}

/** Moves a directory's ".." from `from` to `to` (the caller saves all three). */
function reparent(dir: PgInode, from: PgInode, to: PgInode): void {
  dir.parent = to.ino;
  from.nlink--;
  to.nlink++;
}

/** Names `ino` in `dir`, with the directory's size and times (the caller set its link count). */
async function named(t: NameTx, dir: PgInode, name: Uint8Array, ino: number): Promise<void> {
  await addEntry(t.tx, dir.ino, name, ino);
  dir.size += BOGO_DIRENT_SIZE;
  dir.mtimeNs = dir.ctimeNs = t.now;
  await save(t.tx, dir);
  t.changes.entry(dir.ino, name);
}

/**
 * Removes a name from `dir`, with the directory's size and times; `gone`
 * is the inode it named if that inode lost its last name (the other mounts'
 * kernels are told it was deleted).
 */
async function unnamed(t: NameTx, dir: PgInode, name: Uint8Array, gone = 0): Promise<void> {
  await removeEntry(t.tx, dir.ino, name);
  dir.size -= BOGO_DIRENT_SIZE;
  dir.mtimeNs = dir.ctimeNs = t.now;
  await save(t.tx, dir);
  t.changes.entry(dir.ino, name, gone);
}

/** One name fewer: a directory has none left; the inode goes if nobody holds it. */
async function dropLink(t: NameTx, node: PgInode): Promise<void> {
  node.nlink = node.isDir ? 0 : node.nlink - 1;
  node.ctimeNs = t.now;
  await save(t.tx, node);
  t.changes.attr(node.ino);
  await purgeIfUnheld(t.tx, node);
}

/** The directory and the inode `name` names in it, both locked, the name checked again after locking. */
async function lockEntry(
  tx: Sql,
  dirIno: number,
  name: Uint8Array,
): Promise<{ dir: PgInode; node: PgInode }> {
  for (;;) {
    const ino = await entryIno(tx, dirIno, name);
    if (ino === 0) {
      await lockInodes(tx, [dirIno]);
      if (await entryIno(tx, dirIno, name) === 0) throw NO_SUCH_ENTRY;
      continue;
    }
    const nodes = await lockInodes(tx, [dirIno, ino]);
    if (await entryIno(tx, dirIno, name) === ino) {
      return { dir: nodes.get(dirIno)!, node: nodes.get(ino)! };
    }
  }
}

/** Both directories and both named inodes of a rename, locked, the names checked again after locking. */
async function lockRenamed(
  tx: Sql,
  oldDirIno: number,
  oldName: Uint8Array,
  newDirIno: number,
  newName: Uint8Array,
): Promise<{ nodes: Map<number, PgInode>; srcIno: number; dstIno: number }> {
  for (;;) {
    const srcIno = await entryIno(tx, oldDirIno, oldName);
    const dstIno = await entryIno(tx, newDirIno, newName);
    const nodes = await lockInodes(tx, [oldDirIno, newDirIno, srcIno, dstIno].filter((i) => i));
    const [srcNow, dstNow] = [
      await entryIno(tx, oldDirIno, oldName),
      await entryIno(tx, newDirIno, newName),
    ];
    if (srcNow !== srcIno || dstNow !== dstIno) continue;
    if (srcIno === 0) throw NO_SUCH_ENTRY;
    return { nodes, srcIno, dstIno };
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

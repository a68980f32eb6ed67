/**
 * Rows of examples/pgfs.ts: inodes read into {@link PgInode} objects and
 * written back, directory entries, extended attributes, and the inodes a
 * mount holds open. Every function takes the client to run on (inside a
 * request's transaction, or the pool for a single read); none keeps state,
 * because other mounts change the same rows: the database is the only
 * truth, and a request sees it as of its own statements.
 *
 * @module
 */

import * as fuse from "../../mod.ts";
import type { Sql } from "./pg_client.ts";
import { BLOCK_SIZE } from "./pg_schema.ts";
import { storedAttributes, StoredInode } from "./stored_inode.ts";

const NO_SUCH_ENTRY = new fuse.FUSEError(fuse.errno.ENOENT);

/** One inode as read in this request. */
export class PgInode extends StoredInode {
  /** Counts changes of the file's data (close-to-open: compared when a mount opens it). */
  version = 0n;
}

/** The columns of an inode row, as selected by every query here. */
const COLUMNS = "ino, mode, nlink, uid, gid, rdev, size, alloc, atime, mtime, ctime, btime, " +
  "parent, target, version";

/** An inode row as the client returns it. */
type Row = Record<string, unknown>;

/**
 * An inode object from a row.
 *
 * @param row a row with {@link COLUMNS}
 * @returns the inode
 */
export function fromRow(row: Row): PgInode {
  const node = new PgInode(Number(row.ino));
  node.mode = Number(row.mode);
  node.nlink = Number(row.nlink);
  node.uid = Number(row.uid);
  node.gid = Number(row.gid);
  node.rdev = Number(row.rdev);
  node.size = Number(row.size);
  node.alloc = Number(row.alloc);
  node.atimeNs = row.atime as bigint;
  node.mtimeNs = row.mtime as bigint;
  node.ctimeNs = row.ctime as bigint;
  node.btimeNs = row.btime as bigint;
  node.parent = Number(row.parent);
  node.target = row.target ? new Uint8Array(row.target as Uint8Array) : null;
  node.version = row.version as bigint;
  return node;
}

/**
 * The attributes the kernel is told.
 *
 * @param node the inode
 * @param timeoutSec entry and attribute timeout (long: other mounts' changes are announced)
 * @returns its attributes
 */
export function attributes(node: PgInode, timeoutSec: number): fuse.EntryAttributes {
  return storedAttributes(node, BLOCK_SIZE, timeoutSec);
}

/**
 * Reads an inode.
 *
 * @param q the client
 * @param ino the inode number
 * @returns the inode
 * @throws {fuse.FUSEError} ENOENT if it is gone (removed, possibly by another mount)
 */
export async function load(q: Sql, ino: number): Promise<PgInode> {
  const rows = await q.unsafe(`SELECT ${COLUMNS} FROM pgfs.inodes WHERE ino = $1`, [ino]);
  if (rows.length === 0) throw NO_SUCH_ENTRY;
  return fromRow(rows[0]);
}

/**
 * Reads and locks inodes for the rest of the transaction, in inode order
 * (every transaction locks in the same order, so two mounts cannot
 * deadlock over them).
 *
 * @param q a transaction
 * @param inos the inodes (duplicates allowed)
 * @returns each inode by number
 * @throws {fuse.FUSEError} ENOENT if any is gone
 */
export async function lockInodes(q: Sql, inos: number[]): Promise<Map<number, PgInode>> {
  const wanted = [...new Set(inos)].sort((a, b) => a - b);
  const rows = await q.unsafe(
    `SELECT ${COLUMNS} FROM pgfs.inodes WHERE ino = ANY($1::bigint[]) ORDER BY ino FOR UPDATE`,
    [wanted],
  );
  if (rows.length !== wanted.length) throw NO_SUCH_ENTRY;
  return new Map(rows.map((row) => [Number(row.ino), fromRow(row)]));
}

/**
 * Reads and locks one inode.
 *
 * @param q a transaction
 * @param ino the inode
 * @returns it
 * @throws {fuse.FUSEError} ENOENT if it is gone
 */
export async function lockInode(q: Sql, ino: number): Promise<PgInode> {
  return (await lockInodes(q, [ino])).get(ino)!;
}

/**
 * The inode `name` in `dir` names, with its attributes, in one query.
 *
 * @param q the client
 * @param dir the directory's inode number
 * @param name the name
 * @returns the inode, or undefined when there is no such name
 */
export async function lookupEntry(
  q: Sql,
  dir: number,
  name: Uint8Array,
): Promise<PgInode | undefined> {
  const rows = await q.unsafe(
    `SELECT ${COLUMNS.split(", ").map((c) => "i." + c).join(", ")}
       FROM pgfs.dentries d JOIN pgfs.inodes i ON i.ino = d.ino
      WHERE d.parent = $1 AND d.name = $2`,
    [dir, name],
  );
  return rows.length === 0 ? undefined : fromRow(rows[0]);
}

/**
 * The inode number `name` in `dir` names.
 *
 * @param q the client
 * @param dir the directory
 * @param name the name
 * @returns the inode number, or 0 when there is no such name
 */
export async function entryIno(q: Sql, dir: number, name: Uint8Array): Promise<number> {
  const rows = await q`SELECT ino FROM pgfs.dentries WHERE parent = ${dir} AND name = ${name}`;
  return rows.length === 0 ? 0 : Number(rows[0].ino);
}

/**
 * Writes an inode's columns back.
 *
 * @param q a transaction holding its lock
 * @param node the inode
 */
export async function save(q: Sql, node: PgInode): Promise<void> {
  await q`
    UPDATE pgfs.inodes SET mode = ${node.mode}, nlink = ${node.nlink}, uid = ${node.uid},
           gid = ${node.gid}, rdev = ${node.rdev}, size = ${node.size}, alloc = ${node.alloc},
           atime = ${node.atimeNs}, mtime = ${node.mtimeNs}, ctime = ${node.ctimeNs},
           parent = ${node.parent}, version = ${node.version}
     WHERE ino = ${node.ino}`;
}

/** The columns of a new inode. */
export interface NewInode {
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  size: number;
  nowNs: bigint;
  parent: number;
  target: Uint8Array | null;
}

/**
 * Inserts an inode.
 *
 * @param q a transaction
 * @param n its columns
 * @returns the new inode
 */
export async function insertInode(q: Sql, n: NewInode): Promise<PgInode> {
  const rows = await q.unsafe(
    `INSERT INTO pgfs.inodes (mode, nlink, uid, gid, rdev, size, atime, mtime, ctime, btime,
                              parent, target)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $7, $7, $8, $9) RETURNING ${COLUMNS}`,
    [n.mode, n.nlink, n.uid, n.gid, n.rdev, n.size, n.nowNs, n.parent, n.target],
  );
  return fromRow(rows[0]);
}

/**
 * Deletes an inode without names if no mount holds it open (its data and
 * xattrs go with it).
 *
 * @param q a transaction holding the inode's lock
 * @param node the inode
 */
export async function purgeIfUnheld(q: Sql, node: PgInode): Promise<void> {
  if (node.nlink > 0) return;
  await q`
    DELETE FROM pgfs.inodes i WHERE i.ino = ${node.ino} AND i.nlink = 0
       AND NOT EXISTS (SELECT 1 FROM pgfs.holds h WHERE h.ino = i.ino)`;
}

/**
 * Names `ino` in `dir`.
 *
 * @param q a transaction
 * @param dir the directory
 * @param name the name
 * @param ino the inode
 * @throws {fuse.FUSEError} EEXIST (from the unique key) if another mount took the name meanwhile
 */
export async function addEntry(q: Sql, dir: number, name: Uint8Array, ino: number): Promise<void> {
  await q`INSERT INTO pgfs.dentries (parent, name, ino) VALUES (${dir}, ${name}, ${ino})`;
}

/**
 * Removes the name `name` from `dir`.
 *
 * @param q a transaction
 * @param dir the directory
 * @param name the name
 */
export async function removeEntry(q: Sql, dir: number, name: Uint8Array): Promise<void> {
  await q`DELETE FROM pgfs.dentries WHERE parent = ${dir} AND name = ${name}`;
}

/**
 * Points an existing name at another inode, keeping its cookie
 * (RENAME_EXCHANGE).
 *
 * @param q a transaction
 * @param dir the directory
 * @param name the name
 * @param ino the inode it names from now on
 */
export async function retarget(q: Sql, dir: number, name: Uint8Array, ino: number): Promise<void> {
  await q`UPDATE pgfs.dentries SET ino = ${ino} WHERE parent = ${dir} AND name = ${name}`;
}

/**
 * Whether a directory has entries.
 *
 * @param q the client
 * @param dir the directory
 * @returns true if any name is in it
 */
export async function hasEntries(q: Sql, dir: number): Promise<boolean> {
  const rows = await q`SELECT 1 FROM pgfs.dentries WHERE parent = ${dir} LIMIT 1`;
  return rows.length > 0;
}

/** One directory entry of a listing. */
export interface ListedEntry {
  cookie: number;
  name: Uint8Array;
  /** The inode with its attributes (READDIRPLUS) or only its number and mode. */
  node: PgInode;
}

/**
 * The entries of `dir` after cookie `after`, in creation order.
 *
 * @param q the client
 * @param dir the directory
 * @param after the last cookie already listed
 * @param limit how many at most
 * @returns the entries with their inodes
 */
export async function listEntries(
  q: Sql,
  dir: number,
  after: number,
  limit: number,
): Promise<ListedEntry[]> {
  const rows = await q.unsafe(
    `SELECT d.cookie, d.name, ${COLUMNS.split(", ").map((c) => "i." + c).join(", ")}
       FROM pgfs.dentries d JOIN pgfs.inodes i ON i.ino = d.ino
      WHERE d.parent = $1 AND d.cookie > $2 ORDER BY d.cookie LIMIT $3`,
    [dir, after, limit],
  );
  return rows.map((row) => ({
    cookie: Number(row.cookie),
    name: new Uint8Array(row.name as Uint8Array),
    node: fromRow(row),
  }));
}

/**
 * Whether directory `dir` is `ancestor` or lies below it, following ".."
 * up to the root in one query.
 *
 * @param q a transaction (holding the rename lock, so no other rename moves directories meanwhile)
 * @param dir a directory
 * @param ancestor another directory
 * @returns true if `ancestor` is on the way from `dir` to the root
 */
export async function isWithin(q: Sql, dir: number, ancestor: number): Promise<boolean> {
  const rows = await q`
    WITH RECURSIVE up(ino, depth) AS (
      SELECT ${dir}::bigint, 0
      UNION ALL
      SELECT i.parent, up.depth + 1 FROM up JOIN pgfs.inodes i ON i.ino = up.ino
       WHERE up.ino <> 1 AND up.ino <> ${ancestor} AND up.depth < 100000
    )
    SELECT EXISTS (SELECT 1 FROM up WHERE ino = ${ancestor}) AS within`;
  return rows[0].within as boolean;
}

/**
 * Marks inode `ino` open in mount `mount` (it then outlives its last name).
 *
 * @param q a transaction
 * @param mount this mount's id
 * @param ino the inode
 * @throws {fuse.FUSEError} ENOENT (foreign key) if the inode is gone
 */
export async function hold(q: Sql, mount: number, ino: number): Promise<void> {
  await q`INSERT INTO pgfs.holds (mount, ino) VALUES (${mount}, ${ino}) ON CONFLICT DO NOTHING`;
}

/**
 * Ends mount `mount`'s hold on `ino`, deleting the inode if it has no
 * names and nobody else holds it.
 *
 * @param q a transaction
 * @param mount this mount's id
 * @param ino the inode
 */
export async function unhold(q: Sql, mount: number, ino: number): Promise<void> {
  const rows = await q.unsafe(`SELECT ${COLUMNS} FROM pgfs.inodes WHERE ino = $1 FOR UPDATE`, [
    ino,
  ]);
  await q`DELETE FROM pgfs.holds WHERE mount = ${mount} AND ino = ${ino}`;
  if (rows.length > 0) await purgeIfUnheld(q, fromRow(rows[0]));
}

/**
 * Extended attributes of an inode.
 */
export const xattrs = {
  /** The value, or undefined. */
  async get(q: Sql, ino: number, name: Uint8Array): Promise<Uint8Array | undefined> {
    const rows = await q`SELECT value FROM pgfs.xattrs WHERE ino = ${ino} AND name = ${name}`;
    return rows.length === 0 ? undefined : new Uint8Array(rows[0].value as Uint8Array);
  },
  /** Every name. */
  async list(q: Sql, ino: number): Promise<Uint8Array[]> {
    const rows = await q`SELECT name FROM pgfs.xattrs WHERE ino = ${ino} ORDER BY name`;
    return rows.map((r) => new Uint8Array(r.name as Uint8Array));
  },
  /** Sets a value; returns whether the name existed before. */
  async set(q: Sql, ino: number, name: Uint8Array, value: Uint8Array): Promise<boolean> {
    const rows = await q`
      INSERT INTO pgfs.xattrs (ino, name, value) VALUES (${ino}, ${name}, ${value})
      ON CONFLICT (ino, name) DO UPDATE SET value = EXCLUDED.value
      RETURNING (xmax <> 0) AS existed`;
    return rows[0].existed as boolean;
  },
  /** Removes a name; returns whether it existed. */
  async remove(q: Sql, ino: number, name: Uint8Array): Promise<boolean> {
    const rows = await q`DELETE FROM pgfs.xattrs WHERE ino = ${ino} AND name = ${name} RETURNING 1`;
    return rows.length > 0;
  },
};

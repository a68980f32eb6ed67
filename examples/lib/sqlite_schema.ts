/**
 * The database of examples/sqlitefs.ts: its schema, and opening it so that
 * a file that is not ours, is damaged, or is in use by another mount is
 * refused with a message naming the problem and the fix, before anything
 * in it is written.
 *
 * Schema (one SQLite database, `PRAGMA application_id` 0x64665351 "dfSQ",
 * `PRAGMA user_version` 2):
 *
 * - `meta(key, value)`: the format name and the block size.
 * - `inodes(ino INTEGER PRIMARY KEY, mode, nlink, uid, gid, rdev, size,
 *   alloc, atime, mtime, ctime, parent, target, btime)`: one row per inode; the
 *   rowid is the inode number, times are nanoseconds since the epoch,
 *   `btime` the birth time (NULL: unknown, for inodes made by version 1),
 *   `alloc` the bytes of file data stored (for `st_blocks`), `parent` a
 *   directory's "..", `target` a symlink's target. Inodes without links
 *   that the kernel or an open file still holds keep their row with
 *   nlink 0 until then (a partial index finds them at mount).
 * - `dentries(parent, name, ino, cookie)`, keyed by (parent, name): names
 *   are bytes; `cookie` is the readdir offset, increasing in creation order.
 * - `blocks(ino, idx, data)`, keyed by (ino, idx): file data in blocks of
 *   {@link BLOCK_SIZE} bytes; a missing block is a hole, and a block is
 *   stored only up to its last written byte (the last block of a file is
 *   short), so a small file costs about its size.
 * - `xattrs(ino, name, value)`.
 *
 * Version 1 had no `btime`; a version 1 database is upgraded when mounted
 * (one `ALTER TABLE ... ADD COLUMN`, in the open's own transaction), and its
 * inodes keep an unknown birth time.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { DatabaseRefused, type RootAttributes } from "./database_refused.ts";

/** `PRAGMA application_id` of a sqlitefs database ("dfSQ"). */
export const APPLICATION_ID = 0x64665351;
/** `PRAGMA user_version`: the schema this code reads and writes. */
export const SCHEMA_VERSION = 2;
/** The older schema versions this code upgrades when it mounts them. */
const UPGRADABLE = [1];
/**
 * Bytes per data block. A request costs the blocks it touches: a 1 MiB
 * write is 16 rows, a small write rewrites at most one block.
 */
export const BLOCK_SIZE = 65536;
/** SQLite page size of new databases. */
const PAGE_SIZE = 4096;

const FORMAT = "denofuse-sqlitefs";
const TABLES = ["blocks", "dentries", "inodes", "meta", "xattrs"];

const SCHEMA = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE inodes (
  ino INTEGER PRIMARY KEY,
  mode INTEGER NOT NULL,
  nlink INTEGER NOT NULL,
  uid INTEGER NOT NULL,
  gid INTEGER NOT NULL,
  rdev INTEGER NOT NULL DEFAULT 0,
  size INTEGER NOT NULL DEFAULT 0,
  alloc INTEGER NOT NULL DEFAULT 0,
  atime INTEGER NOT NULL,
  mtime INTEGER NOT NULL,
  ctime INTEGER NOT NULL,
  parent INTEGER NOT NULL DEFAULT 0,
  target BLOB,
  btime INTEGER
);
CREATE INDEX inodes_unlinked ON inodes (nlink) WHERE nlink = 0;
CREATE TABLE dentries (
  parent INTEGER NOT NULL,
  name BLOB NOT NULL,
  ino INTEGER NOT NULL,
  cookie INTEGER NOT NULL,
  PRIMARY KEY (parent, name)
) WITHOUT ROWID;
CREATE UNIQUE INDEX dentries_cookie ON dentries (parent, cookie);
CREATE TABLE blocks (
  ino INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (ino, idx)
);
CREATE TABLE xattrs (
  ino INTEGER NOT NULL,
  name BLOB NOT NULL,
  value BLOB NOT NULL,
  PRIMARY KEY (ino, name)
) WITHOUT ROWID;
`;

/** SQLite result codes the refusals tell apart. */
const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;
const SQLITE_CORRUPT = 11;
const SQLITE_CANTOPEN = 14;
const SQLITE_NOTADB = 26;

export { DatabaseRefused, type RootAttributes };

/** What {@link openDatabase} returns. */
export interface OpenedDatabase {
  /** The connection, holding the database's lock until closed. */
  db: DatabaseSync;
  /** Whether the database was created (or was empty) just now. */
  created: boolean;
}

const UNCHANGED = "Nothing in it was changed.";

/**
 * Opens (or creates) a sqlitefs database for one mount. An existing file is
 * first examined through a read-only connection: its header, application
 * id, schema version and tables, and `PRAGMA quick_check` (which reads
 * every page). Only then is it opened for writing, in exclusive locking
 * mode (WAL without a -shm file), so no other process can open it until
 * this connection is closed.
 *
 * @param path the database file
 * @param root the root directory's attributes, if the database is new
 * @param nowNs the creation time for a new root
 * @returns the open connection
 * @throws {DatabaseRefused} when the file is not ours, is damaged or is in use
 */
export function openDatabase(path: string, root: RootAttributes, nowNs: bigint): OpenedDatabase {
  const fresh = isFresh(path);
  if (!fresh) examine(path);
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(path);
    // Before the first read, so that no -shm file is ever used (see examine).
    db.exec("PRAGMA locking_mode = EXCLUSIVE");
    if (fresh) db.exec(`PRAGMA page_size = ${PAGE_SIZE}`);
    const created = fresh || isEmptyDatabase(db);
    configure(db, path);
    if (created) initialize(db, root, nowNs);
    else upgrade(db);
    return { db, created };
  } catch (error) {
    db?.close();
    throw refusal(path, error);
  }
}

/** Whether `path` is missing or an empty file: a new database is made there. */
function isFresh(path: string): boolean {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return true;
    throw error;
  }
  if (!info.isFile) {
    throw new DatabaseRefused(
      `${path} is not a regular file: give the path of a sqlitefs database, or of a new file to create one.`,
    );
  }
  return info.size === 0;
}

/**
 * Checks an existing file without writing to it (see {@link openDatabase}).
 * A read-only connection cannot use exclusive locking mode on a WAL
 * database, so it makes the -wal and -shm files SQLite readers share; the
 * ones it made are removed again (nobody else can be using a WAL database
 * that had none).
 */
function examine(path: string): void {
  checkHeader(path);
  const made = ["-wal", "-shm"].filter((suffix) => !exists(path + suffix));
  let ro: DatabaseSync | undefined;
  try {
    ro = new DatabaseSync(path, { readOnly: true });
    if (isEmptyDatabase(ro)) return;
    checkIdentity(ro, path);
    const problems = ro.prepare("PRAGMA quick_check(5)").all().map((r) => String(r.quick_check));
    if (problems.length !== 1 || problems[0] !== "ok") {
      throw new DatabaseRefused(corruptMessage(path, problems.join("; ")));
    }
  } catch (error) {
    throw refusal(path, error);
  } finally {
    ro?.close();
    for (const suffix of made) {
      try {
        Deno.removeSync(path + suffix);
      } catch {
        // Not made after all.
      }
    }
  }
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

function checkHeader(path: string): void {
  const header = new Uint8Array(16);
  const file = Deno.openSync(path, { read: true });
  let n: number | null;
  try {
    n = file.readSync(header);
  } finally {
    file.close();
  }
  const magic = new TextDecoder().decode(header.subarray(0, 15));
  if (n !== 16 || magic !== "SQLite format 3" || header[15] !== 0) {
    throw new DatabaseRefused(
      `${path} is not an SQLite database (it does not start with "SQLite format 3"). sqlitefs ` +
        `keeps a filesystem in an SQLite database it creates itself: give the path of a new ` +
        `file to create one, or of an existing sqlitefs database. ${UNCHANGED}`,
    );
  }
}

/** An SQLite database with no schema at all (e.g. one whose creation was cut short). */
function isEmptyDatabase(db: DatabaseSync): boolean {
  const objects = db.prepare("SELECT count(*) AS n FROM sqlite_schema").get()!.n;
  const id = db.prepare("PRAGMA application_id").get()!.application_id;
  return objects === 0 && id === 0;
}

function checkIdentity(db: DatabaseSync, path: string): void {
  const id = Number(db.prepare("PRAGMA application_id").get()!.application_id);
  const tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
    .all().map((r) => String(r.name));
  if (id !== APPLICATION_ID) {
    const listed = tables.slice(0, 8).join(", ") + (tables.length > 8 ? ", ..." : "");
    throw new DatabaseRefused(
      `${path} is an SQLite database, but not a sqlitefs filesystem (application_id ` +
        `0x${id.toString(16)}, tables: ${listed || "none"}). sqlitefs only mounts databases it ` +
        `created: give the path of a new file to create one. ${UNCHANGED}`,
    );
  }
  const version = Number(db.prepare("PRAGMA user_version").get()!.user_version);
  if (version !== SCHEMA_VERSION && !UPGRADABLE.includes(version)) {
    throw new DatabaseRefused(
      `${path} is a sqlitefs database of schema version ${version}; this sqlitefs reads version ` +
        `${SCHEMA_VERSION}: mount it with the sqlitefs that wrote it. ${UNCHANGED}`,
    );
  }
  const missing = TABLES.filter((t) => !tables.includes(t));
  const meta = missing.length ? undefined : db.prepare(
    "SELECT (SELECT value FROM meta WHERE key = 'format') AS format, " +
      "(SELECT value FROM meta WHERE key = 'block_size') AS blockSize",
  ).get();
  if (missing.length || meta?.format !== FORMAT || Number(meta?.blockSize) !== BLOCK_SIZE) {
    throw new DatabaseRefused(corruptMessage(
      path,
      missing.length ? `missing tables: ${missing.join(", ")}` : "its meta table is not ours",
    ));
  }
}

function corruptMessage(path: string, detail: string): string {
  return `${path} is a damaged sqlitefs database (${detail}). Restore it from a backup, or ` +
    `copy out what is readable with the sqlite3 shell's .recover into a new file. ${UNCHANGED}`;
}

/** Connection settings: WAL, exclusive lock, every commit synced (see sqlitefs.ts). */
function configure(db: DatabaseSync, path: string): void {
  const mode = db.prepare("PRAGMA journal_mode = WAL").get()!.journal_mode;
  if (mode !== "wal") {
    throw new DatabaseRefused(`${path}: SQLite refused WAL mode (journal_mode ${mode}).`);
  }
  db.exec(`
    PRAGMA synchronous = FULL;
    PRAGMA temp_store = MEMORY;
    PRAGMA cache_size = -16384;
    PRAGMA wal_autocheckpoint = 4096;
  `);
}

function initialize(db: DatabaseSync, root: RootAttributes, nowNs: bigint): void {
  db.exec("BEGIN IMMEDIATE");
  try {
    db.exec(SCHEMA);
    const meta = db.prepare("INSERT INTO meta (key, value) VALUES (?, ?)");
    meta.run("format", FORMAT);
    meta.run("block_size", BLOCK_SIZE);
    // The root is its own parent, as ".." of a mount's root shows it.
    db.prepare(
      `INSERT INTO inodes (ino, mode, nlink, uid, gid, size, atime, mtime, ctime, parent, btime)
       VALUES (1, ?, 2, ?, ?, 40, ?, ?, ?, 1, ?)`,
    ).run(0o040000 | (root.mode & 0o7777), root.uid, root.gid, nowNs, nowNs, nowNs, nowNs);
    db.exec(`PRAGMA application_id = ${APPLICATION_ID}; PRAGMA user_version = ${SCHEMA_VERSION}`);
    db.exec("COMMIT");
  } catch (error) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw error;
  }
}

/** Brings a database of an older schema version (checked by examine) to this one. */
function upgrade(db: DatabaseSync): void {
  const version = Number(db.prepare("PRAGMA user_version").get()!.user_version);
  if (version === SCHEMA_VERSION) return;
  db.exec("BEGIN IMMEDIATE");
  try {
    // Version 1 -> 2: birth times, unknown (NULL) for the inodes there are.
    if (version === 1) db.exec("ALTER TABLE inodes ADD COLUMN btime INTEGER");
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    db.exec("COMMIT");
  } catch (error) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw error;
  }
}

/** Turns SQLite's errors about the file into refusals that say what to do. */
function refusal(path: string, error: unknown): Error {
  if (error instanceof DatabaseRefused) return error;
  const code = (error as { errcode?: number }).errcode;
  const text = error instanceof Error ? error.message : String(error);
  switch (code) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return new DatabaseRefused(
        `${path} is in use by another process (${text}): most likely another sqlitefs mount of ` +
          `it. Unmount that one first (fusermount3 -u MOUNTPOINT). ${UNCHANGED}`,
      );
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      return new DatabaseRefused(corruptMessage(path, text));
    case SQLITE_CANTOPEN:
      return new DatabaseRefused(
        `${path} cannot be opened (${text}): check that it and its directory are readable and ` +
          `writable (SQLite writes ${path}-wal beside it).`,
      );
    default:
      return error instanceof Error ? error : new Error(text);
  }
}

/**
 * File data of examples/sqlitefs.ts: rows of the `blocks` table, keyed by
 * (inode, block index), each at most {@link BLOCK_SIZE} bytes and stored
 * only up to its last written byte. A missing block is a hole; bytes past
 * a short block's end read as zeros. No block holds bytes at or past the
 * file's size (truncation trims), so a write past the old end of file
 * knows without asking that there is nothing to merge with.
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";
import { BLOCK_SIZE } from "./sqlite_schema.ts";

/** node:sqlite has `setReturnArrays` (rows as arrays: no object per row), but its types lack it. */
type ArrayRows = StatementSync & { setReturnArrays(enabled: boolean): void };

/** Prepares `sql` so that rows come back as arrays. */
export function arrayStatement(db: DatabaseSync, sql: string): StatementSync {
  const statement = db.prepare(sql) as ArrayRows;
  statement.setReturnArrays(true);
  return statement;
}

/** What the block store reads and updates of an inode. */
export interface FileExtent {
  readonly ino: number;
  /** The file size; writes and truncation update it. */
  size: number;
  /** Bytes stored in blocks (for `st_blocks`); every change updates it. */
  alloc: number;
}

const EMPTY = new Uint8Array(0);
const B = BLOCK_SIZE;

/** The data blocks of every file in one database. */
export class BlockStore {
  /** Bytes written into blocks since the counter was last reset (the batch size). */
  written = 0;
  readonly #get: StatementSync;
  readonly #length: StatementSync;
  readonly #range: StatementSync;
  readonly #insert: StatementSync;
  readonly #update: StatementSync;
  readonly #sumFrom: StatementSync;
  readonly #deleteRange: StatementSync;
  readonly #deleteAll: StatementSync;
  readonly #nextBlock: StatementSync;
  readonly #endOfRun: StatementSync;
  #scratch = new Uint8Array(0);

  /**
   * @param db the filesystem's connection
   */
  constructor(db: DatabaseSync) {
    this.#get = arrayStatement(db, "SELECT data FROM blocks WHERE ino = ? AND idx = ?");
    this.#length = arrayStatement(db, "SELECT length(data) FROM blocks WHERE ino = ? AND idx = ?");
    this.#range = arrayStatement(
      db,
      "SELECT idx, data FROM blocks WHERE ino = ? AND idx BETWEEN ? AND ? ORDER BY idx",
    );
    this.#insert = db.prepare("INSERT INTO blocks (ino, idx, data) VALUES (?, ?, ?)");
    // Rewriting a row in place lets SQLite overwrite a blob of the same size
    // page by page; INSERT OR REPLACE would free and reallocate its pages
    // (three times slower for the 64 KiB blocks of an overwritten file).
    this.#update = db.prepare("UPDATE blocks SET data = ? WHERE ino = ? AND idx = ?");
    this.#sumFrom = arrayStatement(
      db,
      "SELECT total(length(data)) FROM blocks WHERE ino = ? AND idx >= ? AND idx < ?",
    );
    this.#deleteRange = db.prepare("DELETE FROM blocks WHERE ino = ? AND idx >= ? AND idx < ?");
    this.#deleteAll = db.prepare("DELETE FROM blocks WHERE ino = ?");
    this.#nextBlock = arrayStatement(
      db,
      "SELECT idx FROM blocks WHERE ino = ? AND idx >= ? ORDER BY idx LIMIT 1",
    );
    // The first block at or after idx whose successor is missing: the end of a run of blocks.
    this.#endOfRun = arrayStatement(
      db,
      `SELECT b.idx FROM blocks b WHERE b.ino = ?1 AND b.idx >= ?2 AND NOT EXISTS
         (SELECT 1 FROM blocks c WHERE c.ino = ?1 AND c.idx = b.idx + 1) ORDER BY b.idx LIMIT 1`,
    );
  }

  /**
   * The bytes of `[off, off + length)` within the file's size. A range in
   * one stored block is a view of that row; anything else is assembled in a
   * reused buffer. Either way the result is valid only until the next call
   * (the read handler replies from it at once).
   */
  read(file: FileExtent, off: number, length: number): Uint8Array {
    const end = Math.min(file.size, off + length);
    if (off >= end) return EMPTY;
    const first = Math.floor(off / B), last = Math.floor((end - 1) / B);
    if (first === last) {
      const data = this.#get.get(file.ino, first) as unknown as [Uint8Array] | undefined;
      const from = off - first * B, to = end - first * B;
      if (data && data[0].length >= to) return data[0].subarray(from, to);
      const out = this.#buffer(to - from);
      out.fill(0);
      if (data && data[0].length > from) out.set(data[0].subarray(from, to));
      return out;
    }
    const out = this.#buffer(end - off);
    let pos = off;
    for (const row of this.#range.all(file.ino, first, last) as unknown as [number, Uint8Array][]) {
      const [idx, data] = row;
      const start = Math.max(off, idx * B);
      if (start > pos) out.fill(0, pos - off, start - off);
      const stop = Math.min(end, idx * B + data.length);
      if (stop > start) out.set(data.subarray(start - idx * B, stop - idx * B), start - off);
      pos = Math.max(pos, stop);
    }
    if (pos < end) out.fill(0, pos - off, end - off);
    return out;
  }

  /** Writes `buf` at `off`, growing the size if it ends past it. */
  write(file: FileExtent, off: number, buf: Uint8Array): void {
    const end = off + buf.length;
    for (let idx = Math.floor(off / B); idx * B < end; idx++) {
      const start = idx * B;
      const from = Math.max(off, start) - start, to = Math.min(end, start + B) - start;
      const piece = buf.subarray(start + from - off, start + to - off);
      // Only blocks below the old size can exist (see the module comment),
      // and none holds bytes past it: a piece from the block's start to the
      // old end of file or further replaces all there is.
      const exists = start < file.size;
      if (from === 0 && (to === B || start + to >= file.size)) {
        const old = exists ? this.#storedLength(file.ino, idx) : -1;
        this.#store(file.ino, idx, piece, old >= 0);
        file.alloc += to - Math.max(old, 0);
        continue;
      }
      const row = exists ? this.#get.get(file.ino, idx) as unknown as [Uint8Array] : undefined;
      const old = row?.[0] ?? EMPTY;
      const data = new Uint8Array(Math.max(old.length, to));
      data.set(old);
      data.set(piece, from);
      this.#store(file.ino, idx, data, row !== undefined);
      file.alloc += data.length - old.length;
    }
    this.written += buf.length;
    if (end > file.size) file.size = end;
  }

  /** Sets the size; shrinking drops the blocks past it and trims the last one. */
  truncate(file: FileExtent, size: number): void {
    if (size < file.size) {
      const keep = Math.ceil(size / B);
      this.#dropBlocks(file, keep, Infinity);
      const tail = size - (keep - 1) * B;
      if (tail > 0 && tail < B) this.#trim(file, keep - 1, tail);
    }
    file.size = size;
  }

  /** Zeroes `[off, off + length)`, freeing the blocks it covers whole. */
  punch(file: FileExtent, off: number, length: number): void {
    const end = Math.min(off + length, file.size);
    if (off >= end) return;
    const firstWhole = Math.ceil(off / B);
    // The block holding the end of file counts as whole if the range reaches it.
    const endWhole = end === file.size ? Math.ceil(end / B) : Math.floor(end / B);
    if (endWhole > firstWhole) this.#dropBlocks(file, firstWhole, endWhole);
    if (off < firstWhole * B) this.#zero(file, off, Math.min(end, firstWhole * B));
    if (endWhole >= firstWhole && end > endWhole * B) this.#zero(file, endWhole * B, end);
  }

  /** Deletes every block of an inode that is going away. */
  removeAll(ino: number): void {
    this.#deleteAll.run(ino);
  }

  /** SEEK_DATA: the first offset >= `off` in a stored block, or -1 (ENXIO). */
  seekData(file: FileExtent, off: number): number {
    if (off >= file.size) return -1;
    const idx = Math.floor(off / B);
    const row = this.#nextBlock.get(file.ino, idx) as unknown as [number] | undefined;
    if (!row) return -1;
    const at = row[0] === idx ? off : row[0] * B;
    return at < file.size ? at : -1;
  }

  /** SEEK_HOLE: the first offset >= `off` in a hole, or the size (the hole at EOF); -1 past it. */
  seekHole(file: FileExtent, off: number): number {
    if (off >= file.size) return -1;
    const idx = Math.floor(off / B);
    if (this.#storedLength(file.ino, idx) < 0) return off;
    const run = this.#endOfRun.get(file.ino, idx) as unknown as [number];
    return Math.min((run[0] + 1) * B, file.size);
  }

  /** The length of block `idx`, -1 if it is not stored. */
  #storedLength(ino: number, idx: number): number {
    const row = this.#length.get(ino, idx) as unknown as [number] | undefined;
    return row ? row[0] : -1;
  }

  #store(ino: number, idx: number, data: Uint8Array, exists: boolean): void {
    if (exists) this.#update.run(data, ino, idx);
    else this.#insert.run(ino, idx, data);
  }

  /** Deletes blocks `[first, end)`. */
  #dropBlocks(file: FileExtent, first: number, end: number): void {
    const to = Number.isFinite(end) ? end : Number.MAX_SAFE_INTEGER;
    const freed = this.#sumFrom.get(file.ino, first, to) as unknown as [number];
    if (freed[0] === 0) return;
    this.#deleteRange.run(file.ino, first, to);
    file.alloc -= freed[0];
  }

  /** Cuts block `idx` to `length` bytes. */
  #trim(file: FileExtent, idx: number, length: number): void {
    const row = this.#get.get(file.ino, idx) as unknown as [Uint8Array] | undefined;
    if (!row || row[0].length <= length) return;
    this.#update.run(row[0].subarray(0, length), file.ino, idx);
    file.alloc -= row[0].length - length;
  }

  /** Zeroes `[from, to)`, which lies within one block that is not dropped whole. */
  #zero(file: FileExtent, from: number, to: number): void {
    const idx = Math.floor(from / B);
    const row = this.#get.get(file.ino, idx) as unknown as [Uint8Array] | undefined;
    if (!row) return;
    const data = row[0], start = from - idx * B, stop = to - idx * B;
    if (start >= data.length) return;
    if (stop >= data.length) {
      if (start === 0) this.#dropBlocks(file, idx, idx + 1);
      else this.#trim(file, idx, start);
      return;
    }
    data.fill(0, start, stop);
    this.#update.run(data, file.ino, idx);
  }

  #buffer(size: number): Uint8Array {
    if (this.#scratch.length < size) this.#scratch = new Uint8Array(size);
    return this.#scratch.subarray(0, size);
  }
}

/**
 * File data of examples/pgfs.ts in {@link BLOCK_SIZE} rows: a request
 * reads or writes only the blocks it touches, so its cost follows its size.
 * Missing blocks are holes; a stored block may be shorter than the block
 * size (the rest reads as zeros). Writers hold the inode's row lock (see
 * pg_store.ts's lockInode), so read-modify-write of a block is safe.
 *
 * @module
 */

import type { Sql } from "./pg_client.ts";
import type { PgInode } from "./pg_store.ts";
import { BLOCK_SIZE } from "./pg_schema.ts";

/** The times relatime looks at. */
export interface FileTimes {
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

/**
 * Reads `[off, off + size)` of a file, clipped to its size, with the size
 * read in the same query (no transaction needed).
 *
 * @param q the client
 * @param ino the file
 * @param off offset
 * @param size bytes wanted
 * @returns the bytes and the file's times (for relatime), or undefined if the inode is gone
 */
export async function readRange(
  q: Sql,
  ino: number,
  off: number,
  size: number,
): Promise<{ data: Uint8Array; times: FileTimes } | undefined> {
  const first = Math.floor(off / BLOCK_SIZE);
  const last = Math.floor((off + Math.max(size, 1) - 1) / BLOCK_SIZE);
  const rows = await q`
    SELECT i.size, i.atime, i.mtime, i.ctime, b.idx, b.data FROM pgfs.inodes i
      LEFT JOIN pgfs.blocks b ON b.ino = i.ino AND b.idx BETWEEN ${first} AND ${last}
     WHERE i.ino = ${ino}`;
  if (rows.length === 0) return undefined;
  const [head] = rows;
  const times = {
    atimeNs: head.atime as bigint,
    mtimeNs: head.mtime as bigint,
    ctimeNs: head.ctime as bigint,
  };
  const end = Math.min(off + size, Number(head.size));
  if (end <= off) return { data: new Uint8Array(0), times };
  const out = new Uint8Array(end - off);
  for (const row of rows) {
    if (row.idx === null) continue;
    const data = row.data as Uint8Array;
    const base = Number(row.idx) * BLOCK_SIZE;
    const from = Math.max(off, base), to = Math.min(end, base + data.length);
    if (to > from) out.set(data.subarray(from - base, to - base), from - off);
  }
  return { data: out, times };
}

/**
 * Writes `buf` at `off`; grows the size and counts the bytes stored.
 *
 * @param q a transaction holding the inode's lock
 * @param node the file, updated in place (the caller saves it)
 * @param off offset
 * @param buf the bytes
 */
export async function writeRange(
  q: Sql,
  node: PgInode,
  off: number,
  buf: Uint8Array,
): Promise<void> {
  const end = off + buf.length;
  const first = Math.floor(off / BLOCK_SIZE);
  const last = Math.floor((end - 1) / BLOCK_SIZE);
  // Only the end blocks can be partly covered; their other bytes are kept.
  const partial = [first, last].filter((idx) =>
    off > idx * BLOCK_SIZE || end < (idx + 1) * BLOCK_SIZE
  );
  const old = await stored(q, node.ino, [...new Set(partial)]);
  const writes: Promise<unknown>[] = [];
  for (let idx = first; idx <= last; idx++) {
    const base = idx * BLOCK_SIZE;
    const from = Math.max(off, base), to = Math.min(end, base + BLOCK_SIZE);
    const before = old.get(idx);
    const length = Math.max(before?.length ?? 0, to - base);
    const block = new Uint8Array(length);
    if (before) block.set(before);
    block.set(buf.subarray(from - off, to - off), from - base);
    node.alloc += length - (before?.length ?? 0);
    writes.push(q`
      INSERT INTO pgfs.blocks (ino, idx, data) VALUES (${node.ino}, ${idx}, ${block})
      ON CONFLICT (ino, idx) DO UPDATE SET data = EXCLUDED.data`);
  }
  await Promise.all(writes);
  node.size = Math.max(node.size, end);
}

/**
 * Sets the size: blocks past it go, the block it ends in is cut there (so
 * that growing again reads zeros).
 *
 * @param q a transaction holding the inode's lock
 * @param node the file, updated in place (the caller saves it)
 * @param size the new size
 */
export async function truncate(q: Sql, node: PgInode, size: number): Promise<void> {
  if (size < node.size) {
    const idx = Math.floor(size / BLOCK_SIZE), keep = size - idx * BLOCK_SIZE;
    await q`DELETE FROM pgfs.blocks WHERE ino = ${node.ino} AND idx > ${idx}`;
    if (keep === 0) await q`DELETE FROM pgfs.blocks WHERE ino = ${node.ino} AND idx = ${idx}`;
    else {
      await q`
        UPDATE pgfs.blocks SET data = substring(data FROM 1 FOR ${keep})
         WHERE ino = ${node.ino} AND idx = ${idx} AND length(data) > ${keep}`;
    }
    node.alloc = await storedBytes(q, node.ino);
  }
  node.size = size;
}

/**
 * Zeros `[off, off + length)` without changing the size: whole blocks in
 * it become holes, the ends are overwritten with zeros.
 *
 * @param q a transaction holding the inode's lock
 * @param node the file, updated in place (the caller saves it)
 * @param off offset
 * @param length bytes
 */
export async function punch(q: Sql, node: PgInode, off: number, length: number): Promise<void> {
  const end = Math.min(off + length, node.size);
  if (end <= off) return;
  const firstWhole = Math.ceil(off / BLOCK_SIZE), lastWhole = Math.floor(end / BLOCK_SIZE) - 1;
  if (lastWhole >= firstWhole) {
    await q`
      DELETE FROM pgfs.blocks WHERE ino = ${node.ino} AND idx BETWEEN ${firstWhole} AND ${lastWhole}`;
  }
  const edges = [Math.floor(off / BLOCK_SIZE), Math.floor((end - 1) / BLOCK_SIZE)]
    .filter((idx) => idx < firstWhole || idx > lastWhole);
  const old = await stored(q, node.ino, [...new Set(edges)]);
  for (const [idx, data] of old) {
    const base = idx * BLOCK_SIZE;
    const from = Math.max(off, base) - base, to = Math.min(end - base, data.length);
    if (to <= from) continue;
    const block = data.slice();
    block.fill(0, from, to);
    await q`UPDATE pgfs.blocks SET data = ${block} WHERE ino = ${node.ino} AND idx = ${idx}`;
  }
  node.alloc = await storedBytes(q, node.ino);
}

/**
 * SEEK_DATA: the first offset at or after `off` in a stored block.
 *
 * @param q the client
 * @param node the file
 * @param off where to start
 * @returns the offset, or -1 if there is no data after `off` (ENXIO)
 */
export async function seekData(q: Sql, node: PgInode, off: number): Promise<number> {
  if (off >= node.size) return -1;
  const rows = await q`
    SELECT idx FROM pgfs.blocks WHERE ino = ${node.ino} AND idx >= ${Math.floor(off / BLOCK_SIZE)}
     ORDER BY idx LIMIT 1`;
  if (rows.length === 0) return -1;
  const at = Math.max(off, Number(rows[0].idx) * BLOCK_SIZE);
  return at < node.size ? at : -1;
}

/**
 * SEEK_HOLE: the first offset at or after `off` in a missing block, or the
 * size (the end of a file counts as a hole).
 *
 * @param q the client
 * @param node the file
 * @param off where to start
 * @returns the offset, or -1 if `off` is at or past the end (ENXIO)
 */
export async function seekHole(q: Sql, node: PgInode, off: number): Promise<number> {
  if (off >= node.size) return -1;
  const start = Math.floor(off / BLOCK_SIZE);
  const rows = await q`
    SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM pgfs.blocks WHERE ino = ${node.ino} AND idx = ${start})
                THEN ${start}::bigint
                ELSE (SELECT min(b.idx) + 1 FROM pgfs.blocks b
                       WHERE b.ino = ${node.ino} AND b.idx >= ${start}
                         AND NOT EXISTS (SELECT 1 FROM pgfs.blocks c
                                          WHERE c.ino = b.ino AND c.idx = b.idx + 1))
           END AS hole`;
  const hole = Number(rows[0].hole) * BLOCK_SIZE;
  return Math.min(Math.max(off, hole), node.size);
}

async function stored(q: Sql, ino: number, idxs: number[]): Promise<Map<number, Uint8Array>> {
  if (idxs.length === 0) return new Map();
  const rows = await q`
    SELECT idx, data FROM pgfs.blocks WHERE ino = ${ino} AND idx = ANY(${idxs}::bigint[])`;
  return new Map(rows.map((r) => [Number(r.idx), new Uint8Array(r.data as Uint8Array)]));
}

async function storedBytes(q: Sql, ino: number): Promise<number> {
  const rows = await q`
    SELECT coalesce(sum(length(data)), 0)::bigint AS n FROM pgfs.blocks WHERE ino = ${ino}`;
  return Number(rows[0].n);
}

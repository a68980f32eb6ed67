/**
 * Plain listings (READDIR) of examples/sqlitefs.ts's directories, kept in
 * memory from one change of a directory to the next. node:sqlite hands a
 * row's values to JavaScript one by one, and that, not SQLite, was most of
 * a listing's cost (a row of four values ~1 µs, a Uint8Array name most of
 * it): a directory listed again unchanged is served from here, as tmpfs.ts
 * serves it from its Map. The store forgets a directory's listing whenever
 * one of its entries is added, removed or retargeted, and every listing
 * when a request is undone.
 *
 * @module
 */

/** A directory entry with its inode's file type, for a plain READDIR. */
export type TypedEntry = [cookie: number, name: Uint8Array, ino: number, type: number];

/**
 * Whole listings of directories, least recently listed evicted first, at
 * most `capacity` entries over all of them.
 */
export class Listings {
  /** Listings in cookie order, by directory inode; Map order is recency. */
  readonly #dirs = new Map<number, readonly TypedEntry[]>();
  #entries = 0;
  /** Directories found larger than the capacity, until they change: listed from the database. */
  readonly #tooLarge = new Set<number>();

  /**
   * @param capacity the most entries kept over all directories; a larger
   *   directory is never kept
   */
  constructor(readonly capacity: number) {}

  /**
   * Up to `limit` entries of `dir` with cookies above `after`.
   *
   * @param dir the directory's inode
   * @param after the cookie to list after
   * @param limit how many entries at most
   * @returns the entries, or undefined when `dir` is not kept
   */
  slice(dir: number, after: number, limit: number): TypedEntry[] | undefined {
    const all = this.#dirs.get(dir);
    if (all === undefined) return undefined;
    this.#dirs.delete(dir);
    this.#dirs.set(dir, all);
    let lo = 0, hi = all.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (all[mid][0] <= after) lo = mid + 1;
      else hi = mid;
    }
    return all.slice(lo, lo + limit);
  }

  /**
   * Keeps the whole listing of `dir`, evicting the least recently listed
   * directories to make room.
   *
   * @param dir the directory's inode
   * @param entries every entry of `dir`, in cookie order
   */
  keep(dir: number, entries: readonly TypedEntry[]): void {
    this.forget(dir);
    if (entries.length > this.capacity) return this.markTooLarge(dir);
    for (const [old, listing] of this.#dirs) {
      if (this.#entries + entries.length <= this.capacity) break;
      this.#dirs.delete(old);
      this.#entries -= listing.length;
    }
    this.#dirs.set(dir, entries);
    this.#entries += entries.length;
  }

  /**
   * Drops the listing of `dir` (its entries changed).
   *
   * @param dir the directory's inode
   */
  forget(dir: number): void {
    this.#tooLarge.delete(dir);
    const listing = this.#dirs.get(dir);
    if (listing === undefined) return;
    this.#dirs.delete(dir);
    this.#entries -= listing.length;
  }

  /** Drops every listing (a request was undone: what changed is not known). */
  clear(): void {
    this.#tooLarge.clear();
    this.#dirs.clear();
    this.#entries = 0;
  }

  /**
   * Remembers that `dir` has more entries than the capacity, until it
   * changes, so that its entries are not counted again for every chunk.
   *
   * @param dir the directory's inode
   */
  markTooLarge(dir: number): void {
    this.forget(dir);
    this.#tooLarge.add(dir);
  }

  /**
   * Whether `dir` was found larger than the capacity and has not changed
   * since (so counting its entries again would find the same).
   *
   * @param dir the directory's inode
   * @returns true if it is listed from the database chunk by chunk
   */
  tooLarge(dir: number): boolean {
    return this.#tooLarge.has(dir);
  }

  /** Entries kept over all directories. */
  get size(): number {
    return this.#entries;
  }
}

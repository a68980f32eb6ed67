/**
 * File contents in pages of a {@link PageStore}, shared by the in-memory
 * examples (tmpfs.ts on the inode API, paths_memfs.ts on the path API): a
 * file costs its size rounded up to a page, as in the kernel's tmpfs, holes
 * cost nothing and read as zeros, and SEEK_DATA / SEEK_HOLE work at page
 * granularity.
 *
 * @module
 */

import { PAGE_SIZE, type PageStore } from "./page_store.ts";

const EMPTY = new Uint8Array(0);
const NO_PAGES: ReadonlyMap<number, number> = new Map();

/** The file's bytes, in pages of the filesystem's {@link PageStore}; missing pages are holes. */
export class FileData {
  size = 0;
  /** Page index within the file → page number in the store; none while empty. */
  #pages: Map<number, number> | null = null;

  constructor(readonly store: PageStore) {}

  /** The allocated pages, by page index within the file. */
  get pages(): ReadonlyMap<number, number> {
    return this.#pages ?? NO_PAGES;
  }

  /**
   * The bytes of `[off, off + length)` within the size. A range whose pages
   * lie one after the other in the store (as sequential writes leave them)
   * is a view of the store; any other is assembled in the store's scratch
   * buffer. Either way the result is only valid until the next call: the
   * read handler returns it synchronously, so it is replied from before
   * anything can change it.
   */
  read(off: number, length: number): Uint8Array {
    const end = Math.min(this.size, off + length);
    if (off >= end) return EMPTY;
    const store = this.store, pages = this.pages;
    let out: Uint8Array | undefined;
    for (let pos = off; pos < end;) {
      const index = Math.floor(pos / PAGE_SIZE);
      const first = pages.get(index);
      if (first === undefined) {
        const holeEnd = Math.min((index + 1) * PAGE_SIZE, end);
        out ??= store.scratch(end - off);
        out.fill(0, pos - off, holeEnd - off);
        pos = holeEnd;
        continue;
      }
      const lastIndex = Math.floor((end - 1) / PAGE_SIZE);
      let i = index, page = first;
      while (i < lastIndex && store.follows(page) && pages.get(i + 1) === page + 1) {
        i++;
        page++;
      }
      const runEnd = Math.min((i + 1) * PAGE_SIZE, end);
      const at = store.offset(first) + pos - index * PAGE_SIZE;
      const run = store.slab(first).subarray(at, at + runEnd - pos);
      if (pos === off && runEnd === end) return run;
      out ??= store.scratch(end - off);
      out.set(run, pos - off);
      pos = runEnd;
    }
    return out!.subarray(0, end - off);
  }

  /**
   * Writes `buf` at `off`, allocating pages as it goes; returns how many
   * bytes were written, fewer than asked (possibly 0) when the store ran
   * out of pages, as a write to the kernel's tmpfs stops at the first page
   * it cannot allocate.
   */
  write(off: number, buf: Uint8Array): number {
    const end = off + buf.length;
    const store = this.store;
    const lastIndex = Math.floor((end - 1) / PAGE_SIZE);
    let pos = off;
    while (pos < end) {
      const index = Math.floor(pos / PAGE_SIZE);
      const first = this.#page(index);
      if (first < 0) break;
      // Copy as many pages at once as lie one after the other in the store.
      let i = index, page = first;
      while (i < lastIndex && store.follows(page) && this.#page(i + 1) === page + 1) {
        i++;
        page++;
      }
      const runEnd = Math.min((i + 1) * PAGE_SIZE, end);
      store.slab(first).set(
        buf.subarray(pos - off, runEnd - off),
        store.offset(first) + pos - index * PAGE_SIZE,
      );
      pos = runEnd;
    }
    if (pos > this.size) this.size = pos;
    return pos - off;
  }

  /** Allocates the missing pages of `[off, off + length)`, all or none; false if they do not fit. */
  allocate(off: number, length: number): boolean {
    const first = Math.floor(off / PAGE_SIZE);
    const last = Math.floor((off + length - 1) / PAGE_SIZE);
    const available = this.store.available;
    // Checked before counting: a huge range must not be walked page by page.
    if (last - first + 1 - this.pages.size > available) return false;
    let missing = 0;
    for (let i = first; i <= last; i++) if (!this.pages.has(i)) missing++;
    if (missing > available) return false;
    for (let i = first; i <= last; i++) this.#page(i);
    return true;
  }

  /**
   * Zeroes `[off, off + length)`, freeing the pages it covers whole, also
   * beyond the size (fallocate with FALLOC_FL_KEEP_SIZE leaves pages there).
   */
  punch(off: number, length: number): void {
    const end = off + length;
    const firstWhole = Math.ceil(off / PAGE_SIZE);
    const endWhole = Math.floor(end / PAGE_SIZE);
    this.#zero(off, Math.min(end, firstWhole * PAGE_SIZE));
    if (endWhole >= firstWhole) this.#zero(Math.max(off, endWhole * PAGE_SIZE), end);
    this.#freeFrom(firstWhole, endWhole);
  }

  /** SEEK_DATA: the first offset >= `off` in an allocated page, or -1. */
  seekData(off: number): number {
    if (off >= this.size) return -1;
    const index = Math.floor(off / PAGE_SIZE);
    if (this.pages.has(index)) return off;
    let best = -1;
    for (const i of this.pages.keys()) if (i > index && (best < 0 || i < best)) best = i;
    return best >= 0 && best * PAGE_SIZE < this.size ? best * PAGE_SIZE : -1;
  }

  /** SEEK_HOLE: the first offset >= `off` in a hole, or the size (the implicit hole at EOF). */
  seekHole(off: number): number {
    if (off >= this.size) return -1;
    let index = Math.floor(off / PAGE_SIZE);
    while (this.pages.has(index)) index++;
    return Math.min(Math.max(index * PAGE_SIZE, off), this.size);
  }

  /**
   * Sets the size. Like the kernel's tmpfs, a truncation that does not grow
   * the file frees every page past the new size, preallocated ones too.
   */
  truncate(size: number): void {
    if (size <= this.size && this.pages.size > 0) {
      this.#freeFrom(Math.ceil(size / PAGE_SIZE), Infinity);
      // Bytes past the end must read as zeros if the file grows again.
      this.#zero(size, Math.ceil(size / PAGE_SIZE) * PAGE_SIZE);
    }
    this.size = size;
  }

  /** The page for index `index`, allocated if missing; -1 if the store is full. */
  #page(index: number): number {
    let page = this.#pages?.get(index);
    if (page === undefined) {
      page = this.store.allocate();
      if (page >= 0) (this.#pages ??= new Map()).set(index, page);
    }
    return page;
  }

  /** Zeroes `[from, to)`, which lies within one page. */
  #zero(from: number, to: number): void {
    if (from >= to) return;
    const index = Math.floor(from / PAGE_SIZE);
    const page = this.pages.get(index);
    if (page === undefined) return;
    const at = this.store.offset(page) + from - index * PAGE_SIZE;
    this.store.slab(page).fill(0, at, at + to - from);
  }

  /** Frees the pages with indices in `[first, end)`. */
  #freeFrom(first: number, end: number): void {
    const pages = this.#pages;
    if (!pages) return;
    const freed: number[] = [];
    if (end - first > pages.size) {
      for (const [index, page] of pages) {
        if (index >= first && index < end) {
          freed.push(page);
          pages.delete(index);
        }
      }
    } else {
      for (let index = first; index < end; index++) {
        const page = pages.get(index);
        if (page !== undefined) {
          freed.push(page);
          pages.delete(index);
        }
      }
    }
    if (pages.size === 0) this.#pages = null;
    this.store.free(freed);
  }
}

/**
 * File contents in pages of a {@link PageStore}, shared by the in-memory
 * examples (tmpfs.ts on the inode API, paths_memfs.ts on the path API): a
 * file costs its size rounded up to a page, as in the kernel's tmpfs, holes
 * cost nothing and read as zeros, and SEEK_DATA / SEEK_HOLE work at page
 * granularity.
 *
 * @module
 */

import { errno, FUSEError } from "../../mod.ts";
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

const FALLOC_FL_KEEP_SIZE = 0x01;
const FALLOC_FL_PUNCH_HOLE = 0x02;
const FALLOC_FL_ZERO_RANGE = 0x10;
const SEEK_DATA = 3;
const SEEK_HOLE = 4;
/** Largest file size: offsets beyond it could not be represented exactly. */
export const MAX_FILE_SIZE = Number.MAX_SAFE_INTEGER;
/** copy_file_range moves data in steps of this size. */
const COPY_STEP = 1 << 20;

/**
 * fallocate(2) on file contents, as the kernel's tmpfs does it:
 * preallocation (optionally keeping the size), punching holes and zeroing
 * ranges; collapsing and inserting ranges are not supported.
 *
 * @param data the file's contents
 * @param mode fallocate's mode
 * @param offset where the range starts
 * @param length its length
 * @returns whether the contents changed (the caller then updates mtime and ctime)
 * @throws {FUSEError} EINVAL, EFBIG, ENOSPC or EOPNOTSUPP
 */
export function fallocateData(
  data: FileData,
  mode: number,
  offset: number,
  length: number,
): boolean {
  if (length <= 0 || offset < 0) throw new FUSEError(errno.EINVAL);
  const end = offset + length;
  if (end > MAX_FILE_SIZE) throw new FUSEError(errno.EFBIG);
  const keepSize = (mode & FALLOC_FL_KEEP_SIZE) !== 0;
  switch (mode & ~FALLOC_FL_KEEP_SIZE) {
    case 0: {
      if (!data.allocate(offset, length)) throw new FUSEError(errno.ENOSPC);
      if (keepSize || end <= data.size) return false;
      data.size = end;
      return true;
    }
    case FALLOC_FL_PUNCH_HOLE:
      if (!keepSize) throw new FUSEError(errno.EOPNOTSUPP);
      data.punch(offset, length);
      return true;
    case FALLOC_FL_ZERO_RANGE:
      data.punch(offset, length);
      if (!data.allocate(offset, length)) throw new FUSEError(errno.ENOSPC);
      if (!keepSize && end > data.size) data.size = end;
      return true;
    default:
      throw new FUSEError(errno.EOPNOTSUPP);
  }
}

/**
 * lseek(2)'s SEEK_DATA and SEEK_HOLE at page granularity (as on the
 * kernel's tmpfs); the kernel handles the other `whence` values itself.
 *
 * @param data the file's contents
 * @param offset where to start looking
 * @param whence SEEK_DATA (3) or SEEK_HOLE (4)
 * @returns the offset found
 * @throws {FUSEError} EINVAL for another whence, ENXIO past the end
 */
export function seekData(data: FileData, offset: number, whence: number): number {
  if (whence !== SEEK_DATA && whence !== SEEK_HOLE) throw new FUSEError(errno.EINVAL);
  const at = whence === SEEK_DATA ? data.seekData(offset) : data.seekHole(offset);
  if (at < 0) throw new FUSEError(errno.ENXIO);
  return at;
}

/**
 * copy_file_range(2) without a round trip through the caller, in steps of
 * 1 MiB through the destination's own write (so its rules, such as set-id
 * clearing and ENOSPC, apply); a short count if the filesystem fills up
 * part way.
 *
 * @param src the source's contents
 * @param offIn where reading starts
 * @param offOut where writing starts
 * @param length bytes wanted
 * @param sameFile whether source and destination are one file
 * @param write writes `part` at `at` in the destination, returning the bytes written
 * @returns the bytes copied
 * @throws {FUSEError} what the first write throws
 */
export function copyRange(
  src: FileData,
  offIn: number,
  offOut: number,
  length: number,
  sameFile: boolean,
  write: (part: Uint8Array, at: number) => number,
): number {
  let copied = 0;
  while (copied < length) {
    let part = src.read(offIn + copied, Math.min(COPY_STEP, length - copied));
    if (part.length === 0) break;
    // A view of the file's own pages must not change under the write
    // (the kernel refuses overlapping ranges; direct callers might not).
    if (sameFile) part = part.slice();
    let written: number;
    try {
      written = write(part, offOut + copied);
    } catch (error) {
      if (copied > 0 && error instanceof FUSEError && error.errno === errno.ENOSPC) break;
      throw error;
    }
    copied += written;
    if (written < part.length) break;
  }
  return copied;
}

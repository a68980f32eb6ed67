/**
 * Page storage for the tmpfs example: file data lives in 4 KiB pages, so a
 * file costs its size rounded up to a page, as in the kernel's tmpfs.
 *
 * Pages are carved out of 64 MiB slabs instead of being one ArrayBuffer
 * each, because of how freed memory would otherwise (not) come back: V8
 * releases an ArrayBuffer only when a garbage collection finds it
 * unreachable, which may not happen for a long time once the process is
 * idle, and glibc keeps freed blocks of that size in its heap rather than
 * returning them to the kernel. A slab lives as long as the filesystem; the
 * pages freed inside it are handed back to the kernel at once with
 * madvise(MADV_DONTNEED), after which they cost nothing until written again
 * and read as zeros.
 * Slabs are larger than glibc's largest mmap threshold (32 MiB), so each is
 * a fresh anonymous mapping, and its untouched pages cost nothing either.
 *
 * @module
 */

/** Size of a page, the unit of allocation (the kernel's tmpfs on x86-64 counts in the same unit). */
export const PAGE_SIZE = 4096;
const SLAB_SHIFT = 14;
/** Pages per slab (64 MiB). */
const SLAB_PAGES = 1 << SLAB_SHIFT;
const SLAB_MASK = SLAB_PAGES - 1;
const SLAB_BYTES = SLAB_PAGES * PAGE_SIZE;
/** 32-bit words of the allocation bitmap per slab. */
const SLAB_WORDS = SLAB_PAGES / 32;
/** Reads up to this size reuse one buffer; larger ones (only possible in-process) allocate. */
const MAX_SCRATCH = 1 << 20;

const MADV_DONTNEED = 4;
const MADV_NOHUGEPAGE = 15;

/**
 * libc's madvise, loaded when the module is evaluated: a library opened
 * later, during a test, would count as a leaked resource. Without FFI
 * permission (querying first, as asking would prompt on a terminal),
 * outside glibc systems, or where the kernel's pages are larger than ours
 * (madvise would round a range up to whole kernel pages and discard the
 * neighbours' data), freed pages are zeroed instead and their memory stays
 * with the process for reuse.
 */
const libc = (() => {
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return null;
    const { symbols } = Deno.dlopen("libc.so.6", {
      madvise: { parameters: ["pointer", "usize", "i32"], result: "i32" },
      getpagesize: { parameters: [], result: "i32" },
    });
    return symbols.getpagesize() === PAGE_SIZE ? symbols : null;
  } catch {
    return null;
  }
})();

/**
 * A pool of 4 KiB pages, numbered from 0, up to a capacity. Allocated
 * pages start out zeroed. Pages that follow each other in number and lie
 * in one slab are adjacent in memory (see {@link PageStore.follows}), which
 * lets callers copy or view several pages at once.
 */
export class PageStore {
  /** Most pages that may be in use at once. */
  readonly capacity: number;
  #used = 0;
  /** Each slab's pages, from a page-aligned offset (madvise needs aligned addresses). */
  readonly #slabs: Uint8Array<ArrayBuffer>[] = [];
  readonly #slabAddresses: Deno.PointerValue[] = [];
  /** One bit per page, set while it is allocated. */
  #bitmap = new Int32Array(0);
  /**
   * The bitmap word where the last allocation was found: allocating onward
   * from it (next fit) hands out consecutive pages for consecutive writes,
   * also in space that files freed.
   */
  #cursor = 0;
  #scratch = new Uint8Array(0);

  /**
   * @param capacity the most pages in use at once
   */
  constructor(capacity: number) {
    this.capacity = capacity;
  }

  /** How many pages are allocated. */
  get used(): number {
    return this.#used;
  }

  /** How many more pages may be allocated. */
  get available(): number {
    return this.capacity - this.#used;
  }

  /** Allocates a zeroed page; -1 when the capacity is reached. */
  allocate(): number {
    if (this.#used >= this.capacity) return -1;
    if (this.#used === this.#slabs.length * SLAB_PAGES) this.#addSlab();
    const bitmap = this.#bitmap, words = bitmap.length;
    for (let i = 0, w = this.#cursor; i < words; i++, w = w + 1 === words ? 0 : w + 1) {
      const word = bitmap[w];
      if (word !== -1) {
        // The lowest clear bit, isolated.
        const bit = 31 - Math.clz32(~word & (word + 1));
        bitmap[w] = word | (1 << bit);
        this.#cursor = w;
        this.#used++;
        return w * 32 + bit;
      }
    }
    throw new Error("PageStore: no free page although the count says there is one");
  }

  /** Frees `pages` (in any order); they must be allocated, each once. */
  free(pages: ArrayLike<number>): void {
    if (pages.length === 0) return;
    const sorted = Float64Array.from(pages).sort();
    const bitmap = this.#bitmap;
    for (let i = 0; i < sorted.length;) {
      // A run of pages adjacent in memory goes back to the kernel in one call.
      const first = sorted[i];
      let last = first;
      while (++i < sorted.length && sorted[i] === last + 1 && this.follows(last)) last++;
      for (let page = first; page <= last; page++) {
        bitmap[page >>> 5] &= ~(1 << (page & 31));
      }
      this.#release(first, last - first + 1);
    }
    this.#used -= sorted.length;
  }

  /** Whether page `page + 1` is adjacent to `page` in memory (the same slab). */
  follows(page: number): boolean {
    return ((page + 1) & SLAB_MASK) !== 0;
  }

  /** The memory of the slab that holds `page`; see {@link offset}. */
  slab(page: number): Uint8Array<ArrayBuffer> {
    return this.#slabs[page >>> SLAB_SHIFT];
  }

  /** Where `page` starts in {@link slab}. */
  offset(page: number): number {
    return (page & SLAB_MASK) * PAGE_SIZE;
  }

  /**
   * A buffer of at least `length` bytes for assembling a read, reused by
   * every call: its contents are valid until the next call.
   */
  scratch(length: number): Uint8Array<ArrayBuffer> {
    if (length > MAX_SCRATCH) return new Uint8Array(length);
    if (this.#scratch.length < length) this.#scratch = new Uint8Array(MAX_SCRATCH);
    return this.#scratch;
  }

  #addSlab(): void {
    let slab: Uint8Array<ArrayBuffer>;
    let address: Deno.PointerValue = null;
    if (libc) {
      const buffer = new Uint8Array(SLAB_BYTES + PAGE_SIZE);
      const base = Deno.UnsafePointer.of(buffer);
      const skip = (PAGE_SIZE - Number(Deno.UnsafePointer.value(base) % BigInt(PAGE_SIZE))) %
        PAGE_SIZE;
      slab = buffer.subarray(skip, skip + SLAB_BYTES);
      address = Deno.UnsafePointer.offset(base!, skip);
      // Transparent huge pages (if set to "always") would make one touched
      // page cost 2 MiB of memory.
      libc.madvise(address, BigInt(SLAB_BYTES), MADV_NOHUGEPAGE);
    } else {
      slab = new Uint8Array(SLAB_BYTES);
    }
    this.#slabs.push(slab);
    this.#slabAddresses.push(address);
    const bitmap = new Int32Array(this.#bitmap.length + SLAB_WORDS);
    bitmap.set(this.#bitmap);
    this.#bitmap = bitmap;
    this.#cursor = this.#bitmap.length - SLAB_WORDS;
  }

  /** Returns `count` pages from `first` on (adjacent in memory) to the kernel, or zeroes them. */
  #release(first: number, count: number): void {
    const address = this.#slabAddresses[first >>> SLAB_SHIFT];
    const at = this.offset(first), bytes = count * PAGE_SIZE;
    if (
      address !== null &&
      libc!.madvise(Deno.UnsafePointer.offset(address, at), BigInt(bytes), MADV_DONTNEED) === 0
    ) {
      return;
    }
    this.slab(first).fill(0, at, at + bytes);
  }
}

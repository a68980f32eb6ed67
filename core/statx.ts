/**
 * The answer of a `statx` handler (libfuse 3.18's statx operation): what
 * `getattr` answers plus what only statx(2) carries, the birth time first.
 *
 * @module
 */

import type { EntryAttributes } from "./types.ts";
import { STATX_BASIC_STATS, STATX_BTIME } from "./constants.ts";

/** The members of a {@link StatxAttributes} besides `attr`. */
export interface StatxExtras {
  /** Birth (creation) time, nanoseconds since the epoch; `null`: unknown. */
  btimeNs?: bigint | null;
  /** `STATX_ATTR_*` flags that are set for the file. */
  attributes?: number;
  /** The `STATX_ATTR_*` flags this filesystem supports (set or not). */
  attributesMask?: number;
  /** The `STATX_*` fields that are valid; `null`: derived (see {@link StatxAttributes.mask}). */
  mask?: number | null;
}

/**
 * A statx result: the basic attributes (an {@link EntryAttributes}, whose
 * `attrTimeout` says how long the kernel may cache them) and the birth time,
 * attribute flags and validity mask of `struct statx`.
 *
 * What reaches the caller is the kernel's choice: Linux 6.18 passes on the
 * mask (within `STATX_BASIC_STATS | STATX_BTIME`), the basic attributes and
 * the birth time, and reports its own `stx_attributes` (none of the
 * filesystem's), `stx_attributes_mask`, mount id and device: FUSE's
 * `struct fuse_statx` has no mount id, and the kernel ignores the
 * attribute flags sent (measured with statx(2) on a 3.18 mount).
 *
 * @example
 * ```ts
 * import { EntryAttributes, StatxAttributes } from "../mod.ts";
 * const attr = new EntryAttributes({ stIno: 2, stMode: 0o100644 });
 * const sx = new StatxAttributes(attr, { btimeNs: 1_700_000_000_000_000_000n });
 * ```
 */
export class StatxAttributes {
  /** Type and mode, links, owner, size, blocks, block size, device, inode, times. */
  attr: EntryAttributes;
  /**
   * Birth time in nanoseconds since the epoch, or `null` when the
   * filesystem does not know it: `STATX_BTIME` is then left out of the
   * mask and `stat -c %W` prints 0.
   */
  btimeNs: bigint | null = null;
  /** `STATX_ATTR_*` flags set for the file (e.g. `STATX_ATTR_IMMUTABLE`). */
  attributes = 0;
  /** The `STATX_ATTR_*` flags the filesystem supports. */
  attributesMask = 0;
  /**
   * The `STATX_*` fields that are valid. `null` (the default):
   * `STATX_BASIC_STATS`, plus `STATX_BTIME` when `btimeNs` is set. The
   * kernel caches the attributes only from an answer with every basic field.
   */
  mask: number | null = null;

  /**
   * Creates the value from the basic attributes and what statx adds.
   *
   * @param attr the basic attributes
   * @param extras the birth time, attribute flags, mask
   */
  constructor(attr: EntryAttributes, extras?: StatxExtras) {
    this.attr = attr;
    if (!extras) return;
    if (extras.btimeNs !== undefined) this.btimeNs = extras.btimeNs;
    if (extras.attributes !== undefined) this.attributes = extras.attributes;
    if (extras.attributesMask !== undefined) this.attributesMask = extras.attributesMask;
    if (extras.mask !== undefined) this.mask = extras.mask;
  }

  /**
   * The mask sent: {@link mask}, or the one derived from what is set.
   *
   * @returns `STATX_*` bits
   */
  get effectiveMask(): number {
    return this.mask ?? (STATX_BASIC_STATS | (this.btimeNs === null ? 0 : STATX_BTIME));
  }
}

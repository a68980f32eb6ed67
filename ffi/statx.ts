/**
 * `struct statx` for `fuse_reply_statx` (libfuse 3.18), from a
 * {@link StatxAttributes}. libfuse copies the struct as it is into the
 * kernel's `struct fuse_statx`, which has the same layout.
 *
 * @module
 */

import {
  checkEntryAttributes,
  checkTime,
  checkTimeout,
  checkUint,
  describeValue,
  InvalidReplyError,
} from "./codec.ts";
import { LAYOUT } from "./layout.ts";
import { NS_PER_SEC, nsecOf } from "../core/time.ts";
import type { StatxAttributes } from "../core/statx.ts";
import { STATX_BASIC_STATS, STATX_BTIME } from "../core/constants.ts";

const SX = LAYOUT.statx.fields;
const U32 = 0xffff_ffff;

/**
 * glibc's `gnu_dev_major` / `gnu_dev_minor` of a `dev_t`.
 *
 * @param dev the device number (`stRdev`)
 * @returns `[major, minor]`
 */
export function splitDev(dev: number): [major: number, minor: number] {
  const d = BigInt(dev);
  const major = ((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn);
  const minor = (d & 0xffn) | ((d >> 12n) & ~0xffn);
  return [Number(major & 0xffff_ffffn), Number(minor & 0xffff_ffffn)];
}

function writeTime(view: DataView, secAt: number, nsecAt: number, ns: bigint): void {
  const nsec = nsecOf(ns);
  view.setBigInt64(secAt, (ns - nsec) / NS_PER_SEC, true);
  view.setUint32(nsecAt, Number(nsec), true);
}

/**
 * Encodes a statx answer.
 *
 * @param v the handler's value
 * @returns the `struct statx` bytes
 * @throws {InvalidReplyError} naming the first invalid member
 */
export function encodeStatx(v: StatxAttributes): Uint8Array<ArrayBuffer> {
  if (v === null || typeof v !== "object" || !("attr" in v)) {
    throw new InvalidReplyError(`expected StatxAttributes, got ${describeValue(v)}`);
  }
  const attr = v.attr;
  checkEntryAttributes(attr);
  if (attr.stIno === 0) throw new InvalidReplyError("stIno must be at least 1");
  checkTimeout(attr.attrTimeout, "attrTimeout");
  const bytes = new Uint8Array(LAYOUT.statx.size);
  const view = new DataView(bytes.buffer);
  const btime = v.btimeNs ?? null;
  const mask = checkUint(
    v.mask ?? (STATX_BASIC_STATS | (btime === null ? 0 : STATX_BTIME)),
    "mask",
    U32,
  );
  view.setUint32(SX.stx_mask.offset, mask, true);
  view.setUint32(SX.stx_blksize.offset, checkUint(attr.stBlksize, "stBlksize", U32), true);
  view.setBigUint64(
    SX.stx_attributes.offset,
    BigInt(checkUint(v.attributes, "attributes")),
    true,
  );
  view.setUint32(SX.stx_nlink.offset, checkUint(attr.stNlink, "stNlink", U32), true);
  view.setUint32(SX.stx_uid.offset, checkUint(attr.stUid, "stUid", U32), true);
  view.setUint32(SX.stx_gid.offset, checkUint(attr.stGid, "stGid", U32), true);
  view.setUint16(SX.stx_mode.offset, checkUint(attr.stMode, "stMode", 0xffff), true);
  view.setBigUint64(SX.stx_ino.offset, BigInt(checkUint(attr.stIno, "stIno")), true);
  view.setBigUint64(SX.stx_size.offset, BigInt(checkUint(attr.stSize, "stSize")), true);
  view.setBigUint64(SX.stx_blocks.offset, BigInt(checkUint(attr.stBlocks, "stBlocks")), true);
  view.setBigUint64(
    SX.stx_attributes_mask.offset,
    BigInt(checkUint(v.attributesMask, "attributesMask")),
    true,
  );
  writeTime(
    view,
    SX.stx_atime.offset,
    SX.stx_atime_nsec.offset,
    checkTime(attr.stAtimeNs, "stAtimeNs"),
  );
  writeTime(
    view,
    SX.stx_mtime.offset,
    SX.stx_mtime_nsec.offset,
    checkTime(attr.stMtimeNs, "stMtimeNs"),
  );
  writeTime(
    view,
    SX.stx_ctime.offset,
    SX.stx_ctime_nsec.offset,
    checkTime(attr.stCtimeNs, "stCtimeNs"),
  );
  if (btime !== null) {
    writeTime(view, SX.stx_btime.offset, SX.stx_btime_nsec.offset, checkTime(btime, "btimeNs"));
  }
  const [major, minor] = splitDev(checkUint(attr.stRdev, "stRdev"));
  view.setUint32(SX.stx_rdev_major.offset, major, true);
  view.setUint32(SX.stx_rdev_minor.offset, minor, true);
  return bytes;
}

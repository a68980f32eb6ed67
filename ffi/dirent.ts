/**
 * Directory entries encoded in JS straight into a readdir reply buffer, in
 * the kernel's wire format (`struct fuse_dirent` and, for READDIRPLUS,
 * `struct fuse_direntplus` from `<linux/fuse.h>`): what libfuse's
 * `fuse_add_direntry` / `fuse_add_direntry_plus` write, without an FFI
 * crossing and a `fuse_entry_param` per entry. The offsets are kernel ABI
 * (the same on every architecture); tests/dirent_test.ts checks them with
 * a compiled `offsetof` probe and compares the bytes with libfuse's own.
 *
 * @module
 */

import type { EntryAttributes } from "../core/types.ts";
import { NS_PER_SEC, nsecOf } from "../core/time.ts";
import {
  checkEntryAttributes,
  checkTime,
  checkTimeout,
  checkUint,
  InvalidReplyError,
  setU64,
  toBytes,
} from "./codec.ts";

/** `struct fuse_attr` member offsets; 88 bytes. */
export const FUSE_ATTR = {
  ino: 0,
  size: 8,
  blocks: 16,
  atime: 24,
  mtime: 32,
  ctime: 40,
  atimensec: 48,
  mtimensec: 52,
  ctimensec: 56,
  mode: 60,
  nlink: 64,
  uid: 68,
  gid: 72,
  rdev: 76,
  blksize: 80,
  flags: 84,
} as const;

/** `struct fuse_entry_out` member offsets; 128 bytes, the attr at 40. */
export const FUSE_ENTRY_OUT = {
  nodeid: 0,
  generation: 8,
  entry_valid: 16,
  attr_valid: 24,
  entry_valid_nsec: 32,
  attr_valid_nsec: 36,
  attr: 40,
  size: 128,
} as const;

/** `struct fuse_dirent` member offsets; the name starts at 24 (`FUSE_NAME_OFFSET`). */
export const FUSE_DIRENT = { ino: 0, off: 8, namelen: 16, type: 20, name: 24 } as const;

/** The longest name a directory entry may have. */
export const NAME_MAX = 255;

const U32 = 2 ** 32;

/** Entries are padded to 8 bytes (`FUSE_DIRENT_ALIGN`). */
const align8 = (n: number) => (n + 7) & ~7;

/**
 * Checks a directory entry's name.
 *
 * @param name bytes, or a string sent as UTF-8
 * @returns the bytes
 * @throws {InvalidReplyError} for an empty or too long name, or one with '/' or NUL
 */
export function direntName(name: Uint8Array | string): Uint8Array {
  const bytes = toBytes(name, "readdir name");
  if (bytes.length === 0 || bytes.length > NAME_MAX) {
    // A longer name could never be looked up (the kernel refuses it with ENAMETOOLONG).
    throw new InvalidReplyError(
      `readdir name must be 1 to ${NAME_MAX} bytes (NAME_MAX), got ${bytes.length}`,
    );
  }
  // One pass in JS: two includes() calls cost more than the loop for names this short.
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0x2f || bytes[i] === 0) {
      throw new InvalidReplyError(
        `readdir name ${JSON.stringify(new TextDecoder().decode(bytes))} contains '/' or NUL`,
      );
    }
  }
  return bytes;
}

/**
 * Writes one entry at `at` if it fits in `end - at` bytes.
 *
 * @param buf the reply buffer, still zero from `at` on (padding is not cleared)
 * @param view a DataView on it
 * @param at where the entry starts (8-aligned)
 * @param end the end of the usable buffer
 * @param name the name, checked by {@link direntName}
 * @param attr the attributes (READDIRPLUS: all of them; READDIR: ino and type)
 * @param off the offset that continues after this entry
 * @param plus READDIRPLUS (true) or plain READDIR
 * @returns the padded size; more than `end - at` means it did not fit and nothing was written
 * @throws {InvalidReplyError} naming the first invalid attribute
 */
export function encodeDirent(
  buf: Uint8Array,
  view: DataView,
  at: number,
  end: number,
  name: Uint8Array,
  attr: EntryAttributes,
  off: number,
  plus: boolean,
): number {
  checkEntryAttributes(attr);
  const head = plus ? FUSE_ENTRY_OUT.size : 0;
  const size = align8(head + FUSE_DIRENT.name + name.length);
  const ino = checkUint(attr.stIno, "stIno");
  if (ino === 0) {
    throw new InvalidReplyError("stIno must be at least 1 (0 is for negative lookups)");
  }
  const mode = checkUint(attr.stMode, "stMode", U32 - 1);
  if (size > end - at) return size;
  // No fill: the reply buffer starts zeroed and every byte is written at
  // most once, so the padding and the unused members are already 0.
  if (plus) encodeEntryOut(view, at, attr);
  const d = at + head;
  setU64(view, d + FUSE_DIRENT.ino, ino);
  setU64(view, d + FUSE_DIRENT.off, off);
  view.setUint32(d + FUSE_DIRENT.namelen, name.length, true);
  view.setUint32(d + FUSE_DIRENT.type, (mode & 0o170000) >>> 12, true);
  const n = d + FUSE_DIRENT.name;
  if (name.length > 32) buf.set(name, n);
  else for (let i = 0; i < name.length; i++) buf[n + i] = name[i];
  return size;
}

/** `fill_entry()` of libfuse: the entry's ids, timeouts and attributes. */
function encodeEntryOut(view: DataView, at: number, attr: EntryAttributes): void {
  setU64(view, at + FUSE_ENTRY_OUT.nodeid, attr.stIno);
  setU64(view, at + FUSE_ENTRY_OUT.generation, checkUint(attr.generation, "generation"));
  writeTimeout(view, at, "entry", checkTimeout(attr.entryTimeout, "entryTimeout"));
  writeTimeout(view, at, "attr", checkTimeout(attr.attrTimeout, "attrTimeout"));
  const a = at + FUSE_ENTRY_OUT.attr;
  setU64(view, a + FUSE_ATTR.ino, attr.stIno);
  setU64(view, a + FUSE_ATTR.size, checkUint(attr.stSize, "stSize"));
  setU64(view, a + FUSE_ATTR.blocks, checkUint(attr.stBlocks, "stBlocks"));
  writeTime(
    view,
    a + FUSE_ATTR.atime,
    a + FUSE_ATTR.atimensec,
    checkTime(attr.stAtimeNs, "stAtimeNs"),
  );
  writeTime(
    view,
    a + FUSE_ATTR.mtime,
    a + FUSE_ATTR.mtimensec,
    checkTime(attr.stMtimeNs, "stMtimeNs"),
  );
  writeTime(
    view,
    a + FUSE_ATTR.ctime,
    a + FUSE_ATTR.ctimensec,
    checkTime(attr.stCtimeNs, "stCtimeNs"),
  );
  view.setUint32(a + FUSE_ATTR.mode, attr.stMode, true);
  // fuse_attr's nlink and rdev are 32 bits: libfuse truncates, and so do we.
  view.setUint32(a + FUSE_ATTR.nlink, checkUint(attr.stNlink, "stNlink") % U32, true);
  view.setUint32(a + FUSE_ATTR.uid, checkUint(attr.stUid, "stUid", U32 - 1), true);
  view.setUint32(a + FUSE_ATTR.gid, checkUint(attr.stGid, "stGid", U32 - 1), true);
  view.setUint32(a + FUSE_ATTR.rdev, checkUint(attr.stRdev, "stRdev") % U32, true);
  view.setUint32(a + FUSE_ATTR.blksize, checkUint(attr.stBlksize, "stBlksize", U32 / 2 - 1), true);
}

/** libfuse's calc_timeout_sec/_nsec: whole seconds, then the fraction in ns, truncated. */
function writeTimeout(view: DataView, at: number, which: "entry" | "attr", t: number): void {
  const sec = Math.trunc(t);
  const valid = which === "entry" ? FUSE_ENTRY_OUT.entry_valid : FUSE_ENTRY_OUT.attr_valid;
  const nsecAt = which === "entry"
    ? FUSE_ENTRY_OUT.entry_valid_nsec
    : FUSE_ENTRY_OUT.attr_valid_nsec;
  if (sec > Number.MAX_SAFE_INTEGER) {
    // Past 2^64 (or Infinity) libfuse writes the largest seconds and nanoseconds.
    const huge = sec >= 2 ** 64;
    view.setBigUint64(at + valid, huge ? 2n ** 64n - 1n : BigInt(sec), true);
    if (huge) return view.setUint32(at + nsecAt, 999_999_999, true);
  } else {
    setU64(view, at + valid, sec);
  }
  const nsec = Math.min(999_999_999, Math.trunc((t - sec) * 1e9));
  view.setUint32(at + nsecAt, nsec, true);
}

function writeTime(view: DataView, secAt: number, nsecAt: number, ns: bigint): void {
  const nsec = nsecOf(ns);
  view.setBigInt64(secAt, (ns - nsec) / NS_PER_SEC, true);
  view.setUint32(nsecAt, Number(nsec), true);
}

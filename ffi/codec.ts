/**
 * Converting between C memory and denofuse's value types. Decoders copy
 * everything they return, because the memory they read (the receive buffer,
 * libfuse's stack) is reused as soon as the callback returns.
 *
 * @module
 */

import { joinNs, NS_PER_SEC, nsecOf } from "../core/time.ts";
import { FILE_INFO_ALLOC, type FileInfoBits, FOPEN, FUSE_BUFVEC_ALLOC, LAYOUT } from "./layout.ts";
import { EntryAttributes, type FileInfo, FileLock, StatvfsData } from "../core/types.ts";
import type { LibC } from "./libc.ts";

const STAT = LAYOUT.stat.fields;
const ENTRY = LAYOUT.fuse_entry_param.fields;
const FI = LAYOUT.fuse_file_info.fields;
const CTX = LAYOUT.fuse_ctx.fields;
const VFS = LAYOUT.statvfs.fields;
const FORGET = LAYOUT.fuse_forget_data;

/** A reply value the handler produced is not valid; the request gets EIO. */
export class InvalidReplyError extends Error {
  /** @param message which value was wrong and what was expected */
  constructor(message: string) {
    super(message);
    this.name = "InvalidReplyError";
  }
}

/** "Value too large for defined data type". */
export const EOVERFLOW = 75;
/** "File too large": for a write or a size at or past 2^53. */
export const EFBIG = 27;

/** A 64-bit value from the kernel that does not fit a JS number exactly. */
export class UnsafeIntegerError extends Error {
  /** The errno the request is answered with. */
  readonly errno: number;

  /**
   * @param what the argument that overflowed
   * @param errnoValue the answer: EOVERFLOW (75) by default, EFBIG (27) for
   *   a file position or size ("file too large")
   */
  constructor(what: string, errnoValue = EOVERFLOW) {
    super(`${what} exceeds Number.MAX_SAFE_INTEGER`);
    this.name = "UnsafeIntegerError";
    this.errno = errnoValue;
  }
}

/**
 * Converts a 64-bit value from C to a number, refusing to round.
 *
 * @param value the value
 * @param what its name, for the error
 * @param errnoValue the errno to answer when it does not fit (default EOVERFLOW)
 * @returns the value as a number
 * @throws {UnsafeIntegerError} if the value is above 2^53 - 1
 */
export function toSafeNumber(value: number | bigint, what: string, errnoValue?: number): number {
  if (typeof value === "number") return value;
  if (value > 9007199254740991n || value < -9007199254740991n) {
    throw new UnsafeIntegerError(what, errnoValue);
  }
  return Number(value);
}

/**
 * Rejects what is not an `EntryAttributes`, naming what it is instead: a
 * plain object or a `Deno.FileInfo` would otherwise fail on whichever member
 * it lacks first, which says nothing about the mistake.
 *
 * @param attr the handler's value
 * @throws {InvalidReplyError} "expected EntryAttributes, got ..."
 */
export function checkEntryAttributes(attr: unknown): void {
  if (
    attr !== null && typeof attr === "object" && "stIno" in attr && "attrTimeout" in attr &&
    "entryTimeout" in attr
  ) return;
  throw new InvalidReplyError(`expected EntryAttributes, got ${describeValue(attr)}`);
}

/**
 * Names a value for an error message: its class, or its keys for a plain object.
 *
 * @param value anything
 * @returns e.g. "undefined", "a FileInfo", "an object with keys stIno, stMode"
 */
export function describeValue(value: unknown): string {
  if (value === null || (typeof value !== "object" && typeof value !== "function")) {
    return String(value);
  }
  const name = (value as object).constructor?.name;
  if (name && name !== "Object") return `a ${name}`;
  const keys = Object.keys(value as object);
  return keys.length ? `an object with keys ${keys.slice(0, 6).join(", ")}` : "an empty object";
}

/**
 * Checks a reply's integer member.
 *
 * @param value the member's value
 * @param field its name, for the error
 * @param max the largest value the C field holds
 * @returns the value
 * @throws {InvalidReplyError} unless an integer from 0 to `max`
 */
export function checkUint(value: unknown, field: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > max) {
    throw new InvalidReplyError(
      `${field} must be an integer from 0 to ${max}, got ${
        typeof value === "bigint" ? `${value}n` : String(value)
      }`,
    );
  }
  return value;
}

/**
 * Checks a reply's timestamp.
 *
 * @param value nanoseconds as a bigint (or a safe integer)
 * @param field its name, for the error
 * @returns the nanoseconds
 * @throws {InvalidReplyError} for anything else
 */
export function checkTime(value: unknown, field: string): bigint {
  if (typeof value === "bigint") return value;
  if (typeof value === "number" && Number.isSafeInteger(value)) return BigInt(value);
  throw new InvalidReplyError(`${field} must be a bigint of nanoseconds, got ${String(value)}`);
}

/**
 * Checks a reply's cache timeout.
 *
 * @param value seconds
 * @param field its name, for the error
 * @returns the seconds
 * @throws {InvalidReplyError} unless a number >= 0
 */
export function checkTimeout(value: unknown, field: string): number {
  if (typeof value !== "number" || !(value >= 0)) {
    throw new InvalidReplyError(`${field} must be a number of seconds >= 0, got ${String(value)}`);
  }
  return value;
}

const U32 = 0xffff_ffff;
const TWO_32 = 2 ** 32;

/**
 * Writes a non-negative safe integer as a little-endian 64-bit value
 * without allocating a BigInt (this runs for every field of every reply).
 */
export function setU64(view: DataView, at: number, value: number): void {
  view.setUint32(at, value >>> 0, true);
  view.setUint32(at + 4, Math.floor(value / TWO_32), true);
}

function writeTime(view: DataView, secAt: number, nsecAt: number, ns: bigint): void {
  // Every reply writes three of these: no [sec, nsec] pair allocated.
  const nsec = nsecOf(ns);
  view.setBigInt64(secAt, (ns - nsec) / NS_PER_SEC, true);
  view.setBigInt64(nsecAt, nsec, true);
}

/**
 * Writes `attr` as a `struct stat` at `base` in `view`.
 *
 * @param view JS-owned memory
 * @param base offset of the struct
 * @param attr the attributes
 * @throws {InvalidReplyError} naming the first invalid member
 */
export function encodeStat(view: DataView, base: number, attr: EntryAttributes): void {
  const ino = checkUint(attr.stIno, "stIno");
  setU64(view, base + STAT.st_ino.offset, ino);
  const nlink = checkUint(attr.stNlink, "stNlink", STAT.st_nlink.kind === "u32" ? U32 : undefined);
  if (STAT.st_nlink.kind === "u32") view.setUint32(base + STAT.st_nlink.offset, nlink, true);
  else setU64(view, base + STAT.st_nlink.offset, nlink);
  view.setUint32(base + STAT.st_mode.offset, checkUint(attr.stMode, "stMode", U32), true);
  view.setUint32(base + STAT.st_uid.offset, checkUint(attr.stUid, "stUid", U32), true);
  view.setUint32(base + STAT.st_gid.offset, checkUint(attr.stGid, "stGid", U32), true);
  setU64(view, base + STAT.st_rdev.offset, checkUint(attr.stRdev, "stRdev"));
  setU64(view, base + STAT.st_size.offset, checkUint(attr.stSize, "stSize"));
  const blksize = checkUint(attr.stBlksize, "stBlksize", U32 >>> 1);
  if (STAT.st_blksize.kind === "i32") view.setInt32(base + STAT.st_blksize.offset, blksize, true);
  else setU64(view, base + STAT.st_blksize.offset, blksize);
  setU64(view, base + STAT.st_blocks.offset, checkUint(attr.stBlocks, "stBlocks"));
  writeTime(
    view,
    base + STAT.st_atime.offset,
    base + STAT.st_atime_nsec.offset,
    checkTime(attr.stAtimeNs, "stAtimeNs"),
  );
  writeTime(
    view,
    base + STAT.st_mtime.offset,
    base + STAT.st_mtime_nsec.offset,
    checkTime(attr.stMtimeNs, "stMtimeNs"),
  );
  writeTime(
    view,
    base + STAT.st_ctime.offset,
    base + STAT.st_ctime_nsec.offset,
    checkTime(attr.stCtimeNs, "stCtimeNs"),
  );
}

/**
 * Reusable JS-owned memory for one `fuse_entry_param` (which embeds a
 * `struct stat`). Requests are encoded one at a time on the JS thread, so one
 * instance per session suffices.
 */
export class EntryParamBuffer {
  /** The struct's bytes, to pass as a `"buffer"` argument. */
  readonly bytes = new Uint8Array(LAYOUT.fuse_entry_param.size);
  readonly #view = new DataView(this.bytes.buffer);

  /**
   * Fills the struct from `attr`.
   *
   * @param attr the entry
   * @param allowNegative accept `stIno` 0 (a negative, cacheable lookup)
   * @returns `bytes`
   * @throws {InvalidReplyError} naming the first invalid member
   */
  encode(attr: EntryAttributes, allowNegative = false): Uint8Array<ArrayBuffer> {
    checkEntryAttributes(attr);
    const view = this.#view;
    this.bytes.fill(0);
    if (attr.stIno === 0 && !allowNegative) {
      throw new InvalidReplyError("stIno must be at least 1 (0 is reserved for negative lookups)");
    }
    setU64(view, ENTRY.ino.offset, checkUint(attr.stIno, "stIno"));
    setU64(view, ENTRY.generation.offset, checkUint(attr.generation, "generation"));
    view.setFloat64(ENTRY.attr_timeout.offset, checkTimeout(attr.attrTimeout, "attrTimeout"), true);
    view.setFloat64(
      ENTRY.entry_timeout.offset,
      checkTimeout(attr.entryTimeout, "entryTimeout"),
      true,
    );
    encodeStat(view, ENTRY.attr.offset, attr);
    return this.bytes;
  }

  /**
   * Fills only the embedded `struct stat` and returns a view of it, for
   * `fuse_reply_attr`.
   *
   * @param attr the attributes
   * @returns the `struct stat` bytes
   * @throws {InvalidReplyError} naming the first invalid member
   */
  encodeStatOnly(attr: EntryAttributes): Uint8Array<ArrayBuffer> {
    checkEntryAttributes(attr);
    this.bytes.fill(0);
    if (attr.stIno === 0) throw new InvalidReplyError("stIno must be at least 1");
    checkTimeout(attr.attrTimeout, "attrTimeout");
    encodeStat(this.#view, ENTRY.attr.offset, attr);
    return this.bytes.subarray(ENTRY.attr.offset, ENTRY.attr.offset + LAYOUT.stat.size);
  }
}

/**
 * Reads a `struct stat` (the `attr` argument of setattr).
 *
 * @param ptr the struct
 * @returns its members as EntryAttributes
 */
export function decodeStat(ptr: Deno.PointerObject): EntryAttributes {
  const pv = new Deno.UnsafePointerView(ptr);
  const time = (sec: number, nsec: number) => joinNs(pv.getBigInt64(sec), pv.getBigInt64(nsec));
  const attr = new EntryAttributes();
  attr.stIno = toSafeNumber(pv.getBigUint64(STAT.st_ino.offset), "st_ino");
  attr.stMode = pv.getUint32(STAT.st_mode.offset);
  attr.stNlink = STAT.st_nlink.kind === "u32"
    ? pv.getUint32(STAT.st_nlink.offset)
    : toSafeNumber(pv.getBigUint64(STAT.st_nlink.offset), "st_nlink");
  attr.stUid = pv.getUint32(STAT.st_uid.offset);
  attr.stGid = pv.getUint32(STAT.st_gid.offset);
  attr.stRdev = toSafeNumber(pv.getBigUint64(STAT.st_rdev.offset), "st_rdev");
  attr.stSize = toSafeNumber(pv.getBigInt64(STAT.st_size.offset), "st_size", EFBIG);
  attr.stAtimeNs = time(STAT.st_atime.offset, STAT.st_atime_nsec.offset);
  attr.stMtimeNs = time(STAT.st_mtime.offset, STAT.st_mtime_nsec.offset);
  attr.stCtimeNs = time(STAT.st_ctime.offset, STAT.st_ctime_nsec.offset);
  return attr;
}

/** The members of a `fuse_file_info` a handler may need, copied. */
export interface DecodedFileInfo {
  flags: number;
  fh: number;
  lockOwner: bigint;
  /** The raw one-bit-flags word. */
  bits: number;
  /** Requested poll events (poll only). */
  pollEvents: number;
}

/**
 * Reads a `fuse_file_info`.
 *
 * @param ptr the struct (NULL gives null)
 * @returns the copied members
 */
export function decodeFileInfo(ptr: Deno.PointerValue): DecodedFileInfo | null {
  if (ptr === null) return null;
  const pv = new Deno.UnsafePointerView(ptr);
  return {
    flags: pv.getInt32(FI.flags.offset),
    fh: toSafeNumber(pv.getBigUint64(FI.fh.offset), "fh"),
    lockOwner: pv.getBigUint64(FI.lock_owner.offset),
    bits: pv.getUint32(FI.bits.offset),
    pollEvents: pv.getUint32(FI.poll_events.offset),
  };
}

/**
 * Reads only `fh` of a `fuse_file_info`.
 *
 * @param ptr the struct
 * @returns the file handle
 */
export function decodeFh(ptr: Deno.PointerValue): number {
  if (ptr === null) return 0;
  return toSafeNumber(new Deno.UnsafePointerView(ptr).getBigUint64(FI.fh.offset), "fh");
}

/**
 * Builds a JS-owned `fuse_file_info` for `fuse_reply_open` / `fuse_reply_create`.
 *
 * @param info what the handler returned
 * @param flags the open flags of the request
 * @param bits the bit positions of the loaded libfuse
 * @param noflushByDefault set `noflush` when `info.noflush` is undefined
 * @param backingId a kernel-passthrough backing id (libfuse 3.17+), or 0 for none
 * @returns zeroed memory of the 3.17+ size with fh, flags, bits and backing_id set
 * @throws {InvalidReplyError} if `info` is not a FileInfo-shaped object
 */
export function encodeFileInfo(
  info: FileInfo,
  flags: number,
  bits: FileInfoBits,
  noflushByDefault = false,
  backingId = 0,
): Uint8Array<ArrayBuffer> {
  if (info === null || typeof info !== "object") {
    throw new InvalidReplyError(`expected FileInfo, got ${String(info)}`);
  }
  const bytes = new Uint8Array(FILE_INFO_ALLOC);
  const view = new DataView(bytes.buffer);
  view.setInt32(FI.flags.offset, flags, true);
  setU64(view, FI.fh.offset, checkUint(info.fh, "fh"));
  view.setInt32(FI.backing_id.offset, backingId, true);
  let word = 0;
  if (info.directIo) word |= 1 << bits.direct_io;
  // The kernel fails a passthrough open that also asks to keep the page
  // cache (passthrough writes bypass it) or to be nonseekable: EIO.
  if (backingId === 0) {
    if (info.keepCache) word |= 1 << bits.keep_cache;
    if (info.nonseekable) word |= 1 << bits.nonseekable;
  }
  if (info.noflush ?? noflushByDefault) word |= 1 << bits.noflush;
  view.setUint32(FI.bits.offset, word >>> 0, true);
  return bytes;
}

/**
 * Builds the kernel's `struct fuse_open_out` for an OPEN reply sent as raw
 * bytes: how `FOPEN_NOFLUSH` reaches the kernel through libfuse < 3.11, whose
 * `fuse_file_info` has no `noflush` bit.
 *
 * @param info what the handler returned
 * @param noflush whether to set `FOPEN_NOFLUSH`
 * @returns the 16-byte reply body
 * @throws {InvalidReplyError} if `info` is not a FileInfo with a safe `fh`
 */
export function encodeOpenOut(info: FileInfo, noflush: boolean): Uint8Array<ArrayBuffer> {
  if (info === null || typeof info !== "object") {
    throw new InvalidReplyError(`expected FileInfo, got ${String(info)}`);
  }
  const out = LAYOUT.fuse_open_out;
  const bytes = new Uint8Array(out.size);
  const view = new DataView(bytes.buffer);
  setU64(view, out.fields.fh.offset, checkUint(info.fh, "fh"));
  let flags = 0;
  if (info.directIo) flags |= FOPEN.DIRECT_IO;
  if (info.keepCache) flags |= FOPEN.KEEP_CACHE;
  if (info.nonseekable) flags |= FOPEN.NONSEEKABLE;
  if (noflush) flags |= FOPEN.NOFLUSH;
  view.setUint32(out.fields.open_flags.offset, flags, true);
  return bytes;
}

/**
 * Builds a JS-owned `fuse_file_info` carrying only a handle (for opendir).
 *
 * @param fh the handle
 * @param flags the open flags of the request
 * @returns zeroed memory of the 3.17+ size
 * @throws {InvalidReplyError} if `fh` is not a safe non-negative integer
 */
export function encodeFh(fh: number, flags: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(FILE_INFO_ALLOC);
  const view = new DataView(bytes.buffer);
  view.setInt32(FI.flags.offset, flags, true);
  setU64(view, FI.fh.offset, checkUint(fh, "file handle"));
  return bytes;
}

/** Who sent a request: the ids in `struct fuse_ctx`. */
export interface CallerIds {
  uid: number;
  gid: number;
  pid: number;
  umask: number;
}

/**
 * Reads the caller of a request.
 *
 * @param ctxPtr what `fuse_req_ctx()` returned
 * @returns a copy
 */
export function decodeCtx(ctxPtr: Deno.PointerValue): CallerIds {
  if (ctxPtr === null) return { uid: 0, gid: 0, pid: 0, umask: 0 };
  const pv = new Deno.UnsafePointerView(ctxPtr);
  return {
    uid: pv.getUint32(CTX.uid.offset),
    gid: pv.getUint32(CTX.gid.offset),
    pid: pv.getInt32(CTX.pid.offset),
    umask: pv.getUint32(CTX.umask.offset),
  };
}

const FLOCK = LAYOUT.flock.fields;

/**
 * Reads a `struct flock`.
 *
 * @param ptr the struct
 * @returns a copy
 */
export function decodeFlock(ptr: Deno.PointerValue): FileLock {
  if (ptr === null) return new FileLock();
  const pv = new Deno.UnsafePointerView(ptr);
  return new FileLock({
    type: pv.getInt16(FLOCK.l_type.offset),
    whence: pv.getInt16(FLOCK.l_whence.offset),
    start: toSafeNumber(pv.getBigInt64(FLOCK.l_start.offset), "l_start"),
    len: toSafeNumber(pv.getBigInt64(FLOCK.l_len.offset), "l_len"),
    pid: pv.getInt32(FLOCK.l_pid.offset),
  });
}

/**
 * Writes a `FileLock` as a `struct flock`.
 *
 * @param lock what getlk returned
 * @returns JS-owned memory
 * @throws {InvalidReplyError} for an invalid member
 */
export function encodeFlock(lock: FileLock): Uint8Array<ArrayBuffer> {
  if (lock === null || typeof lock !== "object") {
    throw new InvalidReplyError(`expected FileLock, got ${String(lock)}`);
  }
  if (lock.type !== 0 && lock.type !== 1 && lock.type !== 2) {
    throw new InvalidReplyError(
      `FileLock.type must be F_RDLCK, F_WRLCK or F_UNLCK, got ${lock.type}`,
    );
  }
  const bytes = new Uint8Array(LAYOUT.flock.size);
  const view = new DataView(bytes.buffer);
  view.setInt16(FLOCK.l_type.offset, lock.type, true);
  view.setInt16(FLOCK.l_whence.offset, checkUint(lock.whence, "FileLock.whence", 2), true);
  view.setBigInt64(FLOCK.l_start.offset, BigInt(checkUint(lock.start, "FileLock.start")), true);
  view.setBigInt64(FLOCK.l_len.offset, BigInt(checkUint(lock.len, "FileLock.len")), true);
  view.setInt32(FLOCK.l_pid.offset, checkUint(lock.pid, "FileLock.pid", 0x7fff_ffff), true);
  return bytes;
}

/**
 * Writes `StatvfsData` as a `struct statvfs`.
 *
 * @param data what statfs returned
 * @returns JS-owned memory
 * @throws {InvalidReplyError} naming the first invalid member
 */
export function encodeStatvfs(data: StatvfsData): Uint8Array<ArrayBuffer> {
  if (data === null || typeof data !== "object") {
    throw new InvalidReplyError(`expected StatvfsData, got ${String(data)}`);
  }
  const bytes = new Uint8Array(LAYOUT.statvfs.size);
  const view = new DataView(bytes.buffer);
  const put = (field: keyof typeof VFS, value: unknown, name: string) =>
    view.setBigUint64(VFS[field].offset, BigInt(checkUint(value, name)), true);
  const d = data as StatvfsData;
  put("f_bsize", d.fBsize, "fBsize");
  put("f_frsize", d.fFrsize, "fFrsize");
  put("f_blocks", d.fBlocks, "fBlocks");
  put("f_bfree", d.fBfree, "fBfree");
  put("f_bavail", d.fBavail, "fBavail");
  put("f_files", d.fFiles, "fFiles");
  put("f_ffree", d.fFfree, "fFfree");
  put("f_favail", d.fFavail, "fFavail");
  put("f_namemax", d.fNamemax, "fNamemax");
  return bytes;
}

/**
 * Reads a `fuse_forget_data` array.
 *
 * @param ptr the array
 * @param count its length
 * @returns `[inode, nlookup]` pairs
 */
export function decodeForgets(ptr: Deno.PointerValue, count: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  if (ptr === null || count === 0) return out;
  const pv = new Deno.UnsafePointerView(ptr);
  for (let i = 0; i < count; i++) {
    const at = i * FORGET.size;
    out.push([
      toSafeNumber(pv.getBigUint64(at + FORGET.fields.ino.offset), "forget ino"),
      toSafeNumber(pv.getBigUint64(at + FORGET.fields.nlookup.offset), "nlookup"),
    ]);
  }
  return out;
}

/**
 * Copies a NUL-terminated C string's bytes.
 *
 * @param libc for `strlen`
 * @param ptr the string
 * @returns its bytes without the NUL
 */
export function copyCString(libc: LibC, ptr: Deno.PointerValue): Uint8Array<ArrayBuffer> {
  if (ptr === null) return new Uint8Array(0);
  const len = Number(libc.strlen(ptr));
  return copyBytes(ptr, len);
}

/**
 * Copies `len` bytes of C memory.
 *
 * @param ptr the memory
 * @param len how many bytes
 * @returns a JS-owned copy
 */
export function copyBytes(ptr: Deno.PointerValue, len: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(len);
  if (ptr !== null && len > 0) Deno.UnsafePointerView.copyInto(ptr, out);
  return out;
}

const encoder = new TextEncoder();

/**
 * Encodes a one-buffer `struct fuse_bufvec` over `mem` (for
 * `fuse_buf_copy` and `notify_store`). `mem` must stay referenced while
 * libfuse uses it.
 *
 * @param mem the memory
 * @returns the struct's bytes (sized for libfuse 3.17+, which appends `mem_size`)
 */
export function encodeBufvec(mem: Uint8Array): Uint8Array<ArrayBuffer> {
  const V = LAYOUT.fuse_bufvec.fields, B = LAYOUT.fuse_buf.fields, at = V.buf.offset;
  const out = new Uint8Array(FUSE_BUFVEC_ALLOC);
  const view = new DataView(out.buffer);
  view.setBigUint64(V.count.offset, 1n, true);
  view.setBigUint64(at + B.size.offset, BigInt(mem.length), true);
  const address = Deno.UnsafePointer.value(Deno.UnsafePointer.of(mem as Uint8Array<ArrayBuffer>));
  view.setBigUint64(at + B.mem.offset, BigInt(address), true);
  return out;
}

/**
 * Copies bytes (or a string's UTF-8) into new memory with a trailing NUL,
 * for a `const char *` argument. The caller decides whether an embedded NUL
 * is an error (see {@link toCString}).
 *
 * @param value bytes or a string
 * @returns the bytes plus a trailing NUL
 */
export function nulTerminated(value: Uint8Array | string): Uint8Array<ArrayBuffer> {
  const bytes = typeof value === "string" ? encoder.encode(value) : value;
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/**
 * Bytes as a NUL-terminated C string in JS-owned memory.
 *
 * @param value bytes or a string (sent as UTF-8)
 * @param what the value's name, for the error
 * @returns the bytes plus a trailing NUL
 * @throws {InvalidReplyError} if the value contains a NUL byte
 */
export function toCString(value: Uint8Array | string, what: string): Uint8Array<ArrayBuffer> {
  const bytes = typeof value === "string" ? encoder.encode(value) : value;
  if (!(bytes instanceof Uint8Array)) {
    throw new InvalidReplyError(`${what} must be a Uint8Array or string, got ${String(value)}`);
  }
  if (bytes.includes(0)) throw new InvalidReplyError(`${what} contains a NUL byte`);
  return nulTerminated(bytes);
}

/**
 * Bytes of a reply value.
 *
 * @param value bytes or a string (sent as UTF-8)
 * @param what the value's name, for the error
 * @returns the bytes
 * @throws {InvalidReplyError} for anything else
 */
export function toBytes(value: Uint8Array | string, what: string): Uint8Array {
  if (typeof value === "string") return encoder.encode(value);
  if (value instanceof Uint8Array) return value;
  throw new InvalidReplyError(`${what} must be a Uint8Array or string, got ${String(value)}`);
}

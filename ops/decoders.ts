/**
 * How each C argument of a libfuse callback becomes a handler argument. A
 * request's row in ops/request_table.ts names one decoder per C argument;
 * the decoder copies what it needs before the callback returns (libfuse
 * reuses the request's memory afterwards) and says how the debug log shows
 * the value.
 *
 * @module
 */

import {
  type DecodedFileInfo,
  decodeFh,
  decodeFileInfo,
  decodeFlock,
  decodeStat,
  EFBIG,
  toSafeNumber,
} from "../ffi/codec.ts";
import type { EntryAttributes, FileLock } from "../core/types.ts";
import type { RequestMemory } from "../ffi/receive_buffer.ts";

/** What decoders may need besides the raw value: reading the request's memory. */
export type DecodeEnv = Pick<RequestMemory, "cString">;

/** Turns one C argument into a JS value. */
export interface Decoder<T> {
  /** The Deno FFI type of the C argument. */
  readonly native: Deno.NativeType;
  /**
   * @param raw the value Deno FFI passed
   * @param env helpers
   * @returns the handler's value
   * @throws {UnsafeIntegerError} when a 64-bit value does not fit a number
   */
  decode(raw: unknown, env: DecodeEnv): T;
  /** How the debug log prints it (default `String`). */
  show?(value: T): string;
}

const named = (what: string, err?: number): Decoder<number> => ({
  native: "u64",
  decode: (raw) => toSafeNumber(raw as bigint, what, err),
});

const textDecoder = new TextDecoder();
const showBytes = (b: Uint8Array) => JSON.stringify(textDecoder.decode(b));

/** `fuse_ino_t`. */
export const INODE: Decoder<number> = named("inode");
/** A 64-bit index (bmap's block) or device number (mknod's rdev). */
export const U64 = (what: string): Decoder<number> => named(what);
/** `off_t`: EOVERFLOW past 2^53. */
export const OFFSET: Decoder<number> = {
  native: "i64",
  decode: (raw) => toSafeNumber(raw as bigint, "offset"),
};
/** `off_t` of a file position where a write would land: EFBIG past 2^53. */
export const FILE_OFFSET: Decoder<number> = {
  native: "i64",
  decode: (raw) => toSafeNumber(raw as bigint, "file offset", EFBIG),
};
/** A readdir cookie; past 2^53 none was ever issued, so -1 (the end). */
export const DIR_OFFSET: Decoder<number> = {
  native: "i64",
  decode: (raw) => (raw as bigint) > MAX_SAFE ? -1 : Number(raw),
};
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
/** `size_t`. */
export const SIZE: Decoder<number> = { native: "usize", decode: (raw) => Number(raw) };
/** `int` (flags, masks, modes passed as int). */
export const INT: Decoder<number> = { native: "i32", decode: (raw) => raw as number };
/** `unsigned int`, `mode_t`. */
export const UINT: Decoder<number> = { native: "u32", decode: (raw) => (raw as number) >>> 0 };
/** An `int` used as a boolean (datasync, sleep). */
export const BOOL: Decoder<boolean> = { native: "i32", decode: (raw) => raw !== 0 };
/** A `const char *` name or path, copied. */
export const NAME: Decoder<Uint8Array> = {
  native: "pointer",
  decode: (raw, env) => env.cString(raw as Deno.PointerValue),
  show: showBytes,
};
/** A pointer passed on as is (valid only during the callback). */
export const POINTER: Decoder<Deno.PointerValue> = {
  native: "pointer",
  decode: (raw) => raw as Deno.PointerValue,
  show: (p) => (p === null ? "NULL" : "ptr"),
};
/** `struct fuse_file_info *`, only its `fh`. */
export const FH: Decoder<number> = {
  native: "pointer",
  decode: (raw) => decodeFh(raw as Deno.PointerValue),
};
/** `struct fuse_file_info *`, or null when the kernel passed none. */
export const FH_OR_NULL: Decoder<number | null> = {
  native: "pointer",
  decode: (raw) => (raw === null ? null : decodeFh(raw as Deno.PointerValue)),
};
/** `struct fuse_file_info *`, every member the handlers use. */
export const FILE_INFO: Decoder<DecodedFileInfo> = {
  native: "pointer",
  decode: (raw) => decodeFileInfo(raw as Deno.PointerValue) ?? EMPTY_FILE_INFO,
  show: (fi) => `{fh=${fi.fh}, flags=0x${fi.flags.toString(16)}}`,
};
const EMPTY_FILE_INFO: DecodedFileInfo = Object.freeze({
  flags: 0,
  fh: 0,
  lockOwner: 0n,
  bits: 0,
  pollEvents: 0,
});
/** `struct flock *`. */
export const FLOCK: Decoder<FileLock> = {
  native: "pointer",
  decode: (raw) => decodeFlock(raw as Deno.PointerValue),
  show: (l) => `{type=${l.type}, start=${l.start}, len=${l.len}, pid=${l.pid}}`,
};
/** `struct stat *` (setattr's new values). */
export const STAT: Decoder<EntryAttributes> = {
  native: "pointer",
  decode: (raw) => decodeStat(raw as Deno.PointerObject),
  show: (a) => `{mode=0o${a.stMode.toString(8)}, size=${a.stSize}}`,
};

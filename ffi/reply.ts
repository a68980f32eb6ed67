/**
 * The `fuse_reply_*` calls, given denofuse values. Each function sends one
 * reply for one request pointer; `ops/dispatch.ts` makes sure it is called
 * exactly once per request.
 *
 * @module
 */

import { joinNs } from "../core/time.ts";
import {
  encodeFh,
  encodeFileInfo,
  encodeFlock,
  encodeOpenOut,
  encodeStatvfs,
  EntryParamBuffer,
  toCString,
} from "./codec.ts";
import { type FileInfoBits, fileInfoBits, fileInfoHasBit } from "./layout.ts";
import type { LoadedLibraries } from "./library.ts";
import type { EntryAttributes, FileInfo, FileLock, StatvfsData } from "../core/types.ts";
import type { StatxAttributes } from "../core/statx.ts";
import { encodeStatx } from "./statx.ts";

/** An opaque `fuse_req_t`. */
export type RequestPointer = Deno.PointerObject;

/** What the dispatcher needs of a {@link Replier}: its public methods, so tests can fake it. */
export type ReplySink = { [K in keyof Replier]: Replier[K] };

const ERANGE = 34;
const ENOSYS = 38;

/**
 * Sends replies for one session's requests. Every reply method returns
 * libfuse's result: 0, or a negative errno when the reply could not be
 * delivered (the kernel rejected it, or the request is gone); the caller
 * decides how to report it, since libfuse has freed the request either way.
 */
export class Replier {
  readonly #libs: LoadedLibraries;
  readonly #entry = new EntryParamBuffer();
  readonly #bits: FileInfoBits;
  readonly #timespec = new BigInt64Array(2);

  /** @param libs the loaded libraries */
  readonly #noflush: boolean;
  /** Whether OPEN replies that want `noflush` must bypass `fuse_reply_open` (libfuse < 3.11). */
  readonly #rawNoflush: boolean;

  /**
   * @param libs the loaded libraries
   * @param noflushByDefault set `noflush` on opened files unless the handler decided
   *   (true when the filesystem has no flush handler)
   */
  constructor(libs: LoadedLibraries, noflushByDefault = false) {
    this.#libs = libs;
    this.#bits = fileInfoBits(libs.version);
    this.#noflush = noflushByDefault;
    this.#rawNoflush = !fileInfoHasBit(libs.version, "noflush");
  }

  /** The bit positions of `fuse_file_info` flags in the loaded libfuse. */
  get bits(): FileInfoBits {
    return this.#bits;
  }

  /**
   * @param req the request
   * @param errno a positive errno
   */
  err(req: RequestPointer, errno: number): number {
    return this.#libs.fuse.fuse_reply_err(req, errno);
  }

  /** @param req a forget request, which takes no answer */
  none(req: RequestPointer): void {
    this.#libs.fuse.fuse_reply_none(req);
  }

  /**
   * @param req the request
   * @param attr the entry
   * @param allowNegative accept `stIno` 0 (lookup only)
   */
  entry(req: RequestPointer, attr: EntryAttributes, allowNegative = false): number {
    return this.#libs.fuse.fuse_reply_entry(req, this.#entry.encode(attr, allowNegative));
  }

  /**
   * @param req the request
   * @param info the open file
   * @param attr the new entry
   * @param flags the request's open flags
   * @param backingId a registered kernel-passthrough backing id, or 0
   */
  create(
    req: RequestPointer,
    info: FileInfo,
    attr: EntryAttributes,
    flags: number,
    backingId = 0,
  ): number {
    const fi = encodeFileInfo(info, flags, this.#bits, this.#noflush, backingId);
    return this.#libs.fuse.fuse_reply_create(req, this.#entry.encode(attr), fi);
  }

  /**
   * @param req the request
   * @param attr the attributes
   */
  attr(req: RequestPointer, attr: EntryAttributes): number {
    const stat = this.#entry.encodeStatOnly(attr);
    return this.#libs.fuse.fuse_reply_attr(req, stat, attr.attrTimeout);
  }

  /**
   * @param req the request
   * @param target the symlink target
   */
  readlink(req: RequestPointer, target: Uint8Array | string): number {
    return this.#libs.fuse.fuse_reply_readlink(req, toCString(target, "readlink target"));
  }

  /**
   * @param req the request
   * @param info the open file
   * @param flags the request's open flags
   * @param backingId a registered kernel-passthrough backing id (libfuse
   *   3.17+, so never with the raw noflush reply of libfuse < 3.11), or 0
   */
  open(req: RequestPointer, info: FileInfo, flags: number, backingId = 0): number {
    if (this.#rawNoflush && (info?.noflush ?? this.#noflush)) {
      // libfuse < 3.11 has no noflush bit: send the kernel's fuse_open_out
      // ourselves, which is all fuse_reply_open does there.
      const out = encodeOpenOut(info, true);
      return this.#libs.fuse.fuse_reply_buf(req, out, BigInt(out.length));
    }
    return this.#libs.fuse.fuse_reply_open(
      req,
      encodeFileInfo(info, flags, this.#bits, this.#noflush, backingId),
    );
  }

  /**
   * @param req the request
   * @param fh the directory handle
   * @param flags the request's open flags
   */
  opendir(req: RequestPointer, fh: number, flags: number): number {
    return this.#libs.fuse.fuse_reply_open(req, encodeFh(fh, flags));
  }

  /**
   * @param req the request
   * @param count bytes written
   */
  write(req: RequestPointer, count: number): number {
    return this.#libs.fuse.fuse_reply_write(req, BigInt(count));
  }

  /**
   * Replies with data, straight from the caller's memory (no copy).
   *
   * @param req the request
   * @param data the bytes
   * @param length how many of them (defaults to all)
   */
  buf(req: RequestPointer, data: Uint8Array, length = data.length): number {
    return this.#libs.fuse.fuse_reply_buf(req, data as Uint8Array<ArrayBuffer>, BigInt(length));
  }

  /**
   * @param req the request
   * @param data the statistics
   */
  statfs(req: RequestPointer, data: StatvfsData): number {
    return this.#libs.fuse.fuse_reply_statfs(req, encodeStatvfs(data));
  }

  /**
   * @param req a getlk request
   * @param lock the conflicting lock, or one of type F_UNLCK
   */
  lock(req: RequestPointer, lock: FileLock): number {
    return this.#libs.fuse.fuse_reply_lock(req, encodeFlock(lock));
  }

  /**
   * @param req an lseek request
   * @param offset the resulting offset
   */
  lseek(req: RequestPointer, offset: number): number {
    return this.#libs.fuse.fuse_reply_lseek(req, BigInt(offset));
  }

  /**
   * Answers a statx request (libfuse 3.18+: the statx op is registered
   * only there; a libfuse built without statx support never calls it).
   *
   * @param req a statx request
   * @param sx the result
   */
  statx(req: RequestPointer, sx: StatxAttributes): number {
    const fuse = this.#libs.fuse;
    const bytes = encodeStatx(sx);
    // ENOSYS makes the kernel fall back to getattr for good.
    if (!fuse.fuse_reply_statx) return fuse.fuse_reply_err(req, ENOSYS);
    return fuse.fuse_reply_statx(req, 0, bytes, sx.attr.attrTimeout);
  }

  /**
   * @param req a bmap request
   * @param idx the device block
   */
  bmap(req: RequestPointer, idx: number): number {
    return this.#libs.fuse.fuse_reply_bmap(req, BigInt(idx));
  }

  /**
   * @param req an ioctl request
   * @param result the ioctl's return value
   * @param data the output bytes
   */
  ioctl(req: RequestPointer, result: number, data: Uint8Array): number {
    return this.#libs.fuse.fuse_reply_ioctl(
      req,
      result,
      data as Uint8Array<ArrayBuffer>,
      BigInt(data.length),
    );
  }

  /**
   * @param req a poll request
   * @param revents the ready events
   */
  poll(req: RequestPointer, revents: number): number {
    return this.#libs.fuse.fuse_reply_poll(req, revents >>> 0);
  }

  /**
   * @param ph a poll handle
   * @returns 0 or a positive errno
   */
  notifyPoll(ph: Deno.PointerObject): number {
    return -this.#libs.fuse.fuse_lowlevel_notify_poll(ph);
  }

  /** @param ph a poll handle to free */
  destroyPollHandle(ph: Deno.PointerObject): void {
    this.#libs.fuse.fuse_pollhandle_destroy(ph);
  }

  /**
   * Answers getxattr/listxattr: the size when probed with 0, ERANGE when the
   * caller's buffer is too small, else the bytes.
   *
   * @param req the request
   * @param value the whole value
   * @param size the caller's buffer size
   */
  xattr(req: RequestPointer, value: Uint8Array, size: number): number {
    const fuse = this.#libs.fuse;
    if (size === 0) return fuse.fuse_reply_xattr(req, BigInt(value.length));
    if (value.length > size) return fuse.fuse_reply_err(req, ERANGE);
    return fuse.fuse_reply_buf(req, value as Uint8Array<ArrayBuffer>, BigInt(value.length));
  }

  /**
   * The current time, for setattr's "now" flags.
   *
   * @returns nanoseconds since the epoch (CLOCK_REALTIME)
   */
  nowNs(): bigint {
    this.#libs.libc.clock_gettime(0, this.#timespec);
    return joinNs(this.#timespec[0], this.#timespec[1]);
  }

  /**
   * The caller's context pointer.
   *
   * @param req the request
   * @returns what `fuse_req_ctx` returned
   */
  ctxPointer(req: RequestPointer): Deno.PointerValue {
    return this.#libs.fuse.fuse_req_ctx(req);
  }
}

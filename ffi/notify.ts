/**
 * The `fuse_lowlevel_notify_*` calls. They run on a Deno worker thread
 * (`nonblocking: true`) because the kernel may make them wait for a lock
 * that a request we have not answered yet is holding: on the JS thread that
 * would deadlock the loop (the pyfuse3 `invalidate_entry` trap).
 *
 * @module
 */

import type { FuseLibrary, LoadedLibraries } from "./library.ts";
import { encodeBufvec, nulTerminated, toSafeNumber } from "./codec.ts";
import { ErrnoError } from "../core/errors.ts";

/** A negative errno from libfuse, as a positive number, or 0. */
export type NotifyResult = number;

/** Buffers C holds a bare pointer to while a call is in flight; kept reachable here. */
const pinned = new Set<Uint8Array>();

// libfuse takes (name, namelen) but the kernel also wants the name NUL-terminated.
const nameBytes = nulTerminated;

/** Sends notifications for one session. */
export class Notifier {
  readonly #libs: LoadedLibraries;
  readonly #se: Deno.PointerObject;

  /**
   * @param libs the loaded libraries
   * @param se the session
   */
  constructor(libs: LoadedLibraries, se: Deno.PointerObject) {
    this.#libs = libs;
    this.#se = se;
  }

  /**
   * @param ino the inode
   * @param off -1: attributes only; else the first byte of cached data to drop
   * @param len bytes to drop (0: to the end)
   * @returns 0 or a positive errno
   */
  async invalInode(ino: number, off: number, len: number): Promise<NotifyResult> {
    return -(await this.#libs.fuse.fuse_lowlevel_notify_inval_inode(
      this.#se,
      BigInt(ino),
      BigInt(off),
      BigInt(len),
    ));
  }

  /**
   * @param parent the directory
   * @param name the entry
   * @returns 0 or a positive errno
   */
  async invalEntry(parent: number, name: Uint8Array | string): Promise<NotifyResult> {
    const bytes = nameBytes(name);
    return -(await this.#libs.fuse.fuse_lowlevel_notify_inval_entry(
      this.#se,
      BigInt(parent),
      bytes,
      BigInt(bytes.length - 1),
    ));
  }

  /**
   * @param parent the directory
   * @param child the inode the entry pointed to
   * @param name the entry
   * @returns 0 or a positive errno
   */
  async delete(parent: number, child: number, name: Uint8Array | string): Promise<NotifyResult> {
    const bytes = nameBytes(name);
    return -(await this.#libs.fuse.fuse_lowlevel_notify_delete(
      this.#se,
      BigInt(parent),
      BigInt(child),
      bytes,
      BigInt(bytes.length - 1),
    ));
  }

  /**
   * @param ino the inode
   * @param offset where `data` starts in the file
   * @param data the bytes to place in the kernel's page cache
   * @returns 0 or a positive errno
   */
  async store(ino: number, offset: number, data: Uint8Array): Promise<NotifyResult> {
    const owned = new Uint8Array(data) as Uint8Array<ArrayBuffer>;
    const bufvec = encodeBufvec(owned);
    pinned.add(owned);
    try {
      return -(await this.#libs.fuse.fuse_lowlevel_notify_store(
        this.#se,
        BigInt(ino),
        BigInt(offset),
        bufvec,
        0,
      ));
    } finally {
      pinned.delete(owned);
    }
  }

  /** Whether the loaded libfuse has `fuse_lowlevel_notify_increment_epoch` (3.18+). */
  get hasIncrementEpoch(): boolean {
    return this.#libs.fuse.fuse_lowlevel_notify_increment_epoch_exists !== null;
  }

  /** The loaded libfuse's `fuse_pkgversion()`, for error messages. */
  get libfuseVersion(): string {
    return this.#libs.pkgVersion;
  }

  /**
   * Makes every dentry the kernel has cached for the mount stale
   * (FUSE_NOTIFY_INC_EPOCH). Check {@link hasIncrementEpoch} first.
   *
   * @returns 0 or a positive errno (ENOSYS: the kernel speaks FUSE < 7.44)
   */
  async incrementEpoch(): Promise<NotifyResult> {
    return -(await this.#libs.fuse.fuse_lowlevel_notify_increment_epoch!(this.#se));
  }

  /**
   * @param ino the inode
   * @param offset first byte wanted
   * @param size bytes wanted
   * @param cookie identifies the answer in the retrieve_reply callback
   * @returns 0 or a positive errno
   */
  async retrieve(ino: number, offset: number, size: number, cookie: number): Promise<NotifyResult> {
    return -(await this.#libs.fuse.fuse_lowlevel_notify_retrieve(
      this.#se,
      BigInt(ino),
      BigInt(size),
      BigInt(offset),
      Deno.UnsafePointer.create(BigInt(cookie)),
    ));
  }
}

/**
 * Decodes the arguments of the retrieve_reply callback. The data is copied
 * with libfuse's `fuse_buf_copy`, which follows the vector's `idx` and
 * `off` and would also read it from a pipe, had libfuse spliced it.
 *
 * @param fuse libfuse's buffer functions
 * @param cookie the cookie passed to `retrieve`
 * @param bufv the `struct fuse_bufvec *` with the cached data
 * @returns the cookie, and a copy of the data or the error libfuse's copy met
 */
export function decodeRetrieveReply(
  fuse: Pick<FuseLibrary, "fuse_buf_size" | "fuse_buf_copy">,
  cookie: Deno.PointerValue,
  bufv: Deno.PointerValue,
): { cookie: number; data: Uint8Array | ErrnoError } {
  const id = toSafeNumber(BigInt(Deno.UnsafePointer.value(cookie)), "retrieve cookie");
  if (bufv === null) return { cookie: id, data: new Uint8Array(0) };
  const data = new Uint8Array(Number(fuse.fuse_buf_size(bufv)));
  if (data.length === 0) return { cookie: id, data };
  const copied = Number(
    fuse.fuse_buf_copy(encodeBufvec(data), bufv, 0),
  );
  if (copied < 0) return { cookie: id, data: new ErrnoError(-copied, "notifyRetrieve") };
  return { cookie: id, data: data.subarray(0, copied) };
}

/**
 * The data of a WRITE request as libfuse's `write_buf` hands it over: in
 * the kernel's pipe when libfuse spliced the request off `/dev/fuse`, else
 * in memory. {@link WriteSource.copyTo} moves it to a file descriptor with
 * `fuse_buf_copy` (splice(2) from the pipe: the bytes never enter this
 * process), {@link WriteSource.bytes} reads it into memory.
 *
 * @module
 */

import { FUSEError, FuseStateError } from "../core/errors.ts";
import { encodeBufvec, FUSE_BUF } from "./codec.ts";

const EIO = 5;

/** The libfuse call a {@link WriteSource} copies with (`fuse_buf_copy`). */
export type BufCopy = (dst: Uint8Array<ArrayBuffer>, src: Deno.PointerValue, flags: number) =>
  | number
  | bigint;

/**
 * The data of one write request, for the `writeBuf` handler. It may still
 * be in the kernel's pipe, so it can be used only once and only while the
 * handler runs synchronously: copy it to a file descriptor or read it
 * before returning (or before the handler's first `await`).
 */
export class WriteSource {
  /** How many bytes the caller wrote. */
  readonly size: number;
  readonly #bufv: Deno.PointerValue;
  readonly #copy: BufCopy;
  #usable = true;

  /**
   * @param bufv libfuse's `struct fuse_bufvec *`, valid during the callback
   * @param size its size (`fuse_buf_size`)
   * @param copy `fuse_buf_copy`
   * @internal
   */
  constructor(bufv: Deno.PointerValue, size: number, copy: BufCopy) {
    this.#bufv = bufv;
    this.size = size;
    this.#copy = copy;
  }

  /**
   * Writes the data to `fd` at `offset` (pwrite-like: the descriptor's own
   * position does not move). From the pipe this is splice(2), without a
   * copy through this process.
   *
   * @param fd an open file descriptor
   * @param offset where in the file
   * @returns the bytes written: {@link size}, or fewer only when the file
   *   cannot take more (short writes are retried)
   * @throws {FUSEError} with the errno of the failed write
   * @throws {FuseStateError} if the data was used already or the handler returned
   * @example
   * ```ts ignore
   * writeBuf(fh, off, src) {
   *   return src.copyTo(this.fdOf(fh), off);
   * }
   * ```
   */
  copyTo(fd: number, offset: number): number {
    const flags = FUSE_BUF.FD_SEEK | FUSE_BUF.FD_RETRY;
    return this.#copyInto(encodeBufvec({ size: this.size, fd, pos: offset, flags }));
  }

  /**
   * Reads the data into memory.
   *
   * @returns a copy of the bytes
   * @throws {FUSEError} EIO if the pipe held fewer bytes than {@link size}
   * @throws {FuseStateError} if the data was used already or the handler returned
   */
  bytes(): Uint8Array<ArrayBuffer> {
    const out = new Uint8Array(this.size);
    if (this.#copyInto(encodeBufvec({ size: this.size, mem: out })) !== this.size) {
      throw new FUSEError(EIO);
    }
    return out;
  }

  /**
   * Ends the source's use (the handler returned): libfuse's `bufv` is
   * gone, and data still in the pipe is discarded by libfuse. @internal
   */
  close(): void {
    this.#usable = false;
  }

  #copyInto(dst: Uint8Array<ArrayBuffer>): number {
    if (!this.#usable) {
      throw new FuseStateError(
        "a WriteSource can be used once, and only before the writeBuf handler returns or awaits: " +
          "call copyTo() or bytes() first",
      );
    }
    this.#usable = false;
    const n = Number(this.#copy(dst, this.#bufv, 0));
    if (n < 0) throw new FUSEError(-n);
    return n;
  }
}

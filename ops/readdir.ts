/**
 * Readdir tokens and `readdirReply`, pyfuse3's `readdir_reply`.
 *
 * @module
 */

import { direntName, encodeDirent } from "../ffi/dirent.ts";
import type { BytesLike } from "../core/types.ts";
import type { EntryAttributes } from "../core/types.ts";
import { FuseStateError } from "../core/errors.ts";

/**
 * The reply buffer of one readdir request. Handlers receive it and pass it
 * to {@link readdirReply}; it is only valid until the handler's promise
 * settles.
 */
export class ReaddirToken {
  readonly #buf: Uint8Array<ArrayBuffer>;
  readonly #view: DataView;
  /**
   * Whether the kernel asked for attributes (READDIRPLUS): then every entry
   * added counts as a lookup. Always true unless the filesystem set
   * `Operations.enableReaddirplusAuto`; a plain READDIR (false) sends
   * only each entry's inode number and file type, and takes no reference.
   */
  readonly plus: boolean;
  #used = 0;
  #open = true;

  /**
   * Creates the token of one readdir request. @internal
   *
   * @param size the kernel's buffer size for this request
   * @param plus READDIRPLUS (true) or plain READDIR
   */
  constructor(size: number, plus = true) {
    this.#buf = new Uint8Array(size);
    this.#view = new DataView(this.#buf.buffer);
    this.plus = plus;
  }

  /**
   * Appends an entry if it fits.
   *
   * @param name the entry name
   * @param attr its attributes
   * @param nextId where the next readdir continues
   * @returns false if the buffer is full
   * @internal
   */
  add(name: BytesLike, attr: EntryAttributes, nextId: number): boolean {
    if (!this.#open) {
      throw new FuseStateError(
        "readdirReply() called after the readdir handler finished; call it before the handler's promise settles",
      );
    }
    if (!Number.isSafeInteger(nextId) || nextId <= 0) {
      throw new RangeError(`readdirReply: nextId must be a positive safe integer, got ${nextId}`);
    }
    // Encoded here in the kernel's format: no FFI crossing per entry.
    const bytes = direntName(name);
    const end = this.#buf.length;
    const size = encodeDirent(
      this.#buf,
      this.#view,
      this.#used,
      end,
      bytes,
      attr,
      nextId,
      this.plus,
    );
    if (size > end - this.#used) return false;
    this.#used += size;
    return true;
  }

  /**
   * Closes the token and hands back the filled part.
   *
   * @returns the bytes to send
   * @internal
   */
  finish(): Uint8Array<ArrayBuffer> {
    this.#open = false;
    return this.#buf.subarray(0, this.#used);
  }
}

/**
 * Adds one entry to a readdir reply, like pyfuse3's `readdir_reply`.
 *
 * When `token.plus` is true (READDIRPLUS, always so unless the filesystem set
 * `enableReaddirplusAuto`), the entry counts as a lookup of `attr.stIno`, so
 * the filesystem must expect a matching `forget` — but only when this
 * returns true, and never for entries named "." and ".." (the kernel takes
 * no reference for those). A plain READDIR (`token.plus` false) sends only
 * `stIno` and the file type of `stMode`, and counts as no lookup.
 *
 * @param token the token the readdir handler received
 * @param name the entry's name: bytes, or a string sent as UTF-8; no '/' or NUL
 * @param attr the entry's attributes
 * @param nextId the `startId` at which a later readdir call continues after this entry (> 0)
 * @returns true if the entry was added, false if the reply is full and the handler should stop
 * @throws {FuseStateError} if the handler already finished
 * @example
 * ```ts
 * import { EntryAttributes, type Operations, readdirReply } from "../mod.ts";
 * const names = ["a", "b", "c"];
 * const ops: Operations = {
 *   async readdir(_fh, startId, token) {
 *     for (let i = startId; i < names.length; i++) {
 *       const attr = new EntryAttributes({ stIno: 10 + i, stMode: 0o100644 });
 *       if (!readdirReply(token, names[i], attr, i + 1)) break;
 *     }
 *   },
 * };
 * ```
 */
export function readdirReply(
  token: ReaddirToken,
  name: BytesLike,
  attr: EntryAttributes,
  nextId: number,
): boolean {
  return token.add(name, attr, nextId);
}

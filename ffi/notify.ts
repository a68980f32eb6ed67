/**
 * The `fuse_lowlevel_notify_*` calls. They run on a Deno worker thread
 * (`nonblocking: true`) because the kernel may make them wait for a lock
 * that a request we have not answered yet is holding: on the JS thread that
 * would deadlock the loop (the pyfuse3 `invalidate_entry` trap).
 *
 * @module
 */

import { FUSE_BUFVEC_ALLOC, LAYOUT } from "./layout.ts";
import type { LoadedLibraries } from "./library.ts";
import { copyBytes, nulTerminated, toSafeNumber } from "./codec.ts";

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
    const bufvec = new Uint8Array(FUSE_BUFVEC_ALLOC);
    const view = new DataView(bufvec.buffer);
    const V = LAYOUT.fuse_bufvec.fields;
    const B = LAYOUT.fuse_buf.fields;
    const buf = V.buf.offset;
    view.setBigUint64(V.count.offset, 1n, true);
    view.setBigUint64(buf + B.size.offset, BigInt(owned.length), true);
    view.setBigUint64(
      buf + B.mem.offset,
      BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(owned))),
      true,
    );
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
 * Decodes the arguments of the retrieve_reply callback.
 *
 * @param cookie the cookie passed to `retrieve`
 * @param bufv the `struct fuse_bufvec *` with the cached data
 * @param bufStride bytes per `fuse_buf` in the loaded libfuse (40, or 48 from 3.17)
 * @returns the cookie and a copy of the data
 */
export function decodeRetrieveReply(
  cookie: Deno.PointerValue,
  bufv: Deno.PointerValue,
  bufStride: number,
): { cookie: number; data: Uint8Array } {
  const id = toSafeNumber(BigInt(Deno.UnsafePointer.value(cookie)), "retrieve cookie");
  if (bufv === null) return { cookie: id, data: new Uint8Array(0) };
  const V = LAYOUT.fuse_bufvec.fields;
  const B = LAYOUT.fuse_buf.fields;
  const pv = new Deno.UnsafePointerView(bufv);
  const count = Number(pv.getBigUint64(V.count.offset));
  const skip = Number(pv.getBigUint64(V.off.offset));
  const parts: Uint8Array[] = [];
  for (let i = Number(pv.getBigUint64(V.idx.offset)); i < count; i++) {
    const at = V.buf.offset + i * bufStride;
    const size = Number(pv.getBigUint64(at + B.size.offset));
    const mem = pv.getPointer(at + B.mem.offset);
    const start = parts.length === 0 ? skip : 0;
    if (mem !== null && size > start) {
      parts.push(copyBytes(Deno.UnsafePointer.offset(mem, start), size - start));
    }
  }
  if (parts.length === 1) return { cookie: id, data: parts[0] };
  const data = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    data.set(p, at);
    at += p.length;
  }
  return { cookie: id, data };
}

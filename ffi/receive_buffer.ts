/**
 * Receive buffers whose memory JS owns. libfuse reads each request into the
 * memory a `struct fuse_buf` points to, and allocates it itself only when
 * that pointer is NULL; pointing it at a Uint8Array of ours lets the
 * callbacks' pointers into the request (names, a write's data, xattr
 * values) be read as subarrays, with no FFI call and no external
 * ArrayBuffer per request.
 *
 * @module
 */

import { FUSE_BUF_ALLOC, LAYOUT } from "./layout.ts";
import type { LibC } from "./libc.ts";

const HEADER = LAYOUT.fuse_in_header;

/** Reading what a callback's pointers point to, for its decoders. */
export interface RequestMemory {
  /**
   * @param ptr a NUL-terminated string (a name, a symlink target)
   * @returns a copy of its bytes, without the NUL
   */
  cString(ptr: Deno.PointerValue): Uint8Array;
  /**
   * @param ptr the bytes
   * @param len how many
   * @returns a copy
   */
  copy(ptr: Deno.PointerValue, len: number): Uint8Array;
  /**
   * Bytes a handler may use after the callback returned (a write's data):
   * a view of the receive buffer, which stays reserved until `release()`,
   * or a copy (`release` null) when they lie elsewhere or too many buffers
   * are reserved already.
   *
   * @param ptr the bytes
   * @param len how many
   * @returns the bytes, and what ends their reservation
   */
  keep(ptr: Deno.PointerValue, len: number): KeptBytes;
  /**
   * A 32-bit member of the request's operation argument, the struct after
   * its `fuse_in_header`, read from the receive buffer itself: for what
   * libfuse does not pass on to the callback (the kill flags of
   * `KILL_SUIDGID` in ffi/layout.ts).
   *
   * @param opcode the opcode the request must have (its header is checked)
   * @param offset the member's offset in the argument struct
   * @returns the member, or null when the request is not in a receive
   *   buffer of ours or has another opcode
   */
  argU32(opcode: number, offset: number): number | null;
}

/** What {@link RequestMemory.keep} returns. */
export interface KeptBytes {
  /** The bytes. */
  readonly bytes: Uint8Array;
  /** Frees the receive buffer they are a view of; null for a copy. */
  readonly release: (() => void) | null;
}

/**
 * libfuse's receive size for callers of `fuse_session_receive_buf`:
 * FUSE_MAX_MAX_PAGES (256) pages plus FUSE_BUFFER_HEADER_SIZE (0x1000),
 * set by `fuse_session_new` and only ever lowered by FUSE_INIT for a caller
 * that owns its buffers (libfuse 3.10 to 3.18; 3.17+ grows it only for its
 * own loops' buffers).
 *
 * @param pageSize the system's page size
 * @returns the bytes every receive buffer must hold
 */
export function receiveBytes(pageSize: number): number {
  return 256 * pageSize + 0x1000;
}

/**
 * One `struct fuse_buf` and the memory libfuse receives requests into.
 *
 * The memory comes from malloc, not from V8: a handler may detach the
 * ArrayBuffer of a view it was given (`buf.buffer.transfer()`, a
 * postMessage transfer list), and V8 would then free memory libfuse still
 * reads into. Detaching this external buffer frees nothing; the next view
 * simply wraps the memory again.
 */
export class ReceiveBuffer {
  /** The `struct fuse_buf` to pass to `fuse_session_receive_buf`/`_process_buf`. */
  readonly struct: Uint8Array<ArrayBuffer> = new Uint8Array(FUSE_BUF_ALLOC);
  readonly #libc: Pick<LibC, "free">;
  readonly #size: number;
  #ptr: Deno.PointerValue;
  readonly #address: number;
  #mem: Uint8Array<ArrayBuffer>;

  /**
   * @param size bytes of memory, at least {@link receiveBytes} (malloc
   *   touches none of it: only what requests fill becomes resident)
   * @param libc for malloc and free
   * @throws {RangeError} if malloc fails
   */
  constructor(size: number, libc: Pick<LibC, "malloc" | "free">) {
    this.#libc = libc;
    this.#size = size;
    this.#ptr = libc.malloc(BigInt(size));
    if (this.#ptr === null) throw new RangeError(`malloc(${size}) failed for a receive buffer`);
    this.#address = Number(Deno.UnsafePointer.value(this.#ptr));
    this.#mem = this.#wrap();
    new DataView(this.struct.buffer).setBigUint64(
      LAYOUT.fuse_buf.fields.mem.offset,
      BigInt(this.#address),
      true,
    );
  }

  #wrap(): Uint8Array<ArrayBuffer> {
    return new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(this.#ptr!, this.#size));
  }

  /** Frees the memory (the session is gone). Idempotent. */
  free(): void {
    if (this.#ptr === null) return;
    this.#libc.free(this.#ptr);
    this.#ptr = null;
    this.#mem = new Uint8Array(0);
  }

  /**
   * Where `ptr` lies in this buffer, if `len` bytes from there do.
   *
   * @param ptr a pointer a callback received
   * @param len how many bytes it covers
   * @returns the offset in the buffer, or -1 when the bytes are elsewhere
   */
  #offset(ptr: Deno.PointerValue, len: number): number {
    if (ptr === null) return -1;
    const at = Number(Deno.UnsafePointer.value(ptr)) - this.#address;
    return at >= 0 && at + len <= this.#memory().length ? at : -1;
  }

  /** The memory, wrapped again if a handler detached a view's buffer (empty once freed). */
  #memory(): Uint8Array<ArrayBuffer> {
    if (this.#mem.length === 0 && this.#ptr !== null) this.#mem = this.#wrap();
    return this.#mem;
  }

  /**
   * A view of `len` request bytes at `ptr`, valid until the buffer receives
   * again.
   *
   * @param ptr where the bytes are
   * @param len how many
   * @returns the view, or null when they are not in this buffer
   */
  view(ptr: Deno.PointerValue, len: number): Uint8Array<ArrayBuffer> | null {
    const at = this.#offset(ptr, len);
    return at < 0 ? null : this.#mem.subarray(at, at + len);
  }

  /**
   * A member of the request last received, which libfuse reads into the
   * start of the buffer (`fuse_in_header`, then the operation's argument).
   *
   * @param opcode the opcode the request must have
   * @param offset the member's offset in the operation's argument
   * @returns the little-endian 32-bit member, or null when the buffer
   *   holds a request with another opcode (or none)
   */
  argU32(opcode: number, offset: number): number | null {
    const mem = this.#memory();
    const at = HEADER.size + offset;
    if (mem.length < at + 4 || u32At(mem, HEADER.fields.opcode.offset) !== opcode) return null;
    return u32At(mem, at);
  }

  /**
   * A copy of the NUL-terminated string at `ptr`, without the NUL.
   *
   * @param ptr where it starts
   * @returns its bytes, or null when it does not start in this buffer or
   *   runs past its end
   */
  cString(ptr: Deno.PointerValue): Uint8Array<ArrayBuffer> | null {
    const at = this.#offset(ptr, 0);
    if (at < 0) return null;
    const end = this.#mem.indexOf(0, at);
    return end < 0 ? null : this.#mem.slice(at, end);
  }
}

/** The little-endian 32-bit word at `at` (the kernel's byte order on every supported CPU). */
function u32At(mem: Uint8Array, at: number): number {
  return (mem[at] | mem[at + 1] << 8 | mem[at + 2] << 16 | mem[at + 3] << 24) >>> 0;
}

/**
 * One libfuse low-level session at the pointer level: creation from argv and
 * an ops struct, mounting, the non-blocking receive/process primitives of the
 * request loop, waiting for the device to become readable, unmounting.
 *
 * @module
 */

import { LAYOUT, NEWEST_VERIFIED_LIBFUSE } from "./layout.ts";
import type { LoadedLibraries } from "./library.ts";
import { captureLibfuseLog, recentLibfuseMessages } from "./log.ts";
import { Poller } from "./poller.ts";
import { copyBytes, copyCString, nulTerminated } from "./codec.ts";
import {
  type KeptBytes,
  ReceiveBuffer,
  receiveBytes,
  type RequestMemory,
} from "./receive_buffer.ts";
import { FuseMountError } from "../core/errors.ts";
import { openDescriptors, parkAutoUnmountSocket } from "./auto_unmount.ts";

const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;
const F_GETFL = 3;
const F_SETFL = 4;
const POLLIN = 1;

/** Receive buffers (about 1 MiB each) write handlers may hold at once before data is copied. */
const MAX_HELD_BUFFERS = 64;

/** What {@link LowLevelSession.receive} found. */
export const Received = {
  /** A request is in the buffer; call `process()`. */
  Request: 0,
  /** The queue is empty (EAGAIN); wait with `waitReadable()`. */
  Empty: 1,
  /** The filesystem was unmounted or the session exited. */
  Closed: 2,
} as const;
/** One of the {@link Received} outcomes. */
export type Received = (typeof Received)[keyof typeof Received];

/** A libfuse release number. */
export interface LibfuseVersion {
  major: number;
  minor: number;
  hotfix: number;
}

/**
 * The version to report to `fuse_session_new_versioned` as the one denofuse
 * was "compiled against": the loaded library's own (denofuse adapts its
 * layouts to it at run time), but never newer than
 * {@link NEWEST_VERIFIED_LIBFUSE}, the newest ABI the layouts were checked
 * against.
 *
 * @param libs the loaded libraries (`version`, and the hotfix from `pkgVersion`)
 * @returns major, minor and hotfix
 */
export function abiVersionFor(
  libs: Pick<LoadedLibraries, "version" | "pkgVersion">,
): LibfuseVersion {
  const hotfix = Number(/^\d+\.\d+\.(\d+)/.exec(libs.pkgVersion)?.[1] ?? 0);
  const loaded = { major: Math.floor(libs.version / 100), minor: libs.version % 100, hotfix };
  const key = (v: LibfuseVersion) => (v.major * 1000 + v.minor) * 1000 + v.hotfix;
  return key(loaded) > key(NEWEST_VERIFIED_LIBFUSE) ? { ...NEWEST_VERIFIED_LIBFUSE } : loaded;
}

/**
 * Encodes a `struct libfuse_version`.
 *
 * @param v the version
 * @returns the struct's bytes (`padding` zero)
 */
export function encodeLibfuseVersion(v: LibfuseVersion): Uint8Array<ArrayBuffer> {
  const { size, fields } = LAYOUT.libfuse_version;
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  view.setUint32(fields.major.offset, v.major, true);
  view.setUint32(fields.minor.offset, v.minor, true);
  view.setUint32(fields.hotfix.offset, v.hotfix, true);
  return bytes;
}

/**
 * A libfuse session owned by JS. It is also the {@link RequestMemory} of
 * the request being processed.
 */
export class LowLevelSession implements RequestMemory {
  readonly #libs: LoadedLibraries;
  readonly #se: Deno.PointerObject;
  /** Bytes of each receive buffer's memory. */
  readonly #receiveBytes: number;
  /**
   * Receive buffers. Requests are received into `#pool[#current]`; a write
   * handler still holding a view of its data pins that buffer, and
   * receiving moves on to another one.
   */
  readonly #pool: ReceiveBuffer[];
  #current = 0;
  /** The buffer whose request {@link process} is dispatching. */
  #processing = 0;
  /** Calls of {@link receive}, to tell whether a held buffer is released before the next one. */
  #receives = 0;
  readonly #pinned = new Set<number>();
  readonly #wakeBytes = new BigUint64Array(1);
  readonly #pollFdsBytes = new Uint8Array(16);
  readonly #pollFds = new DataView(this.#pollFdsBytes.buffer);
  #poller: Poller | null = null;
  #wakeFd = -1;
  #fd = -1;
  #mountpoint = "";
  #mounted = false;
  #destroyed = false;
  /** Whether to park libfuse's auto_unmount control socket after mounting (ffi/auto_unmount.ts). */
  readonly #parkControlSocket: boolean;

  /**
   * Creates the session (`fuse_session_new`), parsing `options` the way
   * libfuse parses `-o opt,opt`.
   *
   * @param libs the loaded libraries
   * @param ops the `fuse_lowlevel_ops` struct
   * @param opsSize its size
   * @param options mount and libfuse options, e.g. `["fsname=hello", "default_permissions"]`
   * @throws {FuseMountError} if libfuse rejects the options
   */
  constructor(
    libs: LoadedLibraries,
    ops: Uint8Array<ArrayBuffer>,
    opsSize: number,
    options: string[],
  ) {
    this.#libs = libs;
    this.#receiveBytes = receiveBytes(libs.libc.getpagesize());
    // libfuse after 3.18 keeps the socket in the session and closes it itself: leave it there.
    this.#parkControlSocket = libs.version <= 318 &&
      options.includes("auto_unmount");
    // libfuse splits -o at commas: a comma (or backslash) inside a value,
    // e.g. fsname=/srv/a,b, is escaped with a backslash (fuse_opt_parse).
    const joined = options.map((o) => o.replace(/[\\,]/g, "\\$&")).join(",");
    const argvStrings = ["denofuse", ...(options.length ? ["-o", joined] : [])].map(
      nulTerminated,
    );
    const argv = new BigUint64Array(argvStrings.length + 1);
    argvStrings.forEach((s, i) =>
      argv[i] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(s)))
    );
    const args = new Uint8Array(LAYOUT.fuse_args.size);
    const av = new DataView(args.buffer);
    av.setInt32(LAYOUT.fuse_args.fields.argc.offset, argvStrings.length, true);
    av.setBigUint64(
      LAYOUT.fuse_args.fields.argv.offset,
      BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(argv))),
      true,
    );
    const { fuse } = libs;
    const se = captureLibfuseLog(libs, () => {
      // libfuse >= 3.17: the versioned entry point (the plain symbol is a
      // compat wrapper that reports "unknown version").
      if (fuse.fuse_session_new_versioned) {
        const version = encodeLibfuseVersion(abiVersionFor(libs));
        return fuse.fuse_session_new_versioned(args, ops, BigInt(opsSize), version, null);
      }
      return fuse.fuse_session_new!(args, ops, BigInt(opsSize), null);
    }, (se) => se === null);
    // libfuse replaced args with its own (possibly allocated) copy; free that.
    fuse.fuse_opt_free_args(args);
    if (se === null) {
      const messages = recentLibfuseMessages();
      const unknown = messages.some((m) => m.includes("unknown option"));
      throw new FuseMountError(
        unknown
          ? `libfuse rejected the mount options [${options.join(", ")}]: ${messages.join(" ")}. ` +
            `Remove the unknown option; see mount.fuse3(8) for the ones libfuse accepts.`
          : `fuse_session_new failed for options [${options.join(", ")}]` +
            (messages.length ? `: ${messages.join(" ").trim()}` : ""),
      );
    }
    this.#se = se;
    this.#pool = [new ReceiveBuffer(this.#receiveBytes, libs.libc)];
  }

  /** The raw session pointer, for notify calls. */
  get pointer(): Deno.PointerObject {
    return this.#se;
  }

  /**
   * Mounts the filesystem and makes the device non-blocking.
   *
   * @param mountpoint an existing directory
   * @throws {FuseMountError} with libfuse's own explanation when mounting fails
   */
  mount(mountpoint: string): void {
    const { fuse, libc } = this.#libs;
    const before = this.#parkControlSocket ? openDescriptors(libc) : null;
    const rc = captureLibfuseLog(
      this.#libs,
      () => fuse.fuse_session_mount(this.#se, nulTerminated(mountpoint)),
      (rc) => rc !== 0,
    );
    if (rc !== 0) {
      const messages = recentLibfuseMessages();
      throw new FuseMountError(
        `mounting ${mountpoint} failed` +
          (messages.length ? `: ${messages.join(" ").trim()}` : "") +
          `. Check that the directory exists, that /dev/fuse is usable (modprobe fuse), ` +
          `and, when not root, that fusermount3 is installed setuid root.`,
      );
    }
    this.#mounted = true;
    this.#mountpoint = mountpoint;
    if (before) parkAutoUnmountSocket(libc, before);
    this.#fd = fuse.fuse_session_fd(this.#se);
    const flags = libc.fcntl(this.#fd, F_GETFL, 0);
    if (flags < 0 || libc.fcntl(this.#fd, F_SETFL, flags | O_NONBLOCK) < 0) {
      throw new FuseMountError(`could not make /dev/fuse fd ${this.#fd} non-blocking`);
    }
    this.#wakeFd = libc.eventfd(0, O_NONBLOCK | O_CLOEXEC);
    if (this.#wakeFd < 0) throw new FuseMountError("eventfd() failed");
    // struct pollfd[2]: the device and the eventfd, both POLLIN.
    this.#pollFds.setInt32(0, this.#fd, true);
    this.#pollFds.setInt16(4, POLLIN, true);
    this.#pollFds.setInt32(8, this.#wakeFd, true);
    this.#pollFds.setInt16(12, POLLIN, true);
  }

  /**
   * Reads the next request into the session's buffer without blocking.
   *
   * @returns whether a request arrived, none is queued, or the session ended
   */
  receive(): Received {
    const { fuse } = this.#libs;
    for (;;) {
      this.#receives++;
      const res = fuse.fuse_session_receive_buf(this.#se, this.#pool[this.#current].struct);
      if (res > 0) return Received.Request;
      if (res === -11 /* EAGAIN */) return Received.Empty;
      if (res === -4 /* EINTR */) continue;
      // 0 or -ENODEV: unmounted; anything else is fatal for the session too.
      return Received.Closed;
    }
  }

  /** Dispatches the received request; handlers' callbacks run synchronously inside. */
  process(): void {
    this.#processing = this.#current;
    this.#libs.fuse.fuse_session_process_buf(this.#se, this.#pool[this.#current].struct);
  }

  /**
   * @param ptr a NUL-terminated string of the request being processed
   * @returns a copy of its bytes, without the NUL
   */
  cString(ptr: Deno.PointerValue): Uint8Array {
    return this.#pool[this.#processing].cString(ptr) ?? copyCString(this.#libs.libc, ptr);
  }

  /**
   * @param ptr bytes of the request being processed
   * @param len how many
   * @returns a copy
   */
  copy(ptr: Deno.PointerValue, len: number): Uint8Array {
    return this.#pool[this.#processing].view(ptr, len)?.slice() ?? copyBytes(ptr, len);
  }

  /**
   * @param ptr bytes of the request being processed
   * @param len how many
   * @returns a view of the receive buffer, reserved until released, or a copy
   */
  keep(ptr: Deno.PointerValue, len: number): KeptBytes {
    const view = this.#pool[this.#processing].view(ptr, len);
    if (view === null) return { bytes: copyBytes(ptr, len), release: null };
    const release = this.#holdProcessingBuffer();
    return release ? { bytes: view, release } : { bytes: view.slice(), release: null };
  }

  /**
   * @param opcode the opcode the request being processed must have
   * @param offset a member's offset in its operation argument
   * @returns the member, or null (see {@link RequestMemory.argU32})
   */
  argU32(opcode: number, offset: number): number | null {
    return this.#pool[this.#processing].argU32(opcode, offset);
  }

  /**
   * Keeps the buffer holding the request being processed from being reused
   * until the returned function is called; later requests are received
   * into another buffer.
   *
   * @returns the release function, or null when too many buffers are held
   *   already (then copy the data instead)
   */
  #holdProcessingBuffer(): (() => void) | null {
    if (this.#pinned.size >= MAX_HELD_BUFFERS) return null;
    const held = this.#processing;
    this.#pinned.add(held);
    let next = this.#pool.findIndex((_, i) => i !== held && !this.#pinned.has(i));
    if (next < 0) {
      next = this.#pool.push(new ReceiveBuffer(this.#receiveBytes, this.#libs.libc)) - 1;
    }
    this.#current = next;
    const receives = this.#receives;
    return () => {
      this.#pinned.delete(held);
      // Released before another request arrived (a synchronous handler):
      // receive into the same buffer again, which is still in the CPU's
      // cache, instead of alternating between two 1 MiB buffers.
      if (this.#receives === receives) this.#current = held;
    };
  }

  /** Whether libfuse considers the session exited. */
  exited(): boolean {
    return this.#libs.fuse.fuse_session_exited(this.#se) !== 0;
  }

  /**
   * Waits on this thread, blocking it, at most `timeoutMs` for the device
   * to become readable (or for {@link wake}, whose wake-up it consumes).
   * Cheaper than {@link waitReadable} when a request is about to arrive:
   * no hand-off through the poll thread and the event loop.
   *
   * @param timeoutMs the longest the thread may be blocked
   * @returns whether the device is readable (or hung up) or a wake-up came
   */
  waitBriefly(timeoutMs: number): boolean {
    const { libc } = this.#libs;
    const fds = this.#pollFds;
    fds.setInt16(6, 0, true);
    fds.setInt16(14, 0, true);
    if (libc.poll(this.#pollFdsBytes, 2n, timeoutMs) <= 0) return false;
    if (fds.getInt16(14, true) !== 0) libc.read(this.#wakeFd, this.#wakeBytes, 8n);
    return true;
  }

  /**
   * Waits on a dedicated thread (see ffi/poller.ts) until a request may be
   * queued or {@link wake} was called. The JS thread stays free meanwhile.
   *
   * @returns resolves when the device is readable (or hung up) or on wake-up
   */
  waitReadable(): Promise<void> {
    return this.startPollThread().wait();
  }

  /**
   * Starts the poll thread unless it runs. Call from the thread that
   * serves the mount, before that thread first lets other code run: the
   * poll thread also hosts the guard against that thread blocking on its
   * own mount (ffi/poller.ts).
   *
   * @returns the poll thread
   */
  startPollThread(): Poller {
    // gettid() here: this is the thread that serves the mount (a Worker's, for mountInWorker).
    this.#poller ??= new Poller(
      this.#fd,
      this.#wakeFd,
      this.#libs.libc.gettid?.() ?? Deno.pid,
      this.#mountpoint,
    );
    return this.#poller;
  }

  /**
   * Ends the poll thread (after a pending wait was woken). Idempotent; a later
   * {@link waitReadable} starts a new one.
   */
  stopWaiting(): void {
    this.wake();
    this.#poller?.stop();
    this.#poller = null;
  }

  /** Interrupts a pending {@link waitReadable}. Safe to call at any time. */
  wake(): void {
    if (this.#wakeFd < 0) return;
    this.#wakeBytes[0] = 1n;
    this.#libs.libc.write(this.#wakeFd, this.#wakeBytes, 8n);
  }

  /**
   * Unmounts (lazily, so busy mounts detach too). Idempotent.
   */
  unmount(): void {
    if (!this.#mounted) return;
    this.#mounted = false;
    captureLibfuseLog(this.#libs, () => this.#libs.fuse.fuse_session_unmount(this.#se));
  }

  /**
   * Frees the session. Must not be called while {@link waitReadable} is
   * pending. Idempotent.
   */
  destroy(): void {
    if (this.#destroyed) return;
    if (this.#poller?.waiting) {
      throw new Error("LowLevelSession.destroy() while waitReadable() is pending");
    }
    this.stopWaiting();
    this.#destroyed = true;
    captureLibfuseLog(this.#libs, () => this.#libs.fuse.fuse_session_destroy(this.#se));
    for (const buffer of this.#pool) buffer.free();
    if (this.#wakeFd >= 0) this.#libs.libc.close(this.#wakeFd);
    this.#wakeFd = -1;
    this.#fd = -1;
  }
}

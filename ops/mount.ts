/**
 * A mounted filesystem and its request loop.
 *
 * The loop runs on the JS thread inside Deno's event loop (see
 * docs/request_loop.md): with `/dev/fuse` non-blocking it drains every
 * queued request synchronously — libfuse calls our callbacks from inside
 * `fuse_session_process_buf` — and only when the queue is empty parks in a
 * `poll()` that runs on a Deno worker thread, leaving the JS thread free for
 * handlers' own I/O.
 *
 * @module
 */

import { buildLowLevelOps, type LowLevelOps } from "../ffi/lowlevel_ops.ts";
import { acquireLibraries, type LoadedLibraries, releaseLibraries } from "../ffi/library.ts";
import { Replier } from "../ffi/reply.ts";
import { InvalidReplyError } from "../ffi/codec.ts";
import { LowLevelSession, Received } from "../ffi/session.ts";
import { buildDispatch, type DispatchHost } from "./dispatch.ts";
import type { Operations } from "./operations.ts";
import { FuseMountError, FuseStateError } from "../utils/errors.ts";
import { checkMountpoint, normalizeOptions } from "../utils/preflight.ts";

/** Requests handled back to back before the loop lets timers and I/O run. */
const DRAIN_BUDGET = 256;

/** How long {@link FuseMount.serve} waits for running handlers after termination. */
const DEFAULT_GRACE_MS = 5000;

/** Options of {@link FuseMount.open}. */
export interface FuseMountOptions {
  /**
   * Stop serving and unmount on SIGINT and SIGTERM while serving
   * (default true).
   */
  handleSignals?: boolean;
  /**
   * Milliseconds to wait, after termination, for handlers still running
   * before giving up on their replies (default 5000).
   */
  graceMs?: number;
}

/**
 * One mounted filesystem: a libfuse session, its callbacks and its loop.
 * Several can be open in one process.
 */
export class FuseMount implements DispatchHost {
  /** The loaded libraries. */
  readonly libs: LoadedLibraries;
  /** The reply layer. */
  readonly replier: Replier;
  /** The directory this filesystem is mounted on. */
  readonly mountpoint: string;
  readonly #session: LowLevelSession;
  readonly #lowlevel: LowLevelOps;
  readonly #options: Required<FuseMountOptions>;
  #alive = true;
  #terminating = false;
  #serving: Promise<void> | null = null;
  #inflight = 0;
  #idle: (() => void) | null = null;

  private constructor(
    ops: Operations,
    mountpoint: string,
    mountOptions: string[],
    options: FuseMountOptions,
  ) {
    this.libs = acquireLibraries();
    this.replier = new Replier(this.libs);
    this.mountpoint = mountpoint;
    this.#options = {
      handleSignals: options.handleSignals ?? true,
      graceMs: options.graceMs ?? DEFAULT_GRACE_MS,
    };
    this.#lowlevel = buildLowLevelOps(buildDispatch(ops, this));
    try {
      this.#session = new LowLevelSession(
        this.libs,
        this.#lowlevel.struct,
        this.#lowlevel.size,
        mountOptions,
      );
    } catch (error) {
      this.#lowlevel.close();
      releaseLibraries();
      throw error;
    }
    try {
      this.#session.mount(mountpoint);
    } catch (error) {
      this.#session.destroy();
      this.#lowlevel.close();
      releaseLibraries();
      throw error;
    }
  }

  /**
   * Creates a session for `ops` and mounts it on `mountpoint`. Requests are
   * not served until {@link serve} runs (the kernel's first access waits
   * for it).
   *
   * @param ops the filesystem
   * @param mountpoint an existing, empty directory that is not a mount point
   * @param mountOptions libfuse/mount options such as `"fsname=x"`, `"allow_other"`
   * @param options loop behaviour
   * @returns the mounted filesystem
   * @throws {FuseLoadError} if libfuse3 cannot be loaded
   * @throws {FuseMountError} naming the problem (mountpoint, /dev/fuse, options) and its fix
   */
  static open(
    ops: Operations,
    mountpoint: string,
    mountOptions: Iterable<string>,
    options: FuseMountOptions = {},
  ): FuseMount {
    if (ops === null || typeof ops !== "object") {
      throw new TypeError("denofuse: the operations must be an object implementing Operations");
    }
    const opts = normalizeOptions(mountOptions);
    const path = checkMountpoint(mountpoint);
    return new FuseMount(ops, path, opts, options);
  }

  /** False once the session is destroyed. */
  get alive(): boolean {
    return this.#alive;
  }

  /** Whether {@link serve} is running. */
  get serving(): boolean {
    return this.#serving !== null;
  }

  /** The raw session, for notifications. @internal */
  get session(): LowLevelSession {
    return this.#session;
  }

  /** @internal */
  requestStarted(): void {
    this.#inflight++;
  }

  /** @internal */
  requestFinished(): void {
    if (--this.#inflight === 0 && this.#idle) this.#idle();
  }

  /** @internal */
  logHandlerError(op: string, error: unknown): void {
    if (error instanceof InvalidReplyError) {
      console.error(
        `denofuse: the ${op} handler returned an invalid value (${error.message}); replying EIO`,
      );
    } else {
      console.error(`denofuse: the ${op} handler failed; replying EIO:`, error);
    }
  }

  /**
   * Serves requests until {@link terminate} is called, the filesystem is
   * unmounted (e.g. `fusermount3 -u`), or, with signal handling on, SIGINT
   * or SIGTERM arrives. Then waits (up to the grace period) for handlers
   * still running.
   *
   * @returns resolves when serving has stopped
   * @throws {FuseStateError} if already serving or closed
   */
  serve(): Promise<void> {
    if (!this.#alive) throw new FuseStateError("serve() after close(): open a new mount");
    if (this.#serving) {
      throw new FuseStateError("serve() called twice: the loop is already running");
    }
    this.#serving = this.#serve().finally(() => {
      this.#serving = null;
    });
    return this.#serving;
  }

  async #serve(): Promise<void> {
    const stop = () => this.terminate();
    const signals: Deno.Signal[] = this.#options.handleSignals ? ["SIGINT", "SIGTERM"] : [];
    for (const sig of signals) Deno.addSignalListener(sig, stop);
    try {
      await this.#loop();
      await this.#waitForHandlers();
    } finally {
      for (const sig of signals) Deno.removeSignalListener(sig, stop);
    }
  }

  async #loop(): Promise<void> {
    const session = this.#session;
    while (!this.#terminating) {
      let handled = 0;
      let got: Received;
      while ((got = session.receive()) === Received.Request) {
        session.process();
        if (++handled === DRAIN_BUDGET) break;
      }
      if (got === Received.Closed || session.exited()) return;
      if (got === Received.Request) {
        // Budget used up with requests still queued: let timers and I/O run.
        await new Promise((resolve) => setTimeout(resolve, 0));
      } else {
        await session.waitReadable();
      }
    }
  }

  async #waitForHandlers(): Promise<void> {
    if (this.#inflight === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      new Promise<void>((resolve) => this.#idle = resolve),
      new Promise<void>((resolve) => timer = setTimeout(resolve, this.#options.graceMs)),
    ]);
    clearTimeout(timer);
    this.#idle = null;
    if (this.#inflight > 0) {
      console.error(
        `denofuse: ${this.#inflight} request(s) on ${this.mountpoint} were still being handled ` +
          `${this.#options.graceMs} ms after termination; their replies are dropped`,
      );
    }
  }

  /**
   * Asks {@link serve} to stop. Safe to call from a handler, a signal
   * listener, or when not serving.
   */
  terminate(): void {
    this.#terminating = true;
    this.#session.wake();
  }

  /**
   * Unmounts (unless `unmount` is false) and frees the session. Call after
   * {@link serve} has resolved.
   *
   * @param options `unmount: false` leaves the kernel mount in place (it
   *   then fails with ENOTCONN until unmounted)
   * @throws {FuseStateError} while still serving
   */
  close(options: { unmount?: boolean } = {}): void {
    if (!this.#alive) return;
    if (this.#serving) {
      throw new FuseStateError("close() while serving: call terminate() and await serve() first");
    }
    this.#alive = false;
    try {
      if (options.unmount ?? true) this.#session.unmount();
    } finally {
      this.#session.destroy();
      this.#lowlevel.close();
      releaseLibraries();
    }
  }
}

export { FuseMountError };

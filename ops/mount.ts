/**
 * A mounted filesystem's lifecycle: load libfuse, create and mount the
 * session, serve (ops/loop.ts) until terminated or unmounted, wait for the
 * handlers still running, unmount and free everything exactly once. The
 * dispatcher (ops/dispatch.ts) and the notifications (ops/notifications.ts)
 * reach the mount through small interfaces it implements.
 *
 * @module
 */

import { buildLowLevelOps, type LowLevelOps } from "../ffi/lowlevel_ops.ts";
import { acquireLibraries, type LoadedLibraries, releaseLibraries } from "../ffi/library.ts";
import { Replier } from "../ffi/reply.ts";
import { InvalidReplyError } from "../ffi/codec.ts";
import { decodeRetrieveReply, Notifier } from "../ffi/notify.ts";
import { serveRequests } from "./loop.ts";
import { MountNotifications, type NotificationOwner } from "./notifications.ts";
import type { NegotiatedConn } from "../ffi/conn.ts";
import { InterruptHub } from "../ffi/interrupt.ts";
import { BackingFileCalls } from "../ffi/passthrough.ts";
import { KernelPassthrough } from "./passthrough.ts";
import type { PollHandle } from "./poll.ts";
import { type OperationStats, RequestStats } from "./stats.ts";
import { RequestTracer } from "./trace.ts";
import { LowLevelSession } from "../ffi/session.ts";
import type { RequestMemory } from "../ffi/receive_buffer.ts";
import { buildDispatch, type DispatchHost, hasPosixLocks } from "./dispatch.ts";
import type { Operations } from "./operations.ts";
import { FuseMountError, FuseStateError, isReplyErrno } from "../core/errors.ts";
import { DeadlineWatch } from "./deadlines.ts";
import { errno, errnoName } from "../core/errno.ts";
import { accessErrno } from "../ffi/process.ts";
import { checkMountpoint, normalizeOptions } from "./preflight.ts";

/** How long {@link FuseMount.serve} waits for running handlers after termination. */
const DEFAULT_GRACE_MS = 5000;

/** Options of {@link FuseMount.open}. */
export interface FuseMountOptions {
  /**
   * Stop serving and unmount on SIGINT and SIGTERM (default true). The
   * listeners are in place from before the mount until close, so a signal
   * that arrives before serving starts makes serving return at once.
   */
  handleSignals?: boolean;
  /**
   * Milliseconds to wait, after termination, for handlers still running
   * before giving up on their replies (default 5000).
   */
  graceMs?: number;
  /**
   * Log every request and reply (operation, sequence number, arguments,
   * result, latency) to stderr, like libfuse's `-d`. Defaults to on when the
   * environment variable `DENOFUSE_DEBUG` is set to a non-empty value other
   * than "0" (read only with `--allow-env`); off costs nothing.
   */
  debug?: boolean;
  /**
   * Milliseconds a handler has to settle (default: no deadline). A request
   * still pending then is answered with {@link deadlineErrno} in the
   * handler's place, its `ctx.signal` aborts (reason: a `TimeoutError`
   * DOMException), one line naming the operation and inode is logged, and
   * whatever the handler settles with later is dropped: the caller gets
   * an error instead of waiting for a dead backend or a lost callback.
   * It cannot stop a handler that never yields (a synchronous endless
   * loop): where libfuse 3.18 and the kernel support it, the kernel's own
   * request timeout is set as the backstop (see the README's "Request
   * deadlines"). Requests that take no reply (FORGET) have no deadline.
   */
  deadlineMs?: number;
  /** The errno a request past its deadline is answered with (default EIO). */
  deadlineErrno?: number;
}

/** The environment variable that turns debug logging on. */
export const DEBUG_ENV = "DENOFUSE_DEBUG";

function debugFromEnv(): boolean {
  try {
    const v = Deno.env.get(DEBUG_ENV);
    return v !== undefined && v !== "" && v !== "0";
  } catch {
    return false;
  }
}

/** The deadline `options` ask for, checked. */
function deadlineWatch(options: FuseMountOptions): DeadlineWatch | null {
  const { deadlineMs, deadlineErrno = errno.EIO } = options;
  if (deadlineMs === undefined) return null;
  if (!(deadlineMs > 0) || !Number.isFinite(deadlineMs)) {
    throw new RangeError(`deadlineMs must be a positive number of milliseconds, got ${deadlineMs}`);
  }
  if (!isReplyErrno(deadlineErrno)) {
    throw new RangeError(
      `deadlineErrno must be an errno to answer with (e.g. errno.EIO), got ${deadlineErrno}`,
    );
  }
  return new DeadlineWatch(deadlineMs, deadlineErrno);
}

/** The error for an unusable /dev/fuse, given access(2)'s errno. */
function devFuseProblem(err: number): FuseMountError | undefined {
  if (err === errno.ENOENT) {
    return new FuseMountError(
      "/dev/fuse does not exist: load the FUSE kernel module (modprobe fuse) or, in a " +
        "container, pass the device in (docker run --device /dev/fuse --cap-add SYS_ADMIN)",
    );
  }
  if (err === errno.EACCES || err === errno.EPERM) {
    return new FuseMountError(
      `/dev/fuse is not readable and writable by this process (${errnoName(err)}): ` +
        `fix its permissions (it is normally mode 0666) or run as root; in a container ` +
        `pass --device /dev/fuse`,
    );
  }
  return undefined;
}

/**
 * One mounted filesystem: a libfuse session, its callbacks and its loop.
 * Several can be open in one process.
 */
export class FuseMount implements DispatchHost, NotificationOwner {
  /** The loaded libraries. */
  readonly libs: LoadedLibraries;
  /** The reply layer. */
  readonly replier: Replier;
  /** Interrupt signals of requests. @internal */
  readonly interrupts: InterruptHub;
  /** The directory this filesystem is mounted on. */
  readonly mountpoint: string;
  readonly #session: LowLevelSession;
  readonly #lowlevel: LowLevelOps;
  readonly #options: Required<
    Omit<FuseMountOptions, "debug" | "deadlineMs" | "deadlineErrno">
  >;
  /** The request deadline, when the mount has one. @internal */
  readonly deadlines: DeadlineWatch | null;
  /** Per-operation statistics. @internal */
  readonly stats = new RequestStats();
  /** Request tracing when debug logging is on. @internal */
  readonly tracer: RequestTracer | null;
  #alive = true;
  #terminating = false;
  #serving: Promise<void> | null = null;
  #inflight = 0;
  #idle: (() => void) | null = null;
  /** Cache invalidation and the other notifications to the kernel. */
  readonly notifications: MountNotifications;
  #destroyWhenIdle = false;
  #connection: NegotiatedConn | undefined;
  readonly #pollHandles = new Set<PollHandle>();
  readonly #warned = new Set<string>();
  /** Kernel passthrough's backing ids, when the filesystem enabled it. @internal */
  readonly passthrough: KernelPassthrough | null;

  private constructor(
    ops: Operations,
    mountpoint: string,
    mountOptions: string[],
    options: FuseMountOptions,
  ) {
    // What was set up so far, undone in reverse if a later step throws.
    const undo: Array<() => void> = [];
    try {
      this.libs = acquireLibraries();
      undo.push(releaseLibraries);
      const devError = devFuseProblem(accessErrno(this.libs, "/dev/fuse"));
      if (devError) throw devError;
      // Skip FLUSH on close unless something needs it: a flush handler, or
      // POSIX locks (which are dropped at flush).
      this.replier = new Replier(this.libs, typeof ops.flush !== "function" && !hasPosixLocks(ops));
      this.interrupts = new InterruptHub(this.libs);
      undo.push(() => this.interrupts.close());
      this.mountpoint = mountpoint;
      this.#options = {
        handleSignals: options.handleSignals ?? true,
        graceMs: options.graceMs ?? DEFAULT_GRACE_MS,
      };
      this.deadlines = deadlineWatch(options);
      undo.push(() => this.deadlines?.close());
      this.tracer = (options.debug ?? debugFromEnv())
        ? new RequestTracer((line) => console.error(line))
        : null;
      this.#lowlevel = buildLowLevelOps(buildDispatch(ops, this), this.libs.version);
      undo.push(() => this.#lowlevel.close());
      const session = new LowLevelSession(
        this.libs,
        this.#lowlevel.struct,
        this.#lowlevel.size,
        mountOptions,
      );
      this.#session = session;
      // unmount() first: a failure after the mount itself must not leave it behind, dead.
      undo.push(() => {
        session.unmount();
        session.destroy();
      });
      this.notifications = new MountNotifications(new Notifier(this.libs, session.pointer), this);
      this.passthrough = ops.enableKernelPassthrough === true
        ? new KernelPassthrough(
          new BackingFileCalls(this.libs, session.pointer),
          this.tracer ? (req, text) => this.tracer!.note(req, text) : null,
          (reason) => this.#passthroughTurnedOff(reason),
        )
        : null;
      // Listen before mounting: a signal that arrived between the mount and
      // serve() took the default action and left the mount behind, dead.
      this.#listenForSignals(true);
      undo.push(() => this.#listenForSignals(false));
      session.mount(mountpoint);
    } catch (error) {
      for (const step of undo.reverse()) step();
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

  /** @internal */
  requestStarted(): void {
    this.#inflight++;
  }

  /** @internal */
  requestFinished(): void {
    this.#inflight--;
    this.#settled();
  }

  /**
   * Request statistics so far: per operation, how many were answered, how
   * many with an error, and latency percentiles in microseconds.
   *
   * @returns a snapshot keyed by handler name
   */
  statistics(): Record<string, OperationStats> {
    return this.stats.snapshot();
  }

  /**
   * What the kernel and libfuse agreed in FUSE_INIT (protocol version,
   * capability bits, request sizes); undefined until the kernel has
   * connected, which happens once serving starts.
   */
  get connection(): NegotiatedConn | undefined {
    return this.#connection;
  }

  /** @internal */
  connected(conn: NegotiatedConn): void {
    this.#connection = conn;
    this.passthrough?.connected(conn.passthrough, conn.passthroughFallback);
  }

  /** The kernel refused passthrough after FUSE_INIT: the connection info says so from now on. */
  #passthroughTurnedOff(reason: string): void {
    if (!this.#connection) return;
    this.#connection = { ...this.#connection, passthrough: false, passthroughFallback: reason };
  }

  /** @internal */
  retrieveReply(cookie: Deno.PointerValue, bufv: Deno.PointerValue): void {
    const { cookie: id, data } = decodeRetrieveReply(this.libs.fuse, cookie, bufv);
    this.notifications.retrieved(id, data);
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

  /** @internal */
  logDeadline(op: string, target: string, ms: number, err: number): void {
    console.error(
      `denofuse: the ${op} handler (${target}) did not settle within ${ms} ms on ` +
        `${this.mountpoint}; replied ${errnoName(err)}, its late result will be dropped`,
    );
  }

  /** @internal */
  warnOnce(key: string, message: string): void {
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    console.error(`denofuse: ${message}`);
  }

  /** @internal */
  logReplyRefused(op: string, err: number): void {
    console.error(
      `denofuse: the reply to a ${op} request on ${this.mountpoint} was not delivered ` +
        `(${errnoName(err)}); its caller waits until it is interrupted`,
    );
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
    try {
      await serveRequests(this.#session, this);
      await this.#waitForHandlers();
    } finally {
      this.#session.stopWaiting();
    }
  }

  /**
   * With signal handling on, SIGINT and SIGTERM terminate serving (or, before
   * serve(), make it return at once) from the mount until close().
   */
  #listenForSignals(on: boolean): void {
    if (!this.#options.handleSignals) return;
    for (const sig of ["SIGINT", "SIGTERM"] as const) {
      if (on) Deno.addSignalListener(sig, this.#onSignal);
      else Deno.removeSignalListener(sig, this.#onSignal);
    }
  }

  readonly #onSignal = (): void => this.terminate();

  /** Whether terminate() was called. @internal */
  get terminating(): boolean {
    return this.#terminating;
  }

  /** Requests whose asynchronous handlers have not answered yet. @internal */
  get inflight(): number {
    return this.#inflight;
  }

  /** @internal */
  notificationFinished(): void {
    this.#settled();
  }

  #settled(): void {
    const notifying = this.notifications.pending;
    if (this.#inflight === 0 && notifying === 0) this.#idle?.();
    if (notifying === 0 && this.#destroyWhenIdle) this.#destroy();
  }

  async #waitForHandlers(): Promise<void> {
    if (this.#inflight === 0 && this.notifications.pending === 0) return;
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
    this.notifications.abandonRetrieves();
    // While the session's device descriptor is open: unmounting closes it.
    // Files still open (a lazy unmount) keep their own backing references.
    this.passthrough?.closeAll();
    try {
      if (options.unmount ?? true) this.#session.unmount();
    } finally {
      // A notification still running on a worker thread uses the session.
      if (this.notifications.pending > 0) this.#destroyWhenIdle = true;
      else this.#destroy();
    }
  }

  #destroy(): void {
    this.#destroyWhenIdle = false;
    this.deadlines?.close();
    this.#listenForSignals(false);
    for (const handle of [...this.#pollHandles]) handle.release();
    this.#session.destroy();
    this.#lowlevel.close();
    this.interrupts.close();
    releaseLibraries();
  }

  /** @internal */
  get request(): RequestMemory {
    return this.#session;
  }

  /** @internal */
  pollHandleCreated(handle: PollHandle): void {
    this.#pollHandles.add(handle);
  }

  /** @internal */
  pollHandleDone(handle: PollHandle): void {
    this.#pollHandles.delete(handle);
  }

  /** @internal */
  notifyPollHandle(ptr: Deno.PointerObject): number {
    return this.#alive ? this.replier.notifyPoll(ptr) : 0;
  }

  /** @internal */
  destroyPollHandle(ptr: Deno.PointerObject): void {
    this.replier.destroyPollHandle(ptr);
  }
}

export { FuseMountError };

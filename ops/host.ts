/**
 * What the dispatcher needs from the mount that owns it. Kept apart from
 * the mount so that the dispatcher and the request table depend on this
 * small interface, and tests can provide a fake one without a mount.
 *
 * @module
 */

import type { NegotiatedConn } from "../ffi/conn.ts";
import type { InterruptHub } from "../ffi/interrupt.ts";
import type { RequestMemory } from "../ffi/receive_buffer.ts";
import type { ReplySink } from "../ffi/reply.ts";
import type { DeadlineWatch } from "./deadlines.ts";
import type { KernelPassthrough } from "./passthrough.ts";
import type { PollHandle, PollHost } from "./poll.ts";
import type { RequestStats } from "./stats.ts";
import type { RequestTracer } from "./trace.ts";

/** The dispatcher's view of its mount. */
export interface DispatchHost extends PollHost {
  /** Sends replies. */
  readonly replier: ReplySink;
  /** Interrupt signals of requests. */
  readonly interrupts: Pick<InterruptHub, "signalFor" | "done" | "abort">;
  /** Reads what the request's pointers point to (names, a write's data). */
  readonly request: RequestMemory;
  /** Receives each new poll handle (so unmount can free it). */
  pollHandleCreated(handle: PollHandle): void;
  /** False once the session is destroyed: late replies must not reach libfuse. */
  readonly alive: boolean;
  /** Called when a request starts waiting for an asynchronous handler. */
  requestStarted(): void;
  /** Called when that request has been answered. */
  requestFinished(): void;
  /**
   * Kernel passthrough's backing ids, when the filesystem enabled it
   * (absent or null otherwise).
   */
  readonly passthrough?: KernelPassthrough | null;
  /** Receives what FUSE_INIT negotiated. */
  connected(conn: NegotiatedConn): void;
  /** What FUSE_INIT negotiated; undefined before (and in tests without a kernel). */
  readonly connection?: NegotiatedConn;
  /** Receives the answer to a notifyRetrieve. */
  retrieveReply(cookie: Deno.PointerValue, bufv: Deno.PointerValue): void;
  /** Per-operation statistics. */
  readonly stats: RequestStats;
  /** Request tracing, when debug logging is on. */
  readonly tracer: RequestTracer | null;
  /** Reports a handler failure (logged with its stack). */
  logHandlerError(op: string, error: unknown): void;
  /** Reports a reply to `op` that libfuse could not deliver, with the errno it got. */
  logReplyRefused(op: string, err: number): void;
  /** The mount's request deadline, when it has one. */
  readonly deadlines?: DeadlineWatch | null;
  /** Reports a request answered by the deadline in its handler's place. */
  logDeadline(op: string, target: string, ms: number, err: number): void;
  /** Logs a warning about how the filesystem answers, once per mount and `key`. */
  warnOnce(key: string, message: string): void;
}

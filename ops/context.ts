/**
 * The `RequestContext` handed to handlers: the caller's ids, read lazily
 * (most handlers never look), the interrupt signal and the kernel's
 * set-id kill flag.
 *
 * @module
 */

import { type CallerIds, decodeCtx } from "../ffi/codec.ts";
import type { InterruptHub } from "../ffi/interrupt.ts";
import type { ReplySink, RequestPointer } from "../ffi/reply.ts";
import type { RequestContext } from "../core/types.ts";

const NEVER = new AbortController().signal;

/** What a context needs of the interrupt hub. */
export type Interrupts = Pick<InterruptHub, "signalFor" | "done" | "abort">;

/** One request's context; valid until the request is answered. */
export class Context implements RequestContext {
  #req: RequestPointer | null;
  #ids: CallerIds | undefined;
  #signal: AbortSignal | undefined;
  readonly #replier: ReplySink;
  readonly #interrupts: Interrupts;
  /**
   * Whether the kernel asks to clear set-id bits: set from the request by
   * the dispatcher before the handler runs, for the requests that carry the
   * flag (see {@link RequestContext.killSuidgid}).
   */
  killSuidgid: boolean | undefined = undefined;

  /**
   * @param req the request
   * @param replier for `fuse_req_ctx`
   * @param interrupts for the signal
   */
  constructor(req: RequestPointer, replier: ReplySink, interrupts: Interrupts) {
    this.#req = req;
    this.#replier = replier;
    this.#interrupts = interrupts;
  }

  #caller(): CallerIds {
    // libfuse frees the request (and its ctx) with the reply; ids read
    // after that come back as zeros rather than from freed memory.
    this.#ids ??= this.#req ? decodeCtx(this.#replier.ctxPointer(this.#req)) : {
      uid: 0,
      gid: 0,
      pid: 0,
      umask: 0,
    };
    return this.#ids;
  }

  /** Effective user id of the caller. */
  get uid(): number {
    return this.#caller().uid;
  }
  /** Effective group id of the caller. */
  get gid(): number {
    return this.#caller().gid;
  }
  /** Process id of the caller. */
  get pid(): number {
    return this.#caller().pid;
  }
  /** The caller's umask. */
  get umask(): number {
    return this.#caller().umask;
  }
  /** Aborted when the kernel interrupts the request. */
  get signal(): AbortSignal {
    if (!this.#signal) {
      this.#signal = this.#req ? this.#interrupts.signalFor(this.#req) : NEVER;
    }
    return this.#signal;
  }

  /**
   * Aborts the signal with `reason`, if the handler asked for it (the
   * request's deadline passed). @internal
   */
  abort(reason: unknown): void {
    if (this.#req !== null && this.#signal) this.#interrupts.abort(this.#req, reason);
  }

  /** Called when the request has been answered. @internal */
  finish(): void {
    if (this.#req === null) return;
    if (this.#signal) this.#interrupts.done(this.#req);
    this.#req = null;
  }
}

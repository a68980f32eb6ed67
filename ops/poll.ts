/**
 * Poll handles: how a filesystem wakes up processes waiting in poll(2),
 * select(2) or epoll on one of its files.
 *
 * @module
 */

import { FuseStateError } from "../core/errors.ts";

/** What a poll handle needs from its mount. @internal */
export interface PollHost {
  /** fuse_lowlevel_notify_poll; returns 0 or a positive errno. */
  notifyPollHandle(ptr: Deno.PointerObject): number;
  /** fuse_pollhandle_destroy. */
  destroyPollHandle(ptr: Deno.PointerObject): void;
  /** Forgets a handle that was notified or released. */
  pollHandleDone(handle: PollHandle): void;
}

/**
 * The kernel's request to be told when a file becomes ready, handed to the
 * `poll` handler. Keep it, and call {@link notifyPoll} (or `notify()`) once
 * the readiness the kernel asked about may have changed; the kernel then
 * polls again, with a new handle. Call `release()` to drop a handle without
 * notifying. Handles still held at unmount are released.
 */
export class PollHandle {
  #ptr: Deno.PointerObject | null;
  readonly #host: PollHost;

  /**
   * @param ptr the `struct fuse_pollhandle *`
   * @param host the owning mount
   * @internal
   */
  constructor(ptr: Deno.PointerObject, host: PollHost) {
    this.#ptr = ptr;
    this.#host = host;
  }

  /** Whether the handle can still be notified. */
  get active(): boolean {
    return this.#ptr !== null;
  }

  /**
   * Wakes the pollers and frees the handle.
   *
   * @throws {FuseStateError} if already notified or released
   */
  notify(): void {
    const ptr = this.#take("notify");
    try {
      this.#host.notifyPollHandle(ptr);
    } finally {
      this.#host.destroyPollHandle(ptr);
    }
  }

  /** Frees the handle without notifying. Idempotent. */
  release(): void {
    if (this.#ptr === null) return;
    this.#host.destroyPollHandle(this.#take("release"));
  }

  #take(what: string): Deno.PointerObject {
    const ptr = this.#ptr;
    if (ptr === null) throw new FuseStateError(`PollHandle.${what}() after notify() or release()`);
    this.#ptr = null;
    this.#host.pollHandleDone(this);
    return ptr;
  }
}

/**
 * Tells the kernel that a polled file's readiness may have changed
 * (`fuse_lowlevel_notify_poll`), and frees the handle.
 *
 * @param handle the handle the `poll` handler received
 * @throws {FuseStateError} if the handle was already notified or released
 * @example
 * ```ts
 * import { notifyPoll, type PollHandle } from "../mod.ts";
 * const waiting: PollHandle[] = [];
 * function dataArrived() {
 *   for (const h of waiting.splice(0)) notifyPoll(h);
 * }
 * dataArrived();
 * ```
 */
export function notifyPoll(handle: PollHandle): void {
  handle.notify();
}

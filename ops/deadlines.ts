/**
 * Request deadlines: a request whose handler has not settled within the
 * mount's `deadlineMs` is answered with the mount's `deadlineErrno`, and
 * whatever the handler settles with later is dropped, so each request
 * still gets exactly one reply.
 *
 * Every watched request has the same deadline, so the requests expire in
 * the order they started: a `Set` (insertion-ordered) holds the pending
 * ones, a settled request leaves it at once (memory follows the requests
 * in flight, not the request rate), and one timer at a time sweeps it from
 * the oldest, stopping at the first that still has time.
 *
 * @module
 */

/** One watched request, from its handler's start until it settles or expires. */
export class PendingRequest {
  /** `performance.now()` at which it expires. */
  readonly expiresAt: number;
  readonly #onExpire: () => void;
  readonly #watch: DeadlineWatch;
  #open = true;

  constructor(watch: DeadlineWatch, expiresAt: number, onExpire: () => void) {
    this.#watch = watch;
    this.expiresAt = expiresAt;
    this.#onExpire = onExpire;
  }

  /**
   * The handler settled.
   *
   * @returns true when its reply is still to be sent, false when the
   *   deadline already answered the request
   */
  settle(): boolean {
    if (!this.#open) return false;
    this.#open = false;
    this.#watch.forget(this);
    return true;
  }

  /** Answers the request in the handler's place (called by the watch). @internal */
  expire(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#onExpire();
  }
}

/** The deadline of one mount. */
export class DeadlineWatch {
  /** Milliseconds a handler has. */
  readonly ms: number;
  /** The errno an expired request is answered with. */
  readonly errno: number;
  readonly #pending = new Set<PendingRequest>();
  #timer: ReturnType<typeof setTimeout> | undefined;

  /**
   * @param ms milliseconds a handler has (a positive number)
   * @param errno the errno an expired request is answered with
   */
  constructor(ms: number, errno: number) {
    this.ms = ms;
    this.errno = errno;
  }

  /** Requests being watched. */
  get size(): number {
    return this.#pending.size;
  }

  /**
   * Starts watching a request whose handler returned a pending promise.
   *
   * @param onExpire answers the request when the deadline passes first
   * @returns the request's entry: call `settle()` when the handler settles
   */
  watch(onExpire: () => void): PendingRequest {
    const entry = new PendingRequest(this, performance.now() + this.ms, onExpire);
    this.#pending.add(entry);
    if (this.#timer === undefined) this.#arm(this.ms);
    return entry;
  }

  /** Stops watching a settled request. @internal */
  forget(entry: PendingRequest): void {
    this.#pending.delete(entry);
    if (this.#pending.size === 0) this.#disarm();
  }

  /** Stops the timer; pending requests are no longer answered by it. */
  close(): void {
    this.#disarm();
    this.#pending.clear();
  }

  #arm(delayMs: number): void {
    // A sweep at most every quarter of the deadline: expiry comes at most
    // that late, and a busy mount does not pay a timer per request.
    const every = Math.min(this.ms / 4, 250);
    this.#timer = setTimeout(() => this.#sweep(), Math.max(delayMs, every));
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #sweep(): void {
    this.#timer = undefined;
    const now = performance.now();
    for (const entry of this.#pending) {
      if (entry.expiresAt > now) break;
      this.#pending.delete(entry);
      try {
        entry.expire();
      } catch (error) {
        console.error("denofuse: answering an expired request failed:", error);
      }
    }
    const oldest = this.#pending.values().next();
    if (!oldest.done) this.#arm(oldest.value.expiresAt - now);
  }
}

/**
 * FUSE_INTERRUPT: turning libfuse's per-request interrupt callback
 * (`fuse_req_interrupt_func`) into an `AbortSignal`.
 *
 * @module
 */

import type { LoadedLibraries } from "./library.ts";
import type { RequestPointer } from "./reply.ts";

/** Hands out one AbortSignal per request that asks for it. */
export class InterruptHub {
  readonly #libs: LoadedLibraries;
  readonly #controllers = new Map<number | bigint, AbortController>();
  readonly #callback: Deno.UnsafeCallback<{
    readonly parameters: readonly ["pointer", "pointer"];
    readonly result: "void";
  }>;

  /** @param libs the loaded libraries */
  constructor(libs: LoadedLibraries) {
    this.#libs = libs;
    // void (*fuse_interrupt_func_t)(fuse_req_t req, void *data): called from
    // fuse_session_process_buf (of the INTERRUPT request) on the JS thread,
    // or at once by fuse_req_interrupt_func if the request was already
    // interrupted.
    this.#callback = new Deno.UnsafeCallback(
      { parameters: ["pointer", "pointer"], result: "void" } as const,
      (req) => {
        const key = Deno.UnsafePointer.value(req);
        this.#controllers.get(key)?.abort(
          new DOMException("the kernel interrupted this request", "AbortError"),
        );
      },
    );
  }

  /**
   * The signal of a request, registering for its interrupt on first use.
   *
   * @param req the request (not yet answered)
   * @returns aborted when the kernel interrupts the request
   */
  signalFor(req: RequestPointer): AbortSignal {
    const key = Deno.UnsafePointer.value(req);
    let controller = this.#controllers.get(key);
    if (!controller) {
      controller = new AbortController();
      this.#controllers.set(key, controller);
      this.#libs.fuse.fuse_req_interrupt_func(req, this.#callback.pointer, null);
    }
    return controller.signal;
  }

  /**
   * Aborts a request's signal as an interrupt would, with another reason
   * (its deadline passed).
   *
   * @param req the request
   * @param reason the signal's reason
   */
  abort(req: RequestPointer, reason: unknown): void {
    this.#controllers.get(Deno.UnsafePointer.value(req))?.abort(reason);
  }

  /**
   * Forgets a request once it has been answered (its pointer may be reused).
   *
   * @param req the request
   */
  done(req: RequestPointer): void {
    if (this.#controllers.size !== 0) this.#controllers.delete(Deno.UnsafePointer.value(req));
  }

  /** Frees the callback; call after the session is destroyed. */
  close(): void {
    this.#controllers.clear();
    this.#callback.close();
  }
}

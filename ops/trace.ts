/**
 * Debug logging of every request and reply, like libfuse's `-d`: the
 * operation, a sequence number, its arguments, the result and the latency.
 * When off, nothing of this runs: the callbacks are not even wrapped.
 *
 * @module
 */

import type { LowLevelImpls, LowLevelOpName } from "../ffi/lowlevel_ops.ts";
import type { RequestPointer } from "../ffi/reply.ts";
import { errnoName } from "../utils/errno.ts";

/** Argument positions (after `req`) that are C strings, per operation. */
const STRING_ARGS: Partial<Record<LowLevelOpName, number[]>> = {
  lookup: [1],
  mknod: [1],
  mkdir: [1],
  unlink: [1],
  rmdir: [1],
  symlink: [0, 2],
  rename: [1, 3],
  link: [2],
  create: [1],
  setxattr: [1],
  getxattr: [1],
  removexattr: [1],
};

/** Where trace lines go. */
export type TraceSink = (line: string) => void;

/** Traces the requests of one mount. */
export class RequestTracer {
  readonly #sink: TraceSink;
  readonly #readName: (p: Deno.PointerValue) => Uint8Array;
  readonly #seqs = new Map<number | bigint, number>();
  #nextSeq = 1;

  /**
   * @param sink receives one line per request and per reply
   * @param readName copies a C string argument
   */
  constructor(sink: TraceSink, readName: (p: Deno.PointerValue) => Uint8Array) {
    this.#sink = sink;
    this.#readName = readName;
  }

  /**
   * Wraps each implementation to log its request on arrival.
   *
   * @param impls the operations' implementations
   * @returns the wrapped implementations
   */
  wrap(impls: LowLevelImpls): LowLevelImpls {
    const out: LowLevelImpls = {};
    for (const [name, impl] of Object.entries(impls) as [LowLevelOpName, typeof impls.init][]) {
      if (!impl || name === "init" || name === "destroy") {
        out[name] = impl;
        continue;
      }
      const strings = STRING_ARGS[name] ?? [];
      out[name] = (req: RequestPointer, ...args: unknown[]) => {
        const seq = this.#nextSeq++;
        this.#seqs.set(Deno.UnsafePointer.value(req), seq);
        const shown = args.map((a, i) =>
          strings.includes(i)
            ? JSON.stringify(new TextDecoder().decode(this.#readName(a as Deno.PointerValue)))
            : a === null || typeof a === "object"
            ? "ptr"
            : String(a)
        );
        this.#sink(`denofuse: #${seq} ${name}(${shown.join(", ")})`);
        impl(req, ...args);
      };
    }
    return out;
  }

  /**
   * Logs a reply.
   *
   * @param req the request
   * @param op the handler's name
   * @param errno 0 for success, else the errno sent
   * @param startMs `performance.now()` at arrival
   */
  replied(req: RequestPointer, op: string, errno: number, startMs: number): void {
    const key = Deno.UnsafePointer.value(req);
    const seq = this.#seqs.get(key);
    this.#seqs.delete(key);
    const us = ((performance.now() - startMs) * 1000).toFixed(1);
    this.#sink(
      `denofuse: #${seq ?? "?"} ${op} -> ${errno === 0 ? "ok" : errnoName(errno)} (${us} us)`,
    );
  }
}

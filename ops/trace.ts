/**
 * Debug logging of every request and reply, like libfuse's `-d`: a
 * sequence number, the libfuse operation (READDIRPLUS as `readdirplus`),
 * its arguments by name, then the result and the latency. When off, the
 * dispatcher skips all of it.
 *
 * @module
 */

import type { RequestPointer } from "../ffi/reply.ts";
import type { Decoder } from "./decoders.ts";
import { errnoName } from "../core/errno.ts";

/** Where trace lines go. */
export type TraceSink = (line: string) => void;

/**
 * Formats decoded arguments as `name=value, ...`.
 *
 * @param keys the argument names, in C order
 * @param decoders their decoders (which know how to show a value)
 * @param values the decoded arguments by name
 * @returns e.g. `parent=1, name="message"`
 */
export function showArgs(
  keys: readonly string[],
  decoders: readonly Decoder<unknown>[],
  values: Record<string, unknown>,
): string {
  return keys.map((k, i) => `${k}=${(decoders[i].show ?? String)(values[k])}`).join(", ");
}

/**
 * Formats arguments that could not be decoded, as Deno FFI passed them.
 *
 * @param keys the argument names, in C order
 * @param raw the values
 * @returns e.g. `offset=9223372036854775807`
 */
export function showRaw(keys: readonly string[], raw: readonly unknown[]): string {
  return keys.map((k, i) => {
    const v = raw[i];
    return `${k}=${v === null ? "NULL" : typeof v === "object" ? "ptr" : String(v)}`;
  }).join(", ");
}

/** Traces the requests of one mount. */
export class RequestTracer {
  readonly #sink: TraceSink;
  readonly #seqs = new Map<number | bigint, number>();
  #nextSeq = 1;

  /** @param sink receives one line per request and per reply */
  constructor(sink: TraceSink) {
    this.#sink = sink;
  }

  /**
   * Logs a request on arrival.
   *
   * @param req the request
   * @param op the libfuse operation
   * @param args its arguments, formatted by {@link showArgs}
   */
  request(req: RequestPointer, op: string, args: string): void {
    const seq = this.#nextSeq++;
    this.#seqs.set(Deno.UnsafePointer.value(req), seq);
    this.#sink(`denofuse: #${seq} ${op}(${args})`);
  }

  /**
   * Logs an event of a request still being handled (or of the mount, with
   * no request), e.g. a kernel-passthrough backing id registered.
   *
   * @param req the request, or null
   * @param text what happened
   */
  note(req: RequestPointer | null, text: string): void {
    const seq = req === null ? undefined : this.#seqs.get(Deno.UnsafePointer.value(req));
    this.#sink(`denofuse: ${seq === undefined ? "" : `#${seq} `}${text}`);
  }

  /**
   * Logs the end of a request that takes no reply (FORGET, BATCH_FORGET).
   *
   * @param req the request
   * @param op the libfuse operation, as in its request line
   * @param startMs `performance.now()` at arrival
   */
  noReply(req: RequestPointer, op: string, startMs: number): void {
    this.#line(req, op, "no reply", startMs);
  }

  /**
   * Logs a reply.
   *
   * @param req the request
   * @param op the libfuse operation, as in its request line
   * @param errno 0 for success, else the errno sent
   * @param startMs `performance.now()` at arrival
   */
  replied(req: RequestPointer, op: string, errno: number, startMs: number): void {
    this.#line(req, op, errno === 0 ? "ok" : errnoName(errno), startMs);
  }

  #line(req: RequestPointer, op: string, outcome: string, startMs: number): void {
    const key = Deno.UnsafePointer.value(req);
    const seq = this.#seqs.get(key);
    this.#seqs.delete(key);
    const us = ((performance.now() - startMs) * 1000).toFixed(1);
    this.#sink(`denofuse: #${seq ?? "?"} ${op} -> ${outcome} (${us} us)`);
  }
}

/**
 * From libfuse callbacks to `Operations` handlers and back, for any row of
 * the request table (ops/request_table.ts): decode the C arguments (copying
 * them before the callback returns), call the handler, and send exactly one
 * reply, synchronously when the handler returned a plain value, else when
 * its promise settles. A request's path: libfuse calls the callback
 * {@link requestCallback} made for its row; its RowRunner decodes the
 * arguments and runs the row's `call`; `settle` sends the row's `reply`, or
 * `fail` the error reply.
 *
 * @module
 */

import { UnsafeIntegerError } from "../ffi/codec.ts";
import { LAYOUT } from "../ffi/layout.ts";
import type { LowLevelImpls, LowLevelOpName } from "../ffi/lowlevel_ops.ts";
import type { RequestPointer } from "../ffi/reply.ts";
import { Context } from "./context.ts";
import type { PendingRequest } from "./deadlines.ts";
import type { DecodeEnv, Decoder } from "./decoders.ts";
import type { DispatchHost } from "./host.ts";
import { lifecycleImpls } from "./lifecycle.ts";
import { showArgs, showRaw } from "./trace.ts";
import type { Operations } from "./operations.ts";
import { type AnyRequestRow, REQUESTS } from "./request_table.ts";
import type { OperationCounter } from "./stats.ts";
import { errno } from "../core/errno.ts";
import { FUSEError, isReplyErrno } from "../core/errors.ts";

export { hasPosixLocks } from "./request_table.ts";
export type { DispatchHost } from "./host.ts";

/**
 * Builds the JS implementations of the libfuse operations that `ops`
 * implements.
 *
 * @param ops the filesystem
 * @param host the owning mount
 * @returns the implementations, keyed by libfuse operation name
 */
export function buildDispatch(ops: Operations, host: DispatchHost): LowLevelImpls {
  const impls = lifecycleImpls(ops, host);
  for (const [name, row] of Object.entries(REQUESTS) as [LowLevelOpName, AnyRequestRow][]) {
    if (row.wanted ? row.wanted(ops) : typeof ops[row.handler] === "function") {
      impls[name] = requestCallback(name, row, ops, host);
    }
  }
  return impls;
}

/**
 * The libfuse callback of one request row.
 *
 * @param name the libfuse operation (READDIRPLUS is "readdirplus" in the debug log)
 * @param row its row
 * @param ops the filesystem
 * @param host the owning mount
 * @returns `(req, ...C arguments) => void`
 */
export function requestCallback(
  name: LowLevelOpName,
  row: AnyRequestRow,
  ops: Operations,
  host: DispatchHost,
): (req: RequestPointer, ...raw: unknown[]) => void {
  const runner = new RowRunner(name, row, ops, host);
  return (req, ...raw) => runner.request(req, raw);
}

/** Runs the requests of one row: what they share is resolved once, not per request. */
class RowRunner {
  readonly #name: LowLevelOpName;
  readonly #row: AnyRequestRow;
  readonly #ops: Operations;
  readonly #host: DispatchHost;
  readonly #op: string;
  readonly #counter: OperationCounter;
  readonly #keys: string[];
  readonly #decoders: Decoder<unknown>[];
  /** One per row, updated per request: see RequestEnv. */
  readonly #env: { req: RequestPointer; host: DispatchHost };
  /** Where the row's requests keep their set-id kill flag, if they have one. */
  readonly #kill: { opcode: number; offset: number; bit: number } | null;

  constructor(name: LowLevelOpName, row: AnyRequestRow, ops: Operations, host: DispatchHost) {
    this.#name = name;
    this.#row = row;
    this.#ops = ops;
    this.#host = host;
    this.#op = row.handler;
    this.#counter = host.stats.counter(row.handler);
    this.#keys = Object.keys(row.args);
    this.#decoders = Object.values(row.args);
    this.#env = { req: null!, host };
    const kill = row.kill;
    this.#kill = kill
      ? { opcode: kill.opcode, offset: LAYOUT[kill.arg].fields[kill.field].offset, bit: kill.bit }
      : null;
  }

  /** Decodes a request's C arguments and runs it; overflowing ones are answered at once. */
  request(req: RequestPointer, raw: unknown[]): void {
    const host = this.#host, keys = this.#keys, decoders = this.#decoders;
    const env: DecodeEnv = host.request;
    const a: Record<string, unknown> = {};
    try {
      for (let i = 0; i < keys.length; i++) {
        a[keys[i]] = decoders[i].decode(raw[i], env);
      }
    } catch (error) {
      // An argument no number can hold (EOVERFLOW, EFBIG): answered before the handler runs.
      host.tracer?.request(req, this.#name, showRaw(keys, raw));
      const err = fail(host, this.#op, req, error);
      this.#counter.record(-1, true);
      host.tracer?.replied(req, this.#name, err, performance.now());
      return;
    }
    host.tracer?.request(req, this.#name, showArgs(keys, decoders, a));
    const ctx = new Context(req, host.replier, host.interrupts);
    if (this.#kill) ctx.killSuidgid = killSuidgid(host, this.#kill);
    this.#run(req, ctx, a);
  }

  /** Runs the handler and replies once, at once for a plain value, else when its promise settles. */
  #run(req: RequestPointer, ctx: Context, a: Record<string, unknown>): void {
    const host = this.#host;
    // Reading the clock costs a few hundred ns, as much as the rest of the
    // bookkeeping: the statistics time a sample (all requests when tracing).
    const startMs = host.tracer ? performance.now() : this.#counter.start();
    this.#env.req = req;
    let value: unknown;
    try {
      value = this.#row.call(this.#ops, a, ctx, this.#env);
    } catch (error) {
      return this.#done(req, ctx, startMs, fail(host, this.#op, req, error));
    }
    if (!(value instanceof Promise)) return this.#settle(req, ctx, startMs, value, a);
    host.requestStarted();
    const deadline = host.deadlines?.watch(() => this.#expire(req, ctx, startMs, a)) ?? null;
    // One reaction, not then().finally(): each promise step costs a few
    // hundred ns on every asynchronous request.
    value.then(
      (v) => this.#late(deadline, () => this.#settle(req, ctx, startMs, v, a)),
      (error) =>
        this.#late(
          deadline,
          () => this.#done(req, ctx, startMs, fail(host, this.#op, req, error)),
        ),
    );
  }

  /**
   * Runs a settled handler's reply step, unless its deadline answered the
   * request already; whatever it throws is logged, not left unhandled.
   */
  #late(deadline: PendingRequest | null, reply: () => void): void {
    if (deadline && !deadline.settle()) return;
    const host = this.#host;
    try {
      if (host.alive) reply();
    } catch (error) {
      host.logHandlerError(this.#op, error);
    } finally {
      host.requestFinished();
    }
  }

  /** Answers a request whose handler missed the mount's deadline; its late result is dropped. */
  #expire(req: RequestPointer, ctx: Context, startMs: number, a: Record<string, unknown>): void {
    const host = this.#host, deadlines = host.deadlines!;
    try {
      if (!host.alive) return;
      host.logDeadline(this.#op, describeTarget(a), deadlines.ms, deadlines.errno);
      ctx.abort(new DOMException(`no answer within ${deadlines.ms} ms`, "TimeoutError"));
      delivered(host, this.#op, host.replier.err(req, deadlines.errno));
      this.#done(req, ctx, startMs, deadlines.errno);
    } finally {
      host.requestFinished();
    }
  }

  /** Sends the row's reply for `value`, or the error reply if it is malformed; exactly once. */
  #settle(
    req: RequestPointer,
    ctx: Context,
    startMs: number,
    value: unknown,
    a: Record<string, unknown>,
  ): void {
    const host = this.#host;
    let err = 0, rc = 0;
    try {
      rc = this.#row.reply(host.replier, req, value, a, host);
    } catch (error) {
      // Thrown before any fuse_reply_* (a malformed value): the request is still ours.
      err = fail(host, this.#op, req, error);
    }
    delivered(host, this.#op, rc);
    this.#done(req, ctx, startMs, err);
  }

  /** Bookkeeping once a request is answered. */
  #done(req: RequestPointer, ctx: Context, startMs: number, err: number): void {
    this.#counter.record(startMs, err !== 0);
    this.#host.tracer?.replied(req, this.#name, err, startMs);
    ctx.finish();
  }
}

/**
 * The set-id kill flag of the request being processed (see
 * `RequestContext.killSuidgid`): read from the kernel's request, since
 * libfuse passes none of them on.
 *
 * @param host the owning mount
 * @param kill where the request keeps the flag
 * @returns true to clear the bits, false to keep them, undefined when the
 *   kernel does not say (FUSE_HANDLE_KILLPRIV_V2 is not in force and the
 *   flag is clear)
 */
function killSuidgid(
  host: DispatchHost,
  kill: { opcode: number; offset: number; bit: number },
): boolean | undefined {
  const flags = host.request.argU32(kill.opcode, kill.offset);
  const inForce = host.connection?.handleKillprivV2 === true;
  // Unreadable (the request is not in a receive buffer of ours): where the
  // kernel left the clearing to us, clear rather than keep.
  if (flags === null) return inForce ? true : undefined;
  if (flags & kill.bit) return true;
  return inForce ? false : undefined;
}

/**
 * Sends the error reply for a failed handler or a malformed value.
 *
 * @param host the owning mount
 * @param op the handler's name, for the log
 * @param req the request
 * @param error what was thrown
 * @returns the errno sent: a FUSEError's own, EINTR for an abort, the
 *   overflow's EOVERFLOW or EFBIG, else EIO (logged)
 */
export function fail(host: DispatchHost, op: string, req: RequestPointer, error: unknown): number {
  let err: number;
  if (error instanceof FUSEError && isReplyErrno(error.errno)) {
    err = error.errno;
  } else if (error instanceof DOMException && error.name === "AbortError") {
    err = errno.EINTR;
  } else if (error instanceof UnsafeIntegerError) {
    err = error.errno;
  } else {
    host.logHandlerError(op, error);
    err = errno.EIO;
  }
  delivered(host, op, host.replier.err(req, err));
  return err;
}

/** What a request is about, for the deadline's log line: its inode, or its parent and name. */
function describeTarget(a: Record<string, unknown>): string {
  const name = a.name instanceof Uint8Array
    ? ` name ${JSON.stringify(decoder.decode(a.name))}`
    : "";
  if (typeof a.inode === "number") return `inode ${a.inode}${name}`;
  if (typeof a.parent === "number") return `parent inode ${a.parent}${name}`;
  return typeof a.fh === "number" ? `handle ${a.fh}` : "the filesystem";
}
const decoder = new TextDecoder();

/** Reports a reply that libfuse could not deliver (its caller may then wait until interrupted). */
function delivered(host: DispatchHost, op: string, rc: number): void {
  // ENOENT: the request was interrupted and is gone, which is not an error.
  if (rc < 0 && rc !== -errno.ENOENT && host.alive) host.logReplyRefused(op, -rc);
}

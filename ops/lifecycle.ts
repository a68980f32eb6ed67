/**
 * The libfuse callbacks that are not a request answered by a handler's
 * value: `init` (capability negotiation), `destroy`, `forget` and
 * `forget_multi` (no reply, only freed), and `retrieve_reply` (the answer
 * to a notifyRetrieve).
 *
 * @module
 */

import { connInfoNegotiate } from "../ffi/conn.ts";
import { decodeForgets } from "../ffi/codec.ts";
import type { LowLevelImpls } from "../ffi/lowlevel_ops.ts";
import type { RequestPointer } from "../ffi/reply.ts";
import type { DispatchHost } from "./host.ts";
import type { Operations } from "./operations.ts";
import type { MaybePromise } from "../core/types.ts";

/**
 * The lifecycle callbacks for `ops`.
 *
 * @param ops the filesystem
 * @param host the owning mount
 * @returns init, destroy, retrieve_reply and (with a forget handler) forget and forget_multi
 */
export function lifecycleImpls(ops: Operations, host: DispatchHost): LowLevelImpls {
  const impls: LowLevelImpls = {
    init: (_userdata: Deno.PointerValue, conn: Deno.PointerValue) => {
      host.connected(connInfoNegotiate(conn, {
        exportSupport: ops.supportsDotLookup ?? true,
        writebackCache: ops.enableWritebackCache ?? false,
        posixAcl: ops.enableAcl ?? false,
        handleKillpriv: ops.handleKillpriv ?? false,
        handleKillprivV2: ops.handleKillprivV2 ?? false,
        readdirplusAuto: ops.enableReaddirplusAuto ?? false,
        passthrough: ops.enableKernelPassthrough ?? false,
        requestTimeoutS: backstopSeconds(host.deadlines?.ms),
      }));
      guard(host, "init", () => ops.init?.());
    },
    retrieve_reply: (
      req: RequestPointer,
      cookie: Deno.PointerValue,
      _ino: bigint,
      _off: bigint,
      bufv: Deno.PointerValue,
    ) => {
      try {
        host.retrieveReply(cookie, bufv);
      } finally {
        host.replier.none(req);
      }
    },
  };
  if (typeof ops.destroy === "function") {
    impls.destroy = () => guard(host, "destroy", () => ops.destroy!());
  }
  // Without a handler libfuse drops forgets itself, unless the debug log is to show them.
  if (typeof ops.forget === "function" || host.tracer) {
    impls.forget = (req: RequestPointer, inode: bigint, nlookup: bigint) =>
      forget(ops, host, req, "forget", [[Number(inode), Number(nlookup)]]);
    impls.forget_multi = (req: RequestPointer, n: number | bigint, data: Deno.PointerValue) =>
      forget(ops, host, req, "forget_multi", decodeForgets(data, Number(n)));
  }
  return impls;
}

/**
 * The kernel's request timeout that backs a request deadline up: above the
 * deadline (which answers every request whose handler yields), so that it
 * only fires when the JS thread itself is stuck, and a caller then gets
 * ECONNABORTED instead of waiting for good.
 *
 * @param deadlineMs the mount's deadline, if it has one
 * @returns seconds for `fuse_conn_info.request_timeout` (0: none)
 */
export function backstopSeconds(deadlineMs: number | undefined): number {
  return deadlineMs === undefined ? 0 : Math.ceil(deadlineMs / 1000) * 2 + 1;
}

function guard(host: DispatchHost, op: string, fn: () => void): void {
  try {
    fn();
  } catch (error) {
    host.logHandlerError(op, error);
  }
}

/**
 * Runs the forget handler, if any; the request takes no reply but must be
 * freed after it ran. `op` names FORGET or BATCH_FORGET in the debug log.
 */
function forget(
  ops: Operations,
  host: DispatchHost,
  req: RequestPointer,
  op: "forget" | "forget_multi",
  list: Array<[number, number]>,
): void {
  const startMs = performance.now();
  host.tracer?.request(req, op, showForgets(list));
  const freed = () => {
    if (host.alive) host.replier.none(req);
    host.tracer?.noReply(req, op, startMs);
  };
  let value: MaybePromise<void> = undefined;
  try {
    value = ops.forget?.(list);
  } catch (error) {
    host.logHandlerError("forget", error);
  }
  if (!(value instanceof Promise)) return freed();
  host.requestStarted();
  value
    .catch((error) => host.logHandlerError("forget", error))
    .finally(() => {
      freed();
      host.requestFinished();
    });
}

/** `inode=5, nlookup=1` for one forget, `count=2, [5:1, 6:3]` for a batch. */
function showForgets(list: Array<[number, number]>): string {
  if (list.length === 1) return `inode=${list[0][0]}, nlookup=${list[0][1]}`;
  return `count=${list.length}, [${list.map(([i, n]) => `${i}:${n}`).join(", ")}]`;
}

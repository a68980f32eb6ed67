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
        readdirplusAuto: ops.enableReaddirplusAuto ?? false,
        passthrough: ops.enableKernelPassthrough ?? false,
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
  if (typeof ops.forget === "function") {
    impls.forget = (req: RequestPointer, inode: bigint, nlookup: bigint) =>
      forget(ops, host, req, [[Number(inode), Number(nlookup)]]);
    impls.forget_multi = (req: RequestPointer, n: number | bigint, data: Deno.PointerValue) =>
      forget(ops, host, req, decodeForgets(data, Number(n)));
  }
  return impls;
}

function guard(host: DispatchHost, op: string, fn: () => void): void {
  try {
    fn();
  } catch (error) {
    host.logHandlerError(op, error);
  }
}

/** Runs the forget handler; the request takes no reply but must be freed after it ran. */
function forget(
  ops: Operations,
  host: DispatchHost,
  req: RequestPointer,
  list: Array<[number, number]>,
): void {
  let value: MaybePromise<void> = undefined;
  try {
    value = ops.forget!(list);
  } catch (error) {
    host.logHandlerError("forget", error);
  }
  if (!(value instanceof Promise)) return host.replier.none(req);
  host.requestStarted();
  value
    .catch((error) => host.logHandlerError("forget", error))
    .finally(() => {
      if (host.alive) host.replier.none(req);
      host.requestFinished();
    });
}

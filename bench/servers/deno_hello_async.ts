/**
 * bench/servers/deno_hello.ts with every handler `async`, the way a pyfuse3
 * filesystem ports (pyfuse3 handlers are coroutines): measures what settling
 * replies from promises costs against the synchronous handlers.
 *
 *     deno run --allow-ffi --allow-read bench/servers/deno_hello_async.ts [-o opt,...] MOUNTPOINT
 *
 * @module
 */

import type * as fuse from "../../mod.ts";
import { helloOps, serveFromArgs } from "./deno_hello.ts";

/** helloOps, each handler wrapped in an async function. */
export const asyncHelloOps: fuse.Operations = Object.fromEntries(
  Object.entries(helloOps).map(([name, handler]) => [
    name,
    async (...args: unknown[]) => await (handler as (...a: unknown[]) => unknown)(...args),
  ]),
);

if (import.meta.main) await serveFromArgs(asyncHelloOps, "deno_hello_async");

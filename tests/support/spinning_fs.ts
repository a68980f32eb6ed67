/**
 * A filesystem process whose JS thread gets stuck: reading `message`
 * spins in a synchronous endless loop, which no deadline in JS can
 * answer. Mounted with a request deadline (so the kernel's request timeout
 * backs it up, libfuse 3.18+) and auto_unmount, for tests/deadline_test.ts.
 *
 *     deno run --allow-ffi --allow-read tests/support/spinning_fs.ts MOUNTPOINT
 */

import * as fuse from "../../mod.ts";
import { HelloFs } from "../../examples/hello.ts";

const hello = new HelloFs();
const ops: fuse.Operations = {
  getattr: (ino) => hello.getattr(ino),
  lookup: (parent, name) => hello.lookup(parent, name),
  open: (ino, flags) => hello.open(ino, flags),
  read: () => {
    for (;;) { /* stuck, as a handler with a synchronous endless loop */ }
  },
};

const h = fuse.mount(ops, Deno.args[0], {
  options: ["fsname=denofuse-spinning", "auto_unmount"],
  deadlineMs: 500,
});
console.error(`spinning_fs: request timeout ${h.connection?.requestTimeout ?? "?"} s`);
await h.closed;

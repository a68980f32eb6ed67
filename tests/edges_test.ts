/**
 * The edges a handler, a caller or a signal can reach: every request gets
 * one reply the kernel accepts, whatever the handler returns, and callers
 * never hang. Clients run as subprocesses with a timeout, so a hang shows
 * as a failure and not as a stuck test.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import * as fuse from "../mod.ts";
import { HelloFs } from "../examples/hello.ts";
import { sh, withMount } from "./support/mount.ts";
import { capturingErrors } from "./support/log.ts";

Deno.test("FUSEError accepts the errnos the kernel accepts (1 to 511) and names the fix otherwise", () => {
  assert.equal(new fuse.FUSEError(511).errno, 511);
  for (const bad of [0, -2, 512, 600, 999, 1000, 2.5, NaN]) {
    assert.throws(() => new fuse.FUSEError(bad), /errno from 1 to 511.*use a value of errno/);
  }
});

Deno.test("a handler throwing an errno the kernel rejects answers EIO, logs it, and the caller returns", async () => {
  const hello = new HelloFs();
  const ops: fuse.Operations = {
    getattr: (i) => hello.getattr(i),
    lookup: (p, n) => {
      const name = new TextDecoder().decode(n);
      if (name === "e600") throw new fuse.FUSEError(600);
      if (name === "tampered") {
        const error = new fuse.FUSEError(fuse.errno.ENOENT);
        Object.defineProperty(error, "errno", { value: 700 });
        throw error;
      }
      return hello.lookup(p, n);
    },
  };
  const log = await capturingErrors(() =>
    withMount(ops, async (mnt) => {
      for (const name of ["e600", "tampered"]) {
        // A subprocess: before the fix its stat sat in request_wait_answer for ever.
        const r = await sh("stat", [join(mnt, name)], { timeoutMs: 5_000 });
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /Input\/output error/, name);
      }
      assert.equal((await Deno.stat(join(mnt, "message"))).size, 12, "still serving");
    }, { options: ["fsname=errno-range"] })
  );
  assert.match(
    log,
    /the lookup handler failed; replying EIO: RangeError: FUSEError needs an errno from 1 to 511.*got 600/,
  );
  assert.match(log, /the lookup handler failed; replying EIO: FUSEError/);
  assert.doesNotMatch(log, /not delivered/);
});

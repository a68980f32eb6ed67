/**
 * Request deadlines through a real mount: a handler whose promise never
 * settles (a dead backend, a lost callback) gives its caller an error
 * within the deadline, while the other requests go on being served.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import * as fuse from "../mod.ts";
import { HelloFs } from "../examples/hello.ts";
import { forceUnmount, isMounted, sh, withSpawnedFs, withTimeout } from "./support/mount.ts";
import { acquireLibraries, releaseLibraries } from "../ffi/library.ts";
import { connInfoNegotiate, FUSE_CAP, type Negotiation } from "../ffi/conn.ts";
import { LAYOUT } from "../ffi/layout.ts";
import { backstopSeconds } from "../ops/lifecycle.ts";

/**
 * hello.ts, but reading `message` waits for a backend that answers late
 * (`control.readDelayMs`) or never (Infinity).
 */
function stuckHello(readDelayMs: number) {
  const control = { readDelayMs };
  const hello = new HelloFs();
  const signals: AbortSignal[] = [];
  const ops: fuse.Operations = {
    getattr: (ino) => hello.getattr(ino),
    lookup: (parent, name) => hello.lookup(parent, name),
    opendir: (ino) => hello.opendir(ino),
    readdir: (fh, start, token) => hello.readdir(fh, start, token),
    open: (ino, flags) => hello.open(ino, flags),
    read: (fh, off, size, ctx) => {
      signals.push(ctx.signal);
      const readDelayMs = control.readDelayMs;
      if (readDelayMs === 0) return hello.read(fh, off, size);
      if (!Number.isFinite(readDelayMs)) return new Promise<Uint8Array>(() => {});
      return new Promise<Uint8Array>((resolve) => {
        const timer = setTimeout(() => resolve(hello.read(fh, off, size)), readDelayMs);
        ctx.signal.addEventListener("abort", () => {
          clearTimeout(timer);
          // Settles after the deadline answered: the result must be dropped.
          setTimeout(() => resolve(hello.read(fh, off, size)), 50);
        });
      });
    },
  };
  return { ops, signals, control };
}

async function withStuck(
  fs: fuse.Operations,
  loop: fuse.FuseMountOptions,
  fn: (mnt: string) => Promise<void>,
): Promise<string> {
  const mnt = await Deno.makeTempDir({ prefix: "denofuse-deadline-" });
  const original = console.error;
  const lines: string[] = [];
  console.error = (...a: unknown[]) => void lines.push(a.map(String).join(" "));
  try {
    const h = fuse.mount(fs, mnt, {
      options: ["fsname=denofuse-deadline"],
      handleSignals: false,
      graceMs: 200,
      ...loop,
    });
    try {
      await withTimeout("test body", 30_000, fn(mnt));
    } finally {
      await withTimeout("unmount", 10_000, h.unmount());
    }
    assert.equal(await isMounted(mnt), false);
  } finally {
    console.error = original;
    await forceUnmount(mnt);
    await Deno.remove(mnt);
  }
  return lines.join("\n");
}

Deno.test("mount() with deadlineMs answers a never-settling read EIO in time while other requests are served", async () => {
  const { ops, signals } = stuckHello(Infinity);
  const log = await withStuck(ops, { deadlineMs: 600 }, async (mnt) => {
    const file = join(mnt, "message");
    const started = performance.now();
    const stuck = sh("dd", [`if=${file}`, "of=/dev/null", "iflag=direct", "count=1"]);
    // Served meanwhile: lookups, getattr, readdir.
    await new Promise((r) => setTimeout(r, 100));
    const ls = await sh("ls", ["-l", mnt]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /message/);
    const r = await stuck;
    const elapsed = performance.now() - started;
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Input\/output error/);
    assert.ok(elapsed >= 550 && elapsed < 1600, `answered after ${elapsed.toFixed(0)} ms`);
  });
  assert.match(
    log,
    /the read handler \(inode 2\) did not settle within 600 ms on .*; replied EIO/,
  );
  assert.equal(signals.at(-1)?.aborted, true, "its ctx.signal aborted");
  assert.equal((signals.at(-1)?.reason as DOMException).name, "TimeoutError");
});

Deno.test("mount() with deadlineMs drops a result that comes after the deadline, and serves on", async () => {
  const { ops, control } = stuckHello(1500);
  const log = await withStuck(
    ops,
    { deadlineMs: 300, deadlineErrno: fuse.errno.ETIMEDOUT },
    async (mnt) => {
      const file = join(mnt, "message");
      const r = await sh("dd", [`if=${file}`, "of=/dev/null", "iflag=direct", "count=1"]);
      assert.match(r.stderr, /Connection timed out/);
      await new Promise((r) => setTimeout(r, 100)); // the handler settles now, too late
      control.readDelayMs = 0;
      assert.equal((await sh("cat", [file])).stdout, "hello world\n");
    },
  );
  assert.match(log, /replied ETIMEDOUT/);
  assert.doesNotMatch(log, /not delivered|failed/);
});

Deno.test("mount() refuses a deadline that is not a positive number, naming the option", async () => {
  const mnt = await Deno.makeTempDir({ prefix: "denofuse-deadline-" });
  try {
    for (const deadlineMs of [0, -5, NaN]) {
      assert.throws(
        () => fuse.mount(new HelloFs(), mnt, { handleSignals: false, deadlineMs }),
        /deadlineMs must be a positive number of milliseconds/,
      );
    }
    assert.throws(
      () =>
        fuse.mount(new HelloFs(), mnt, { handleSignals: false, deadlineMs: 5, deadlineErrno: 0 }),
      /deadlineErrno must be an errno/,
    );
    assert.equal(await isMounted(mnt), false);
  } finally {
    await Deno.remove(mnt);
  }
});

Deno.test("connInfoNegotiate(): a deadline's backstop becomes the kernel's request_timeout on libfuse 3.18, nothing before", () => {
  const ask: Negotiation = {
    exportSupport: false,
    writebackCache: false,
    posixAcl: false,
    handleKillpriv: false,
    readdirplusAuto: false,
    requestTimeoutS: backstopSeconds(2500),
  };
  assert.equal(ask.requestTimeoutS, 7, "above the deadline: twice it, plus a second");
  assert.equal(backstopSeconds(undefined), 0);
  const F = LAYOUT.fuse_conn_info.fields;
  for (const [version, expected] of [[318, 7], [317, 0], [314, 0]]) {
    const bytes = new Uint8Array(LAYOUT.fuse_conn_info.size);
    const v = new DataView(bytes.buffer);
    v.setUint32(F.capable.offset, FUSE_CAP.ASYNC_READ, true);
    if (version >= 317) v.setBigUint64(F.capable_ext.offset, BigInt(FUSE_CAP.ASYNC_READ), true);
    const conn = connInfoNegotiate(Deno.UnsafePointer.of(bytes), ask, version);
    assert.equal(conn.requestTimeout, expected, `${version}`);
    assert.equal(v.getUint16(F.request_timeout.offset, true), expected, `${version}: the field`);
  }
});

const libs = acquireLibraries();
const libfuse318 = libs.version >= 318;
releaseLibraries();

Deno.test({
  name:
    "a JS thread stuck in a synchronous loop cannot hang its callers: the kernel's request timeout aborts the connection (libfuse 3.18)",
  ignore: !libfuse318,
  fn: async () => {
    await withSpawnedFs("../tests/support/spinning_fs.ts", [], async (fs) => {
      const started = performance.now();
      // The kernel looks for expired requests every 15 s, so the backstop (3 s for a
      // 500 ms deadline) fires at the first look after it passed: 15-18 s here, up to
      // 33 s when a look just missed it.
      const r = await sh("cat", [join(fs.mnt, "message")], { timeoutMs: 50_000 });
      const elapsed = performance.now() - started;
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /Software caused connection abort|Transport endpoint/);
      assert.ok(
        elapsed < 36_000,
        `the caller waited ${elapsed.toFixed(0)} ms: ${r.stderr} ${fs.stderr()}`,
      );
      const stat = await sh("stat", [fs.mnt]);
      assert.match(stat.stderr, /Transport endpoint is not connected/, "the connection is gone");
      fs.child.kill("SIGKILL"); // the stuck server; auto_unmount takes its mount away
      await fs.exited();
      for (let i = 0; i < 100 && await isMounted(fs.mnt); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(await isMounted(fs.mnt), false, "no dead mount left");
    }, { timeoutMs: 80_000 });
  },
});

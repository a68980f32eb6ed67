/**
 * The dispatch rules, without a mount: each libfuse callback is called
 * directly with C arguments made in JS memory, and the replies are recorded
 * by a fake host. Needs no /dev/fuse and no libfuse.
 */

import assert from "node:assert/strict";
import * as fuse from "../mod.ts";
import { LOWLEVEL_OPS } from "../ffi/lowlevel_ops.ts";
import { buildDispatch } from "../ops/dispatch.ts";
import { DeadlineWatch } from "../ops/deadlines.ts";
import { REQUESTS } from "../ops/request_table.ts";
import { bytesAt, cString, FakeHost, fakeReq, fileInfo } from "./support/fake_host.ts";

const attrs = (ino: number) =>
  new fuse.EntryAttributes({ stIno: ino, stMode: 0o100644, stNlink: 1 });

/** Calls `op`'s callback with `args` (after req); returns the request pointer. */
function call(impls: ReturnType<typeof buildDispatch>, op: string, ...args: unknown[]) {
  const req = fakeReq();
  const impl = (impls as Record<string, (...a: unknown[]) => void>)[op];
  assert.ok(impl, `${op} is registered`);
  impl(req, ...args);
  return req;
}

Deno.test("request table: every row decodes exactly the C parameters of its libfuse prototype", () => {
  for (const [name, row] of Object.entries(REQUESTS)) {
    const c = LOWLEVEL_OPS[name as keyof typeof LOWLEVEL_OPS].parameters;
    assert.equal(c[0], "pointer", `${name}: fuse_req_t first`);
    const natives = Object.values(row!.args).map((d) => d.native);
    assert.deepEqual(natives, c.slice(1), `${name}'s decoders against its C prototype`);
  }
  const covered = new Set([...Object.keys(REQUESTS), "init", "destroy", "forget", "forget_multi"]);
  covered.add("retrieve_reply");
  assert.deepEqual(Object.keys(LOWLEVEL_OPS).filter((k) => !covered.has(k)), []);
});

Deno.test("dispatch: a synchronous and an asynchronous handler each get exactly one reply", async () => {
  const host = new FakeHost();
  const impls = buildDispatch({
    lookup: (_p, name) => attrs(name.length),
    getattr: (ino) => Promise.resolve(attrs(ino)),
  }, host);
  const r1 = call(impls, "lookup", 1n, cString("abc"));
  assert.deepEqual(host.sent.map((s) => [s.req, s.kind]), [[r1, "entry"]]);
  assert.equal((host.sent[0].args[0] as fuse.EntryAttributes).stIno, 3);
  assert.equal(host.sent[0].args[1], true, "lookup may answer a negative entry");
  const r2 = call(impls, "getattr", 7n, null);
  assert.equal(host.sent.length, 1, "not before the promise settles");
  await host.settled();
  assert.deepEqual(host.sent.slice(1).map((s) => [s.req, s.kind]), [[r2, "attr"]]);
  assert.equal(host.stats.snapshot().getattr.count, 1);
});

Deno.test("dispatch: errors map to errnos: FUSEError, plain throw, rejection, abort, wrong shape", async () => {
  const host = new FakeHost();
  const impls = buildDispatch({
    lookup: (_p, name) => {
      const n = new TextDecoder().decode(name);
      if (n === "enoent") throw new fuse.FUSEError(fuse.errno.ENOENT);
      if (n === "boom") throw new Error("boom");
      if (n === "e600") throw new fuse.FUSEError(600);
      if (n === "reject") return Promise.reject(new fuse.FUSEError(fuse.errno.EACCES));
      if (n === "abort") return Promise.reject(new DOMException("x", "AbortError"));
      return { stIno: 1 } as unknown as fuse.EntryAttributes;
    },
  }, host);
  for (const n of ["enoent", "boom", "e600", "reject", "abort", "shape"]) {
    call(impls, "lookup", 1n, cString(n));
  }
  await host.settled();
  assert.deepEqual(host.sent.map((s) => [s.kind, s.args[0]]), [
    // The synchronous answers first, then the settled promises.
    ["err", fuse.errno.ENOENT],
    ["err", fuse.errno.EIO],
    ["err", fuse.errno.EIO],
    ["err", fuse.errno.EIO],
    ["err", fuse.errno.EACCES],
    ["err", fuse.errno.EINTR],
  ]);
  assert.match(host.logs[0], /^lookup: Error: boom/);
  assert.match(host.logs[1], /^lookup: RangeError: FUSEError needs an errno from 1 to 511/);
  assert.match(host.logs[2], /expected EntryAttributes, got an object with keys stIno/);
  assert.equal(host.logs.length, 3);
});

Deno.test("dispatch: arguments past 2^53 are answered before the handler runs: EOVERFLOW, EFBIG, end of directory", () => {
  const host = new FakeHost();
  let calls = 0;
  const impls = buildDispatch({
    getattr: () => (calls++, attrs(1)),
    write: () => (calls++, 1),
    readdir: () => void calls++,
  }, host);
  const fi = fileInfo({ fh: 3 });
  call(impls, "getattr", 2n ** 60n, null);
  call(impls, "write", 2n, bytesAt(new Uint8Array(1)), 1n, 2n ** 53n, fi);
  call(impls, "write", 2n, bytesAt(new Uint8Array(2)), 2n, 2n ** 53n - 1n, fi);
  call(impls, "readdirplus", 1n, 4096n, 2n ** 62n, fi);
  assert.equal(calls, 0);
  assert.deepEqual(
    host.sent.map((s) => [s.kind, s.args[0] instanceof Uint8Array ? "bytes" : s.args[0]]),
    [
      ["err", fuse.errno.EOVERFLOW],
      ["err", fuse.errno.EFBIG],
      ["err", fuse.errno.EFBIG],
      ["buf", "bytes"],
    ],
  );
  assert.equal((host.sent[3].args[0] as Uint8Array).length, 0, "an empty READDIRPLUS: the end");
});

Deno.test("dispatch: a reply libfuse could not deliver is logged, an interrupted one is not", () => {
  const host = new FakeHost();
  const impls = buildDispatch({ getattr: (i) => attrs(i) }, host);
  host.replyResult = -22;
  call(impls, "getattr", 2n, null);
  host.replyResult = -2;
  call(impls, "getattr", 2n, null);
  assert.deepEqual(host.logs, ["getattr: refused 22"]);
});

Deno.test("dispatch: a late answer after the session ended sends nothing", async () => {
  const host = new FakeHost();
  let resolve!: (a: fuse.EntryAttributes) => void;
  const impls = buildDispatch({ getattr: () => new Promise((r) => resolve = r) }, host);
  call(impls, "getattr", 2n, null);
  host.alive = false;
  resolve(attrs(2));
  await host.settled();
  assert.deepEqual(host.sent, []);
  assert.equal(host.inflight, 0, "the late answer was seen and dropped");
});

Deno.test("dispatch: closing a file drops its locks: POSIX locks at FLUSH, flock locks at the last RELEASE", async () => {
  const host = new FakeHost();
  const events: string[] = [];
  const impls = buildDispatch({
    getlk: (_i, _fh, _owner, lock) => lock,
    setlk: (_i, fh, owner, lock, sleep) =>
      void events.push(`setlk ${fh} ${owner} ${lock.type} ${sleep}`),
    flush: (fh) => void events.push(`flush ${fh}`),
    flock: (_i, fh, owner, op) => void events.push(`flock ${fh} ${owner} ${op}`),
    release: (fh) => void events.push(`release ${fh}`),
  }, host);
  call(impls, "flush", 2n, fileInfo({ fh: 5, lockOwner: 77n }));
  await host.settled();
  const flockRelease = 1 << host.replier.bits.flock_release;
  call(impls, "release", 2n, fileInfo({ fh: 5, lockOwner: 77n, bits: flockRelease }));
  call(impls, "release", 2n, fileInfo({ fh: 6 }));
  await host.settled();
  // The two files' releases may interleave; each one's steps are in order.
  assert.deepEqual(events.filter((e) => / 5/.test(e)), [
    `setlk 5 77 ${fuse.F_UNLCK} false`,
    "flush 5",
    `flock 5 77 ${fuse.LOCK_UN}`,
    "release 5",
  ]);
  assert.deepEqual(events.filter((e) => / 6/.test(e)), ["release 6"]);
  assert.deepEqual(host.sent.map((s) => [s.kind, s.args[0]]), [["err", 0], ["err", 0], ["err", 0]]);
});

Deno.test("dispatch: without a flush handler or POSIX locks FLUSH is not registered; forget takes no reply", async () => {
  const host = new FakeHost();
  const forgotten: Array<[number, number]> = [];
  const impls = buildDispatch({
    open: () => new fuse.FileInfo({ fh: 1 }),
    forget: (list) => void forgotten.push(...list),
  }, host);
  assert.equal("flush" in impls, false);
  assert.equal("getlk" in impls, false);
  call(impls, "forget", 9n, 3n);
  await host.settled();
  assert.deepEqual(forgotten, [[9, 3]]);
  assert.deepEqual(host.sent.map((s) => s.kind), ["none"]);
});

Deno.test("dispatch: replies check their values: read size, write count, xattr size probe and ERANGE", () => {
  const host = new FakeHost();
  const impls = buildDispatch({
    read: (_fh, _off, size) => new Uint8Array(size + 1),
    write: () => 5,
    getxattr: () => "value",
    listxattr: () => ["user.a", "user.b"],
  }, host);
  const fi = fileInfo({ fh: 1 });
  call(impls, "read", 2n, 4n, 0n, fi);
  call(impls, "write", 2n, bytesAt(new Uint8Array(4)), 4n, 0n, fi);
  call(impls, "getxattr", 2n, cString("user.a"), 0n);
  call(impls, "listxattr", 2n, 64n);
  assert.deepEqual(host.sent.map((s) => s.kind), ["err", "err", "xattr", "xattr"]);
  assert.match(host.logs[0], /returned 5 bytes, more than the 4 requested/);
  assert.match(host.logs[1], /the byte count must be an integer from 0 to 4, got 5/);
  assert.deepEqual(host.sent[2].args, [new TextEncoder().encode("value"), 0]);
  assert.deepEqual(host.sent[3].args, [new TextEncoder().encode("user.a\0user.b\0"), 64]);
});

Deno.test("dispatch: setattr resolves 'now' times and names the fields to change", () => {
  const host = new FakeHost();
  let seen: [fuse.EntryAttributes, fuse.SetattrFields] | undefined;
  const impls = buildDispatch({
    setattr: (ino, attr, fields) => (seen = [attr, fields], attrs(ino)),
  }, host);
  const stat = new Uint8Array(256);
  // FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW
  call(impls, "setattr", 2n, bytesAt(stat), (1 << 3) | (1 << 5) | (1 << 8), null);
  assert.ok(seen);
  assert.equal(seen[1].updateSize, true);
  assert.equal(seen[1].updateMtime, true);
  assert.equal(seen[1].updateMtimeNow, true);
  assert.equal(seen[1].updateAtime, false);
  assert.equal(seen[0].stMtimeNs, 1_700_000_000_123_456_789n);
  assert.deepEqual(host.sent.map((s) => s.kind), ["attr"]);
});

Deno.test("dispatch: a request past its deadline is answered once with the deadline's errno; the late result is dropped", async () => {
  const host = new FakeHost();
  host.deadlines = new DeadlineWatch(40, fuse.errno.ETIMEDOUT);
  let settle!: (a: fuse.EntryAttributes) => void;
  let signal!: AbortSignal;
  const impls = buildDispatch({
    getattr: (_ino, ctx) => {
      signal = ctx.signal;
      return new Promise((resolve) => settle = resolve);
    },
    lookup: () => Promise.resolve(attrs(3)),
  }, host);
  const slow = call(impls, "getattr", 7n, null);
  const fast = call(impls, "lookup", 1n, cString("x"));
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(host.sent.map((s) => [s.req, s.kind]), [[fast, "entry"]]);
  assert.equal(host.deadlines.size, 1, "a settled request is no longer watched");
  for (let i = 0; i < 50 && host.sent.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(host.sent[1], { req: slow, kind: "err", args: [fuse.errno.ETIMEDOUT] });
  assert.equal(signal.aborted, true);
  assert.equal((signal.reason as DOMException).name, "TimeoutError");
  assert.deepEqual(host.logs, [
    `getattr: deadline 40 ms (inode 7), replied ${fuse.errno.ETIMEDOUT}`,
  ]);
  assert.equal(host.inflight, 0, "the expired request counts as finished");
  settle(attrs(7));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(host.sent.length, 2, "the late result is dropped");
  assert.equal(host.inflight, 0);
  assert.equal(host.deadlines.size, 0);
});

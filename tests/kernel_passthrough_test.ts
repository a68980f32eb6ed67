/**
 * Kernel passthrough (issue 15): `Operations.enableKernelPassthrough` and
 * `FileInfo.backingFd`. Mount-free first: the backing id at its probed
 * offset of `fuse_file_info`, the FUSE_INIT negotiation, and the backing
 * ids' lifecycle through the dispatcher against a fake host (registered
 * once per inode, dropped exactly once: at the last release, when the open
 * reply was not delivered, at the mount's end). Then real mounts of
 * examples/passthrough.ts: with libfuse 3.17 (Debian 13's root filesystem
 * in the portability run) the data goes to the backing file with no READ or
 * WRITE request, mmap included, and 10,000 open/close cycles leave no
 * backing id registered in the kernel; with older libfuse the mount falls
 * back and says why. Which of the two runs here is decided by a probe
 * mount's connection info.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import * as fuse from "../mod.ts";
import { PassthroughFs } from "../examples/passthrough.ts";
import { encodeFileInfo } from "../ffi/codec.ts";
import { connInfoNegotiate, FUSE_CAP, type Negotiation } from "../ffi/conn.ts";
import { fileInfoBits, FOPEN, FUSE_DEV_IOC_BACKING_CLOSE, LAYOUT } from "../ffi/layout.ts";
import type { BackingCalls } from "../ffi/passthrough.ts";
import type { RequestPointer } from "../ffi/reply.ts";
import { buildDispatch } from "../ops/dispatch.ts";
import { KernelPassthrough } from "../ops/passthrough.ts";
import { cString, FakeHost, fakeReq, fileInfo } from "./support/fake_host.ts";
import { PYTHON } from "./support/fs_checks.ts";
import { forceUnmount, isMounted, sh, withSpawnedFs, withTimeout } from "./support/mount.ts";

// ---------------------------------------------------------------- mount-free

Deno.test("codec: the backing id lands at fuse_file_info.backing_id; keepCache and nonseekable stay off with it", () => {
  const FI = LAYOUT.fuse_file_info.fields;
  const bits = fileInfoBits(317);
  const info = new fuse.FileInfo({ fh: 9, keepCache: true, nonseekable: true, backingFd: 4 });
  const withId = new DataView(encodeFileInfo(info, 0o2, bits, false, 7).buffer);
  assert.equal(FI.backing_id.offset, 36, "the offset the layout probe checks");
  assert.equal(withId.getInt32(FI.backing_id.offset, true), 7);
  assert.equal(withId.getBigUint64(FI.fh.offset, true), 9n);
  assert.equal(
    withId.getUint32(FI.bits.offset, true),
    0,
    "the kernel refuses both with passthrough",
  );
  const without = new DataView(encodeFileInfo(info, 0o2, bits).buffer);
  assert.equal(without.getInt32(FI.backing_id.offset, true), 0);
  assert.equal(
    without.getUint32(FI.bits.offset, true),
    (1 << bits.keep_cache) | (1 << bits.nonseekable),
  );
  assert.equal(FOPEN.PASSTHROUGH, 1 << 7);
});

/** A `fuse_conn_info` as libfuse hands it to init, offering `capable`. */
function connInfo(version: number, capable: number) {
  const F = LAYOUT.fuse_conn_info.fields;
  const bytes = new Uint8Array(LAYOUT.fuse_conn_info.size);
  const v = new DataView(bytes.buffer);
  v.setUint32(F.capable.offset, capable, true);
  v.setUint32(F.want.offset, FUSE_CAP.ASYNC_READ, true);
  if (version >= 317) {
    v.setBigUint64(F.capable_ext.offset, BigInt(capable), true);
    v.setBigUint64(F.want_ext.offset, BigInt(FUSE_CAP.ASYNC_READ), true);
  }
  return { ptr: Deno.UnsafePointer.of(bytes), v, F };
}

Deno.test("connInfoNegotiate(): passthrough on 3.17 when offered, never with the writeback cache; else off with the reason", () => {
  const ask: Negotiation = {
    exportSupport: false,
    writebackCache: true,
    posixAcl: false,
    handleKillpriv: false,
    readdirplusAuto: false,
    passthrough: true,
  };
  const offer = FUSE_CAP.ASYNC_READ | FUSE_CAP.WRITEBACK_CACHE | FUSE_CAP.PASSTHROUGH;

  const c317 = connInfo(317, offer);
  c317.v.setUint32(c317.F.max_backing_stack_depth.offset, 7, true);
  const on = connInfoNegotiate(c317.ptr, ask, 317);
  assert.equal(on.passthrough, true);
  assert.equal(on.passthroughFallback, "");
  const wantExt = c317.v.getBigUint64(c317.F.want_ext.offset, true);
  assert.equal(wantExt & BigInt(FUSE_CAP.PASSTHROUGH), BigInt(FUSE_CAP.PASSTHROUGH));
  assert.equal(wantExt & BigInt(FUSE_CAP.WRITEBACK_CACHE), 0n, "the kernel refuses both");
  assert.equal(on.want & FUSE_CAP.PASSTHROUGH, FUSE_CAP.PASSTHROUGH);
  assert.equal(c317.v.getUint32(c317.F.max_backing_stack_depth.offset, true), 0);

  const noOffer = connInfo(317, FUSE_CAP.ASYNC_READ | FUSE_CAP.WRITEBACK_CACHE);
  const kernelOff = connInfoNegotiate(noOffer.ptr, ask, 317);
  assert.equal(kernelOff.passthrough, false);
  assert.match(kernelOff.passthroughFallback, /kernel does not offer FUSE_PASSTHROUGH/);
  assert.notEqual(kernelOff.want & FUSE_CAP.WRITEBACK_CACHE, 0, "writeback stays when it can");

  const c314 = connInfo(314, offer);
  const old = connInfoNegotiate(c314.ptr, ask, 314);
  assert.equal(old.passthrough, false);
  assert.equal(old.passthroughFallback, "libfuse 3.14 has no kernel passthrough (it needs 3.17)");
  assert.equal(old.want & FUSE_CAP.PASSTHROUGH, 0, "bit 29 is not libfuse 3.14's to set");
  assert.equal(c314.v.getUint32(c314.F.max_backing_stack_depth.offset, true), 0);

  const notAsked = connInfoNegotiate(connInfo(317, offer).ptr, { ...ask, passthrough: false }, 317);
  assert.deepEqual([notAsked.passthrough, notAsked.passthroughFallback], [false, ""]);
});

/** Backing-file calls that record what the kernel would have been asked. */
class FakeBackingCalls implements BackingCalls {
  readonly opened: Array<{ req: RequestPointer; fd: number; id: number }> = [];
  readonly closed: Array<{ req: RequestPointer | null; id: number }> = [];
  nextId = 1;
  /** The errno to refuse registrations with (0: accept). */
  refuse = 0;
  attempts = 0;
  open(req: RequestPointer, fd: number) {
    this.attempts++;
    if (this.refuse) return { id: 0 as const, errno: this.refuse, message: "refused" };
    const id = this.nextId++;
    this.opened.push({ req, fd, id });
    return { id };
  }
  close(req: RequestPointer | null, id: number): number {
    this.closed.push({ req, id });
    return 0;
  }
}

const attrs = (ino: number) =>
  new fuse.EntryAttributes({ stIno: ino, stMode: 0o100644, stNlink: 1 });

/** A fake host with kernel passthrough negotiated, dispatching `ops`. */
function passthroughHost(ops: fuse.Operations) {
  const calls = new FakeBackingCalls();
  const turnedOff: string[] = [];
  const passthrough = new KernelPassthrough(calls, null, (why) => turnedOff.push(why));
  passthrough.connected(true, "");
  const host = Object.assign(new FakeHost(317), { passthrough });
  const impls = buildDispatch({ enableKernelPassthrough: true, ...ops }, host) as Record<
    string,
    (req: RequestPointer, ...a: unknown[]) => void
  >;
  const call = (op: string, ...args: unknown[]) => {
    const req = fakeReq();
    impls[op](req, ...args);
    return req;
  };
  return { calls, host, passthrough, turnedOff, call, impls };
}

Deno.test("dispatch: one backing id per inode, shared by its opens, closed once at the last release", () => {
  const { calls, host, passthrough, call, impls } = passthroughHost({
    open: (ino, flags) => new fuse.FileInfo({ fh: ino * 10 + flags, backingFd: 40 + flags }),
  });
  assert.ok(impls.release, "release is registered for passthrough without a release handler");
  call("open", 5n, fileInfo({ flags: 0 }));
  call("open", 5n, fileInfo({ flags: 1 }));
  call("open", 6n, fileInfo({ flags: 2 }));
  assert.deepEqual(calls.opened.map((o) => [o.fd, o.id]), [[40, 1], [42, 2]], "one per inode");
  assert.deepEqual(host.sent.map((s) => [s.kind, s.args[2]]), [
    ["open", 1],
    ["open", 1],
    ["open", 2],
  ]);
  assert.equal(passthrough.registered, 2);
  call("release", 5n, fileInfo({ fh: 50 }));
  assert.deepEqual(calls.closed, [], "inode 5 is still open once");
  const last = call("release", 5n, fileInfo({ fh: 51 }));
  assert.deepEqual(calls.closed, [{ req: last, id: 1 }], "with the release's own request");
  call("release", 5n, fileInfo({ fh: 51 }));
  call("release", 7n, fileInfo({ fh: 70 }));
  assert.equal(calls.closed.length, 1, "a release of no passthrough open closes nothing");
  assert.deepEqual(host.sent.slice(3).map((s) => [s.kind, s.args[0]]), [
    ["err", 0],
    ["err", 0],
    ["err", 0],
    ["err", 0],
  ]);
  passthrough.closeAll();
  assert.deepEqual(calls.closed.slice(1), [{ req: null, id: 2 }], "the mount's end: inode 6");
  passthrough.closeAll();
  assert.equal(calls.closed.length, 2, "exactly once");
});

Deno.test("dispatch: an id whose reply did not reach the kernel is closed at once; a malformed reply too", () => {
  const { calls, host, call } = passthroughHost({
    open: () => new fuse.FileInfo({ fh: 1, backingFd: 3 }),
    create: (_p, name) => {
      const bad = new TextDecoder().decode(name) === "bad";
      const entry = bad ? { ...attrs(8), stMode: -1 } as fuse.EntryAttributes : attrs(8);
      return [new fuse.FileInfo({ fh: 2, backingFd: 4 }), entry];
    },
  });
  host.replyResult = -2; // ENOENT: the request was interrupted meanwhile
  call("open", 5n, fileInfo());
  assert.deepEqual(calls.closed, [{ req: null, id: 1 }], "no release will come for it");
  host.replyResult = 0;
  call("create", 1n, cString("bad"), 0o644, fileInfo());
  assert.deepEqual(calls.closed.slice(1), [{ req: null, id: 2 }]);
  assert.deepEqual(host.sent.slice(-1).map((s) => [s.kind, s.args[0]]), [["err", fuse.errno.EIO]]);
  call("create", 1n, cString("good"), 0o644, fileInfo());
  assert.deepEqual(host.sent.at(-1)!.args.slice(3), [3], "create's backing id");
  assert.deepEqual(calls.opened.at(-1)!.fd, 4);
  call("release", 8n, fileInfo({ fh: 2 }));
  assert.deepEqual(calls.closed.at(-1)!.id, 3);
});

Deno.test("dispatch: a backingFd that is no descriptor answers EIO; EPERM turns passthrough off for the mount", () => {
  const { calls, host, passthrough, turnedOff, call } = passthroughHost({
    open: (ino) => new fuse.FileInfo({ fh: 1, backingFd: ino === 5 ? -1 : 3 }),
  });
  call("open", 5n, fileInfo());
  assert.deepEqual(host.sent.map((s) => [s.kind, s.args[0]]), [["err", fuse.errno.EIO]]);
  assert.equal(calls.attempts, 0, "nothing registered for an invalid descriptor");
  calls.refuse = 1;
  call("open", 6n, fileInfo());
  assert.deepEqual(host.sent.at(-1)!.args.slice(2), [0], "the open goes without passthrough");
  assert.equal(passthrough.active, false);
  assert.match(turnedOff.join(), /refused to register a backing file.*CAP_SYS_ADMIN/);
  calls.refuse = 0;
  call("open", 7n, fileInfo());
  assert.equal(calls.attempts, 1, "no further attempts once the kernel refused the server");
});

// -------------------------------------------------------------- real mounts

/** What a probe mount's FUSE_INIT says about passthrough here. */
async function probePassthrough(): Promise<{ on: boolean; why: string }> {
  const dir = await Deno.makeTempDir({ prefix: "denofuse-ptprobe-" });
  try {
    const handle = fuse.mount({ enableKernelPassthrough: true }, dir, {
      options: ["fsname=denofuse-ptprobe"],
      handleSignals: false,
    });
    try {
      await withTimeout("FUSE_INIT", 10_000, waitFor(() => handle.connection !== undefined));
      const conn = handle.connection!;
      return { on: conn.passthrough, why: conn.passthroughFallback };
    } finally {
      await withTimeout("probe unmount", 10_000, handle.unmount());
    }
  } finally {
    await forceUnmount(dir);
    await Deno.remove(dir);
  }
}

async function waitFor(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 10));
}

const probe = await probePassthrough();
const needs317 = (name: string) => probe.on ? name : `${name} — SKIPPED: ${probe.why}`;

interface PtEnv {
  src: string;
  mnt: string;
  handle: fuse.MountHandle;
  fs: PassthroughFs;
}

/**
 * Mounts examples/passthrough.ts over a fresh source directory in this
 * process, runs `fn` (with a timeout), then unmounts and removes it all.
 */
async function withPt(
  fn: (env: PtEnv) => Promise<void>,
  { debug = false, kernelPassthrough = true } = {},
): Promise<void> {
  const base = await Deno.makeTempDir({ prefix: "denofuse-kpt-" });
  const src = join(base, "src"), mnt = join(base, "mnt");
  await Deno.mkdir(src);
  await Deno.mkdir(mnt);
  const fs = new PassthroughFs(src, { kernelPassthrough });
  try {
    const handle = fuse.mount(fs, mnt, {
      options: ["default_permissions", "fsname=denofuse-kpt"],
      handleSignals: false,
      debug,
    });
    try {
      await withTimeout("test body", 25_000, fn({ src, mnt, handle, fs }));
    } finally {
      await withTimeout("unmount", 10_000, handle.unmount());
    }
    assert.equal(await isMounted(mnt), false, `${mnt} is still mounted`);
  } finally {
    fs.close();
    await forceUnmount(mnt);
    await Deno.remove(base, { recursive: true });
  }
}

/** Runs python3 code with `args` as `A`; returns the JSON it printed last. */
async function py(code: string, ...args: string[]) {
  const r = await sh(PYTHON, [
    "-c",
    `import os, sys, json, mmap\nA = sys.argv[1:]\n${code}`,
    ...args,
  ], {
    timeoutMs: 20_000,
  });
  assert.equal(r.code, 0, `python failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!);
}

/** Requests of `op` the server answered. */
const served = (h: fuse.MountHandle, op: string) => h.statistics()[op]?.count ?? 0;

const ROUND_TRIP = `
m, s = A
data = os.urandom(3 * 1024 * 1024 + 123)
with open(m + "/a", "wb") as f: f.write(data)
r = {"mount_to_backing": open(s + "/a", "rb").read() == data}
other = os.urandom(2 * 1024 * 1024 + 7)
with open(s + "/b", "wb") as f: f.write(other)
r["backing_to_mount"] = open(m + "/b", "rb").read() == other
fd = os.open(m + "/a", os.O_RDWR)
os.pwrite(fd, b"XYZ", 409605)
r["pwrite"] = open(s + "/a", "rb").read()[409605:409608] == b"XYZ"
sfd = os.open(s + "/a", os.O_WRONLY); os.pwrite(sfd, b"backing", 17); os.close(sfd)
r["pread"] = os.pread(fd, 7, 17) == b"backing"
os.close(fd)
with open(m + "/a", "ab") as f: f.write(b"tail")
r["append"] = open(s + "/a", "rb").read()[-4:] == b"tail"
r["size"] = os.stat(m + "/a").st_size == os.stat(s + "/a").st_size == len(data) + 4
print(json.dumps(r))
`;

Deno.test({
  name: needs317(
    "kernel passthrough: data goes through the backing file both ways, and no READ or WRITE reaches the server",
  ),
  ignore: !probe.on,
  async fn() {
    const lines: string[] = [];
    const error = console.error;
    console.error = (...a: unknown[]) => void lines.push(a.join(" "));
    try {
      await withPt(async ({ src, mnt, handle }) => {
        assert.equal(handle.connection?.passthrough, true);
        assert.deepEqual(await py(ROUND_TRIP, mnt, src), {
          mount_to_backing: true,
          backing_to_mount: true,
          pwrite: true,
          pread: true,
          append: true,
          size: true,
        });
        assert.equal(served(handle, "create") + served(handle, "open"), 4, "a, b, a, a");
        assert.equal(served(handle, "read"), 0, "READ requests");
        assert.equal(served(handle, "write"), 0, "WRITE requests");
      }, { debug: true });
    } finally {
      console.error = error;
    }
    const log = lines.join("\n");
    assert.match(log, /kernel passthrough on/);
    assert.match(log, /#\d+ backing id \d+ for inode \d+ from fd \d+/);
    assert.match(log, /closed backing id \d+ of inode \d+/);
  },
});

const MMAP = `
m, s = A
with open(s + "/f", "wb") as f: f.write(b"." * 65536)
fd = os.open(m + "/f", os.O_RDWR)
mm = mmap.mmap(fd, 65536, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
mm[100:105] = b"mount"
mm.flush()
r = {"mmap_to_backing": open(s + "/f", "rb").read()[100:105] == b"mount"}
sfd = os.open(s + "/f", os.O_WRONLY); os.pwrite(sfd, b"backing", 40000); os.close(sfd)
r["backing_to_mmap"] = mm[40000:40007] == b"backing"
mm.close()
os.close(fd)
with open(m + "/f", "rb") as f:
    ro = mmap.mmap(f.fileno(), 0, mmap.MAP_SHARED, mmap.PROT_READ)
    r["read_only_map"] = ro[100:105] == b"mount" and len(ro) == 65536
    ro.close()
print(json.dumps(r))
`;

Deno.test({
  name: needs317("kernel passthrough: mmap through the mount maps the backing file"),
  ignore: !probe.on,
  async fn() {
    await withPt(async ({ src, mnt, handle }) => {
      assert.deepEqual(await py(MMAP, mnt, src), {
        mmap_to_backing: true,
        backing_to_mmap: true,
        read_only_map: true,
      });
      assert.equal(served(handle, "read") + served(handle, "write"), 0);
    });
  },
});

/** The kernel's verdict on dropping each backing id in `ids` of this process's FUSE devices. */
function closeEachBackingId(ids: number): number[] {
  const libc = Deno.dlopen("libc.so.6", {
    ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
    __errno_location: { parameters: [], result: "pointer" },
  });
  try {
    const devices = [...Deno.readDirSync("/proc/self/fd")]
      .map((e) => Number(e.name))
      .filter((fd) => {
        try {
          return Deno.readLinkSync(`/proc/self/fd/${fd}`) === "/dev/fuse";
        } catch {
          return false;
        }
      });
    assert.equal(devices.length, 1, "one FUSE device open: this test's mount");
    const errnos: number[] = [];
    const id = new Int32Array(1);
    for (id[0] = 1; id[0] <= ids; id[0]++) {
      const rc = libc.symbols.ioctl(devices[0], BigInt(FUSE_DEV_IOC_BACKING_CLOSE), id);
      errnos.push(
        rc === 0 ? 0 : new Deno.UnsafePointerView(libc.symbols.__errno_location()!).getInt32(0),
      );
    }
    return errnos;
  } finally {
    libc.close();
  }
}

const CYCLES = `
m, n = A[0], int(A[1])
for i in range(n):
    fd = os.open(m + "/c", os.O_RDWR if i % 10 == 0 else os.O_RDONLY)
    os.close(fd)
fd = os.open(m + "/c", os.O_RDONLY)
r = {"still": os.pread(fd, 5, 0) == b"hello"}
os.close(fd)
print(json.dumps(r))
`;

Deno.test({
  name: needs317(
    "kernel passthrough: 10,000 open/close cycles leave no backing id in the kernel and no descriptor",
  ),
  ignore: !probe.on,
  async fn() {
    await withPt(async ({ src, mnt, handle, fs }) => {
      await Deno.writeTextFile(join(src, "c"), "hello");
      const fds = () => [...Deno.readDirSync("/proc/self/fd")].length;
      await py(CYCLES, mnt, "10"); // the inode and its O_PATH descriptor exist from here on
      const before = fds();
      assert.deepEqual(await py(CYCLES, mnt, "10000"), { still: true });
      assert.equal(fds(), before, "the server's descriptors");
      assert.equal(fs.openHandles, 0);
      assert.equal(served(handle, "read"), 0, "the last open was passthrough too");
      // Ids are allocated cyclically from 1 per connection, so every id ever
      // handed out is at most the number of opens; each must be gone.
      const opens = served(handle, "open");
      assert.ok(opens >= 10_011, `${opens} opens`);
      const left = closeEachBackingId(opens + 64).flatMap((e, i) => e === 2 ? [] : [[i + 1, e]]);
      assert.deepEqual(left, [], "[id, errno] of backing ids the kernel still had (ENOENT = 2)");
    });
  },
});

Deno.test({
  name: probe.on
    ? "kernel passthrough falls back on older libfuse — SKIPPED: this libfuse has it (the fallback runs on 3.10 and 3.14)"
    : "kernel passthrough falls back: the mount works, reads and writes reach the server, and it says why",
  ignore: probe.on,
  async fn() {
    const lines: string[] = [];
    const error = console.error;
    console.error = (...a: unknown[]) => void lines.push(a.join(" "));
    try {
      await withPt(async ({ src, mnt, handle }) => {
        const conn = handle.connection!;
        assert.equal(conn.passthrough, false);
        assert.match(conn.passthroughFallback, /^libfuse 3\.\d+ has no kernel passthrough/);
        assert.equal(conn.want & fuse.FUSE_CAP.PASSTHROUGH, 0);
        assert.deepEqual(Object.values(await py(ROUND_TRIP, mnt, src)), Array(6).fill(true));
        assert.ok(served(handle, "read") > 0 && served(handle, "write") > 0);
      }, { debug: true });
    } finally {
      console.error = error;
    }
    assert.match(
      lines.join("\n"),
      /kernel passthrough off: libfuse 3\.\d+ has no kernel passthrough/,
    );
  },
});

Deno.test("kernel passthrough: a filesystem that does not enable it gets none, and the example's -o kernel_passthrough=off is not passed to libfuse", async () => {
  await withPt(async ({ src, mnt, handle }) => {
    assert.deepEqual([handle.connection!.passthrough, handle.connection!.passthroughFallback], [
      false,
      "",
    ]);
    await Deno.writeTextFile(join(src, "x"), "data");
    assert.equal(await py(`print(json.dumps(open(A[0]).read()))`, join(mnt, "x")), "data");
    assert.ok(served(handle, "read") > 0);
  }, { kernelPassthrough: false });
  const src = await Deno.makeTempDir({ prefix: "denofuse-kpt-cli-" });
  try {
    await Deno.writeTextFile(join(src, "x"), "cli");
    await withSpawnedFs(
      "passthrough.ts",
      ["-o", "kernel_passthrough=off", src],
      async ({ mnt }) => {
        assert.equal(await Deno.readTextFile(join(mnt, "x")), "cli");
      },
    );
  } finally {
    await Deno.remove(src, { recursive: true });
  }
});

Deno.test("connInfoNegotiate(): FUSE over io_uring is never wanted, even where libfuse 3.18 wants it by default", () => {
  const ask: Negotiation = {
    exportSupport: false,
    writebackCache: false,
    posixAcl: false,
    handleKillpriv: false,
    readdirplusAuto: false,
  };
  const c318 = connInfo(318, FUSE_CAP.ASYNC_READ);
  const ring = BigInt(FUSE_CAP.OVER_IO_URING);
  c318.v.setBigUint64(c318.F.capable_ext.offset, BigInt(FUSE_CAP.ASYNC_READ) | ring, true);
  c318.v.setBigUint64(c318.F.want_ext.offset, BigInt(FUSE_CAP.ASYNC_READ) | ring, true);
  const conn = connInfoNegotiate(c318.ptr, ask, 318);
  assert.equal(c318.v.getBigUint64(c318.F.want_ext.offset, true) & ring, 0n);
  assert.equal(conn.want & FUSE_CAP.OVER_IO_URING, 0);
  assert.notEqual(conn.want & FUSE_CAP.ASYNC_READ, 0, "the rest stays");
});

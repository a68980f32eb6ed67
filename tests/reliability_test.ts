/**
 * Reliability: interrupts, wrong-shaped replies, crashes and bad input, each
 * through the kernel or a real subprocess.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import * as fuse from "../mod.ts";
import { HelloFs } from "../examples/hello.ts";
import { isMounted, REPO, sh, withMount, withSpawnedFs } from "./support/mount.ts";
import { capturingErrors } from "./support/log.ts";
import { QEMU_LIMITS, unlessEmulated } from "./support/emulation.ts";

Deno.test("a read blocked in a slow handler returns EINTR promptly when the reader gets a signal", async () => {
  let aborted = false;
  const hello = new HelloFs();
  const ops: fuse.Operations = {
    getattr: (i) => hello.getattr(i),
    lookup: (p, n) => hello.lookup(p, n),
    open: (i, f) => new fuse.FileInfo({ ...hello.open(i, f), directIo: true }),
    read: (_fh, _off, _size, ctx) =>
      new Promise((_, reject) => {
        // Never answers by itself: only the interrupt ends it.
        ctx.signal.addEventListener("abort", () => {
          aborted = true;
          reject(ctx.signal.reason);
        });
      }),
  };
  await withMount(ops, async (mnt) => {
    const r = await sh("python3", [
      "-c",
      `import errno, os, signal, sys, time
def on_alarm(signum, frame):
    raise InterruptedError(errno.EINTR, "alarm")
signal.signal(signal.SIGALRM, on_alarm)
fd = os.open(sys.argv[1] + "/message", os.O_RDONLY)
signal.setitimer(signal.ITIMER_REAL, 0.2)
t = time.monotonic()
try:
    os.read(fd, 100)
    print("read returned?!")
except InterruptedError:
    print("EINTR", round(time.monotonic() - t, 1) < 2)`,
      mnt,
    ], { timeoutMs: 10_000 });
    assert.equal(r.stdout, "EINTR True\n", r.stderr);
    assert.ok(aborted, "the handler saw its signal abort");
    assert.equal((await Deno.stat(join(mnt, "message"))).size, 12, "still serving");
  });
});

function lookupValue(n: string): fuse.EntryAttributes | undefined {
  if (n === "undefined") return undefined;
  if (n === "zero") return new fuse.EntryAttributes({ stIno: 0, entryTimeout: 0 });
  if (n === "inode0") return new fuse.EntryAttributes({ stIno: 7, generation: -1 });
  return new fuse.EntryAttributes({ stIno: 9, stMode: 0o100644, attrTimeout: 0 });
}

Deno.test("wrong-shaped replies get EIO and a log line naming the operation and the expectation", async () => {
  const ops: fuse.Operations = {
    getattr: (inode) => {
      if (inode === fuse.ROOT_INODE) {
        return new fuse.EntryAttributes({ stIno: 1, stMode: 0o40755, stNlink: 2 });
      }
      // NaN times are not nanoseconds.
      return new fuse.EntryAttributes({ stIno: inode, stMode: 0o100644, stAtimeNs: NaN as never });
    },
    // Resolving (not returning) the wrong shape: the promise path checks it too.
    // deno-lint-ignore no-explicit-any
    lookup: ((_p: number, name: Uint8Array): Promise<any> => {
      const n = new TextDecoder().decode(name);
      return Promise.resolve(lookupValue(n));
    }) as fuse.Operations["lookup"],
    readdir: (_fh, _start, token) => {
      fuse.readdirReply(token, "a/b", new fuse.EntryAttributes({ stIno: 3, stMode: 0o100644 }), 1);
    },
  };
  const log = await capturingErrors(() =>
    withMount(ops, async (mnt) => {
      const eio = /Input\/output error|os error 5/;
      await assert.rejects(Deno.stat(join(mnt, "undefined")), eio);
      await assert.rejects(
        Deno.stat(join(mnt, "zero")),
        Deno.errors.NotFound,
        "ino 0 is a negative entry",
      );
      await assert.rejects(Deno.stat(join(mnt, "inode0")), eio);
      await assert.rejects(Deno.stat(join(mnt, "file")), eio);
      const ls = await sh("ls", [mnt]);
      assert.notEqual(ls.code, 0);
      assert.match(ls.stderr, /Input\/output error/);
    }, { options: ["fsname=wrong-shapes"] })
  );
  assert.match(
    log,
    /the lookup handler returned an invalid value \(expected EntryAttributes, got undefined\)/,
  );
  assert.match(log, /the lookup handler returned an invalid value \(generation must be an integer/);
  assert.match(
    log,
    /the getattr handler returned an invalid value \(stAtimeNs must be a bigint of nanoseconds, got NaN\)/,
  );
  assert.match(
    log,
    /the readdir handler returned an invalid value \(readdir name "a\/b" contains '\/' or NUL\)/,
  );
});

Deno.test({
  ...unlessEmulated(
    "auto_unmount: kill -9 of the server leaves no dead mount behind",
    QEMU_LIMITS.cloneNewns,
  ),
}, async () => {
  await withSpawnedFs("hello.ts", ["-o", "auto_unmount"], async (fs) => {
    fs.child.kill("SIGKILL");
    await fs.exited();
    let gone = false;
    for (let i = 0; i < 500 && !gone; i++) {
      gone = !(await isMounted(fs.mnt));
      if (!gone) await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(gone, "fusermount3's watchdog unmounted it");
    const st = await sh("stat", [fs.mnt]);
    assert.equal(st.code, 0, st.stderr);
    assert.doesNotMatch(st.stderr, /not connected/);
  });
});

const HELLO = join(REPO, "examples", "hello.ts");

async function runHello(flags: string[], args: string[], env: Record<string, string> = {}) {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, HELLO, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: r.code, stderr: new TextDecoder().decode(r.stderr) };
}

Deno.test("bad input: missing libfuse3, missing FFI permission, missing or unusable /dev/fuse", async () => {
  const mnt = await Deno.makeTempDir({ prefix: "denofuse-mnt-" });
  try {
    const noLib = await runHello(["--allow-ffi", "--allow-read", "--allow-env"], [mnt], {
      DENOFUSE_LIBFUSE: "/nonexistent/libfuse3.so.3",
    });
    assert.notEqual(noLib.code, 0);
    assert.match(
      noLib.stderr,
      /could not load libfuse3\. Tried:\n\s+\/nonexistent\/libfuse3\.so\.3/,
    );
    assert.match(noLib.stderr, /DENOFUSE_LIBFUSE is set/);
    const noFfi = await runHello(["--allow-read"], [mnt]);
    assert.notEqual(noFfi.code, 0);
    assert.match(noFfi.stderr, /needs FFI permission: run deno with --allow-ffi/);
    // /dev/fuse hidden in a private mount namespace.
    const noDev = await sh("unshare", [
      "--mount",
      "sh",
      "-c",
      `mount -t tmpfs none /dev && "${Deno.execPath()}" run --allow-ffi --allow-read "${HELLO}" "${mnt}"`,
    ]);
    assert.notEqual(noDev.code, 0);
    assert.match(
      noDev.stderr,
      /\/dev\/fuse does not exist: load the FUSE kernel module \(modprobe fuse\)/,
    );
    // /dev/fuse present but not accessible to this (unprivileged) process.
    const denied = await sh("unshare", [
      "--mount",
      "sh",
      "-c",
      `touch /tmp/denofuse-nodev && chmod 000 /tmp/denofuse-nodev && mount --bind /tmp/denofuse-nodev /dev/fuse && ` +
      `setpriv --reuid=65534 --regid=65534 --clear-groups "${Deno.execPath()}" run --allow-ffi --allow-read "${HELLO}" /tmp`,
    ]);
    assert.notEqual(denied.code, 0);
    assert.match(
      denied.stderr,
      /\/dev\/fuse is not readable and writable by this process \(EACCES\)/,
    );
    assert.equal(await isMounted(mnt), false);
  } finally {
    await Deno.remove("/tmp/denofuse-nodev").catch(() => {});
    await Deno.remove(mnt);
  }
});

Deno.test("hello runs with only --allow-ffi (pre-mount checks need --allow-read, and are skipped)", async () => {
  await withSpawnedFs("hello.ts", [], async ({ mnt }) => {
    const r = await sh("cat", [join(mnt, "message")]);
    assert.equal(r.stdout, "hello world\n");
  }, { denoFlags: ["--allow-ffi"] });
});

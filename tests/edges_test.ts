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
import { TmpFs } from "../examples/tmpfs.ts";
import {
  forceUnmount,
  isMounted,
  sh,
  withMount,
  withSpawnedFs,
  withTimeout,
} from "./support/mount.ts";
import { capturingErrors } from "./support/log.ts";
import { testMount } from "../testing.ts";

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

const SLOW_START = `
import * as fuse from "${new URL("../mod.ts", import.meta.url).href}";
import { HelloFs } from "${new URL("../examples/hello.ts", import.meta.url).href}";
fuse.init(new HelloFs(), Deno.args[0], ["fsname=slow-start"]);
console.log("mounted");
// Busy between the mount and main(): the signal arrives in this window.
const until = Date.now() + 1500;
while (Date.now() < until) { /* hold the JS thread */ }
try {
  await fuse.main();
} finally {
  fuse.close();
}
console.log("closed");
`;

Deno.test("a SIGTERM between mounting and main() unmounts cleanly instead of leaving a dead mount", async () => {
  const dir = await Deno.makeTempDir({ prefix: "denofuse-edge-" });
  const script = join(dir, "slow_start.ts"), mnt = join(dir, "mnt");
  await Deno.writeTextFile(script, SLOW_START);
  await Deno.mkdir(mnt);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-ffi", "--allow-read", script, mnt],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  try {
    const deadline = Date.now() + 20_000;
    while (!(await isMounted(mnt))) {
      assert.ok(Date.now() < deadline, "mounted within 20 s");
      await new Promise((r) => setTimeout(r, 5));
    }
    child.kill("SIGTERM");
    const out = await withTimeout("slow_start exit", 15_000, child.output());
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, `exit status (stderr: ${new TextDecoder().decode(out.stderr)})`);
    assert.equal(stdout, "mounted\nclosed\n");
    assert.equal(await isMounted(mnt), false, "unmounted");
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
    await child.status;
    await forceUnmount(mnt);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("offsets past 2^53: a directory read there ends, writes and truncates there get EFBIG", async () => {
  await withMount(new TmpFs(), async (mnt) => {
    for (let i = 0; i < 3; i++) await Deno.writeTextFile(join(mnt, `f${i}`), "x");
    const r = await sh("python3", [
      "-c",
      `import ctypes, errno, os, sys
libc = ctypes.CDLL(None, use_errno=True)
d = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
buf = ctypes.create_string_buffer(4096)
print("first", libc.getdents64(d, buf, 4096) > 0)
for at in (2**53, 2**62):
    os.lseek(d, at, os.SEEK_SET)
    n = libc.getdents64(d, buf, 4096)
    print(at, n, errno.errorcode.get(ctypes.get_errno()) if n < 0 else "")
f = sys.argv[1] + "/f0"
fd = os.open(f, os.O_WRONLY)
for at in (2**53 - 1, 2**53, 2**62):
    try:
        os.pwrite(fd, b"x", at)
        print("pwrite", at, "ok")
    except OSError as e:
        print("pwrite", at, errno.errorcode[e.errno])
for size in (2**53, 2**62):
    try:
        os.truncate(f, size)
        print("truncate", size, "ok")
    except OSError as e:
        print("truncate", size, errno.errorcode[e.errno])`,
      mnt,
    ]);
    assert.equal(
      r.stdout,
      "first True\n" +
        `${2 ** 53} 0 \n${2n ** 62n} 0 \n` +
        `pwrite ${2 ** 53 - 1} EFBIG\npwrite ${2 ** 53} EFBIG\npwrite ${2n ** 62n} EFBIG\n` +
        `truncate ${2 ** 53} EFBIG\ntruncate ${2n ** 62n} EFBIG\n`,
      r.stderr,
    );
  });
});

Deno.test("clear errors: a getattr result of the wrong type is named, a readdir name over 255 bytes is refused", async () => {
  const hello = new HelloFs();
  const long = (n: number) => "n".repeat(n);
  const ops: fuse.Operations = {
    getattr: (i) => {
      if (i === 7) return { stIno: 7, stMode: 0o100644 } as unknown as fuse.EntryAttributes;
      return hello.getattr(i);
    },
    lookup: (p, n) => {
      const name = new TextDecoder().decode(n);
      if (name === "plain") {
        return new fuse.EntryAttributes({ stIno: 7, stMode: 0o100644, attrTimeout: 0 });
      }
      if (name === long(255)) return hello.lookup(p, new TextEncoder().encode("message"));
      return hello.lookup(p, n);
    },
    opendir: (i) => i,
    readdir: (fh, start, token) => {
      if (start > 0) return;
      const attr = hello.getattr(fuse.ROOT_INODE + 1);
      fuse.readdirReply(
        token,
        long(fh === fuse.ROOT_INODE && dirNameLength === 300 ? 300 : 255),
        attr,
        1,
      );
    },
  };
  let dirNameLength = 255;
  const log = await capturingErrors(() =>
    withMount(ops, async (mnt) => {
      const plain = await sh("stat", [join(mnt, "plain")]);
      assert.match(plain.stderr, /Input\/output error/);
      const ls255 = await sh("ls", [mnt]);
      assert.equal(ls255.stdout, long(255) + "\n", ls255.stderr);
      dirNameLength = 300;
      const ls300 = await sh("ls", [mnt]);
      assert.match(ls300.stderr, /Input\/output error/);
    }, { options: ["fsname=clear-errors"] })
  );
  assert.match(
    log,
    /the getattr handler returned an invalid value \(expected EntryAttributes, got an object with keys stIno, stMode\)/,
  );
  assert.match(log, /readdir name must be 1 to 255 bytes \(NAME_MAX\), got 300/);
});

Deno.test("statistics() samples each operation on its own: a cat loop measures open, read and release", async () => {
  const hello = new HelloFs();
  const ops: fuse.Operations = {
    getattr: (i) => hello.getattr(i),
    lookup: (p, n) => hello.lookup(p, n),
    open: (i, f) => new fuse.FileInfo({ ...hello.open(i, f), directIo: true }),
    read: (fh, off, size) => hello.read(fh, off, size),
    release: () => {},
  };
  await using fs = await testMount(ops, { options: ["fsname=stats-sampling"] });
  const r = await sh("sh", ["-c", `for i in $(seq 24); do cat "${fs.mountpoint}/message"; done`]);
  assert.equal(r.stdout, "hello world\n".repeat(24), r.stderr);
  const stats = fs.handle.statistics();
  for (const op of ["open", "read", "release"]) {
    const s = stats[op];
    assert.ok(s.count >= 24, `${op}: ${JSON.stringify(s)}`);
    assert.ok(
      s.p50Us > 0 && s.p99Us >= s.p50Us && s.maxUs >= s.p99Us,
      `${op}: ${JSON.stringify(s)}`,
    );
    for (const v of [s.p50Us, s.p90Us, s.p99Us, s.maxUs]) {
      assert.equal(Math.round(v * 10) / 10, v, `${op} rounded to 0.1 µs: ${v}`);
    }
  }
});

/** Milliseconds from the mount's disappearance to the server's exit, stopped by `stop`. */
async function exitLatencyMs(stop: (child: Deno.ChildProcess, mnt: string) => Promise<void>) {
  let latency = -1;
  await withSpawnedFs("hello.ts", [], async ({ mnt, child, exited }) => {
    assert.equal((await sh("cat", [join(mnt, "message")])).stdout, "hello world\n");
    await stop(child, mnt);
    while (await isMounted(mnt)) await new Promise((r) => setTimeout(r, 2));
    const unmounted = performance.now();
    assert.equal((await exited()).code, 0);
    latency = performance.now() - unmounted;
  });
  return latency;
}

Deno.test("the server exits within 0.2 s of the unmount (SIGTERM or fusermount3 -u)", async () => {
  const stops = {
    SIGTERM: (child: Deno.ChildProcess) => Promise.resolve(child.kill("SIGTERM")),
    "fusermount3 -u": async (_: Deno.ChildProcess, mnt: string) => {
      assert.equal((await sh("fusermount3", ["-u", mnt])).code, 0);
    },
  };
  for (const [how, stop] of Object.entries(stops)) {
    const runs = [];
    for (let i = 0; i < 3; i++) runs.push(await exitLatencyMs(stop));
    runs.sort((a, b) => a - b);
    console.log(`exit after ${how}: ${runs.map((ms) => ms.toFixed(0)).join(", ")} ms`);
    assert.ok(runs[1] < 200, `median exit latency after ${how}: ${runs[1].toFixed(0)} ms`);
  }
});

Deno.test("a mount option value may hold commas and backslashes (escaped for libfuse)", async () => {
  const source = "/srv/a,b\\c";
  await withMount(new HelloFs(), async (mnt) => {
    const line = (await Deno.readTextFile("/proc/self/mountinfo")).split("\n")
      .find((l) => l.split(" ")[4] === mnt);
    // mountinfo escapes the backslash as \134.
    assert.match(line ?? "", / - fuse \/srv\/a,b\\134c /);
    assert.equal((await Deno.stat(join(mnt, "message"))).size, 12);
  }, { options: [`fsname=${source}`] });
  assert.throws(() => fuse.mount(new HelloFs(), "/tmp", ["ro,fsname=x"]), /without commas/);
  // Only fsname's value is passed on escaped; elsewhere a comma would split the option.
  assert.throws(
    () => fuse.mount(new HelloFs(), "/tmp", ["max_read=4096,allow_other"]),
    /without commas/,
  );
});

Deno.test("processIds() needs libc only: it works where libfuse cannot be loaded", async () => {
  const script = `
import { processIds } from "${new URL("../mod.ts", import.meta.url).href}";
console.log(JSON.stringify(processIds()));
`;
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", script],
    env: { DENOFUSE_LIBFUSE: "/nonexistent/libfuse3.so.3" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
  const ids = JSON.parse(new TextDecoder().decode(r.stdout));
  assert.deepEqual(ids, { uid: Deno.uid(), gid: Deno.gid() });
});

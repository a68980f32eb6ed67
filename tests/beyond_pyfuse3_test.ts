/**
 * The libfuse low-level operations pyfuse3 lacks, through the kernel: locks,
 * fallocate, SEEK_DATA/SEEK_HOLE, copy_file_range, ioctl and poll.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import * as fuse from "../mod.ts";
import { TmpFs } from "../examples/tmpfs.ts";
import { COUNTER_ADD, COUNTER_GET, CounterFs } from "../examples/counter.ts";
import { sh, withMount } from "./support/mount.ts";
import { QEMU_LIMITS, unlessEmulated } from "./support/emulation.ts";

const OPTIONS = ["default_permissions", "fsname=denofuse-beyond"];

/** Runs a python3 snippet; `sys.argv[1]` is the mount point. */
async function py(mnt: string, code: string, timeoutMs = 20_000) {
  const r = await sh("python3", ["-c", code, mnt], { timeoutMs });
  return r;
}

/** A long-running client in the background, read line by line. */
class Background {
  readonly child: Deno.ChildProcess;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  #buffer = "";

  constructor(cmd: string, args: string[]) {
    this.child = new Deno.Command(cmd, { args, stdout: "piped", stderr: "inherit" }).spawn();
    this.#reader = this.child.stdout.getReader();
  }

  /** The next line of its output ("" at end of output). */
  async line(): Promise<string> {
    while (!this.#buffer.includes("\n")) {
      const { value, done } = await this.#reader.read();
      if (done) break;
      this.#buffer += new TextDecoder().decode(value);
    }
    const at = this.#buffer.indexOf("\n");
    const line = at < 0 ? this.#buffer : this.#buffer.slice(0, at);
    this.#buffer = at < 0 ? "" : this.#buffer.slice(at + 1);
    return line;
  }

  /** Waits for it to exit (killing it first if asked) and closes its output. */
  async finish(kill = true): Promise<Deno.CommandStatus> {
    if (kill) {
      try {
        this.child.kill("SIGKILL");
      } catch { /* already exited */ }
    }
    const status = await this.child.status;
    await this.#reader.cancel();
    return status;
  }
}

const FLOCK_HOLDER = `
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
fcntl.flock(fd, fcntl.LOCK_SH if sys.argv[2] == "shared" else fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(30)
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("flock(1) locks conflict across processes and are released on exit", async () => {
  await withMount(new TmpFs(), async (mnt) => {
    const f = join(mnt, "lockfile");
    await Deno.writeTextFile(f, "");
    const holder = new Background("python3", ["-c", FLOCK_HOLDER, f, "exclusive"]);
    try {
      assert.equal(await holder.line(), "locked");
      assert.equal((await sh("flock", ["-n", "-x", f, "true"])).code, 1, "exclusive lock held");
      assert.equal((await sh("flock", ["-n", "-s", f, "true"])).code, 1, "shared conflicts too");
    } finally {
      await holder.finish();
    }
    // The killed holder's last close released its lock.
    assert.equal((await sh("flock", ["-n", "-x", f, "true"])).code, 0);
    const shared = new Background("python3", ["-c", FLOCK_HOLDER, f, "shared"]);
    try {
      assert.equal(await shared.line(), "locked");
      assert.equal((await sh("flock", ["-n", "-s", f, "true"])).code, 0, "shared locks coexist");
      assert.equal((await sh("flock", ["-n", "-x", f, "true"])).code, 1);
      // flock -w gives up with SIGALRM: the kernel interrupts the waiting request.
      const started = Date.now();
      const r = await sh("flock", ["-w", "0.3", "-x", f, "true"]);
      assert.equal(r.code, 1, r.stderr);
      assert.ok(Date.now() - started < 5000, "the interrupted wait returned promptly");
    } finally {
      await shared.finish();
    }
  });
});

const FCNTL_HOLDER = `
import fcntl, os, struct, sys, time
fd = os.open(sys.argv[1] + "/data", os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0)   # bytes [0, 10)
print("locked", flush=True)
time.sleep(30)
`;

Deno.test("fcntl record locks: conflicts, F_GETLK, ranges, release on close and on exit, F_SETLKW", async () => {
  await withMount(new TmpFs(), async (mnt) => {
    await Deno.writeFile(join(mnt, "data"), new Uint8Array(100));
    const holder = new Background("python3", ["-c", FCNTL_HOLDER, mnt]);
    try {
      assert.equal(await holder.line(), "locked");
      const r = await py(
        mnt,
        `import fcntl, os, struct, sys, errno
fd = os.open(sys.argv[1] + "/data", os.O_RDWR)
def try_lock(start, length):
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, length, start)
        return "ok"
    except OSError as e:
        return errno.errorcode[e.errno]
print("overlap", try_lock(5, 10))
print("beside", try_lock(10, 10))
# F_GETLK reports the holder's lock: struct flock is (short type, short whence, off_t start, off_t len, pid_t pid)
fmt = "hhqqi4x"
got = fcntl.fcntl(fd, fcntl.F_GETLK, struct.pack(fmt, fcntl.F_WRLCK, 0, 0, 5, 0))
t, w, start, length, pid = struct.unpack(fmt, got)
print("getlk", t == fcntl.F_WRLCK, start, length, pid > 0)
got = fcntl.fcntl(fd, fcntl.F_GETLK, struct.pack(fmt, fcntl.F_WRLCK, 0, 50, 5, 0))
print("getlk free", struct.unpack(fmt, got)[0] == fcntl.F_UNLCK)`,
      );
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "overlap EAGAIN\nbeside ok\ngetlk True 0 10 True\ngetlk free True\n");
      // A blocking F_SETLKW waits without stalling the filesystem.
      const waiter = new Background("python3", [
        "-c",
        `import fcntl, os, sys
fd = os.open(sys.argv[1] + "/data", os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX, 10, 0)
print("acquired")`,
        mnt,
      ]);
      await sleep(200);
      const started = Date.now();
      assert.equal((await sh("cat", [join(mnt, "data")])).code, 0);
      assert.ok(Date.now() - started < 2000, "the loop kept serving while F_SETLKW waited");
      await holder.finish(); // its exit releases its locks
      assert.equal(await waiter.line(), "acquired");
      assert.equal((await waiter.finish(false)).code, 0);
    } finally {
      await holder.finish();
    }
    // Closing a descriptor releases the process's locks on the file.
    const r = await py(
      mnt,
      `import fcntl, os, sys, subprocess
path = sys.argv[1] + "/data"
fd = os.open(path, os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX, 0, 0)
check = [sys.executable, "-c", "import fcntl, os, sys\\nfd = os.open(sys.argv[1], os.O_RDWR)\\ntry:\\n  fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 0, 0); print('free')\\nexcept OSError: print('held')", path]
print(subprocess.run(check, capture_output=True, text=True).stdout.strip())
os.close(fd)
print(subprocess.run(check, capture_output=True, text=True).stdout.strip())`,
    );
    assert.equal(r.stdout, "held\nfree\n", r.stderr);
  });
});

Deno.test("an interrupted F_SETLKW returns EINTR to the caller", async () => {
  await withMount(new TmpFs(), async (mnt) => {
    await Deno.writeFile(join(mnt, "data"), new Uint8Array(10));
    const holder = new Background("python3", ["-c", FCNTL_HOLDER, mnt]);
    try {
      assert.equal(await holder.line(), "locked");
      const r = await py(
        mnt,
        `import errno, fcntl, os, signal, sys, time
def on_alarm(signum, frame):
    raise InterruptedError(errno.EINTR, "alarm")
signal.signal(signal.SIGALRM, on_alarm)
fd = os.open(sys.argv[1] + "/data", os.O_RDWR)
signal.setitimer(signal.ITIMER_REAL, 0.3)
t = time.monotonic()
try:
    fcntl.lockf(fd, fcntl.LOCK_EX, 10, 0)
    print("acquired?!")
except InterruptedError:
    print("EINTR", time.monotonic() - t < 3)`,
      );
      assert.equal(r.stdout, "EINTR True\n", r.stderr);
    } finally {
      await holder.finish();
    }
  });
});

Deno.test("fallocate(1) preallocates, keeps size, punches holes and zeroes ranges", async () => {
  const fs = new TmpFs();
  await withMount(fs, async (mnt) => {
    const f = join(mnt, "big");
    assert.equal((await sh("fallocate", ["-l", "1MiB", f])).code, 0);
    let st = await Deno.stat(f);
    assert.equal(st.size, 1 << 20);
    assert.ok(st.blocks! >= 2048, `blocks ${st.blocks}`);
    await Deno.writeFile(f, new Uint8Array(1 << 20).fill(0x5a));
    const punched = await sh("fallocate", ["-p", "-o", "256KiB", "-l", "256KiB", f]);
    assert.equal(punched.code, 0, punched.stderr);
    st = await Deno.stat(f);
    assert.equal(st.size, 1 << 20, "punching keeps the size");
    assert.ok(st.blocks! < 2048, `blocks after punch ${st.blocks}`);
    const data = await Deno.readFile(f);
    assert.ok(data.subarray(256 << 10, 512 << 10).every((b) => b === 0), "the hole reads as zeros");
    assert.ok(data.subarray(0, 256 << 10).every((b) => b === 0x5a));
    assert.ok(data.subarray(512 << 10).every((b) => b === 0x5a));
    const keep = await sh("fallocate", ["-n", "-o", "1MiB", "-l", "1MiB", f]);
    assert.equal(keep.code, 0, keep.stderr);
    assert.equal((await Deno.stat(f)).size, 1 << 20, "--keep-size");
    const zero = await sh("fallocate", ["-z", "-o", "0", "-l", "4096", f]);
    assert.equal(zero.code, 0, zero.stderr);
    assert.ok((await Deno.readFile(f)).subarray(0, 4096).every((b) => b === 0));
    const collapse = await sh("fallocate", ["-c", "-o", "0", "-l", "64KiB", f]);
    assert.notEqual(collapse.code, 0, "collapsing ranges is not supported");
    assert.match(collapse.stderr, /not supported/i);
  });
});

Deno.test("SEEK_DATA and SEEK_HOLE find the data and holes of a sparse file", async () => {
  await withMount(new TmpFs(), async (mnt) => {
    const r = await py(
      mnt,
      `import errno, os, sys
path = sys.argv[1] + "/sparse"
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
os.pwrite(fd, b"a" * 10, 0)
os.pwrite(fd, b"b" * 10, 4 << 20)
print(os.lseek(fd, 0, os.SEEK_DATA), os.lseek(fd, 0, os.SEEK_HOLE))
print(os.lseek(fd, 100 << 10, os.SEEK_DATA), os.lseek(fd, (4 << 20) + 5, os.SEEK_HOLE))
try:
    os.lseek(fd, (4 << 20) + 10, os.SEEK_DATA)
except OSError as e:
    print(errno.errorcode[e.errno])`,
    );
    assert.equal(r.code, 0, r.stderr);
    // tmpfs keeps data in 4 KiB pages, as the kernel's tmpfs does.
    const page = 4096;
    assert.equal(r.stdout, `0 ${page}\n${4 << 20} ${(4 << 20) + 10}\nENXIO\n`);
  });
});

class CountingTmpFs extends TmpFs {
  copies = 0;
  override copyFileRange(...args: Parameters<TmpFs["copyFileRange"]>) {
    this.copies++;
    return super.copyFileRange(...args);
  }
}

Deno.test("copy_file_range(2) and cp copy inside the filesystem", async () => {
  const fs = new CountingTmpFs();
  await withMount(fs, async (mnt) => {
    const content = new Uint8Array(300_000).map((_, i) => i * 7);
    await Deno.writeFile(join(mnt, "src"), content);
    const r = await py(
      mnt,
      `import os, sys
d = sys.argv[1]
a = os.open(d + "/src", os.O_RDONLY)
b = os.open(d + "/dst", os.O_WRONLY | os.O_CREAT, 0o644)
print(os.copy_file_range(a, b, 1000, 10, 20))`,
    );
    assert.equal(r.stdout.trim(), "1000", r.stderr);
    const dst = await Deno.readFile(join(mnt, "dst"));
    assert.deepEqual(dst.subarray(20), content.subarray(10, 1010));
    assert.ok(dst.subarray(0, 20).every((b) => b === 0));
    assert.ok(fs.copies >= 1, "the server-side copy ran");
    const cp = await sh("cp", [join(mnt, "src"), join(mnt, "copy")]);
    assert.equal(cp.code, 0, cp.stderr);
    assert.deepEqual(await Deno.readFile(join(mnt, "copy")), content);
  });
});

class NoServerCopy extends TmpFs {
  override copyFileRange = undefined as unknown as TmpFs["copyFileRange"];
}

Deno.test("without a copyFileRange handler the kernel falls back to read and write", async () => {
  await withMount(new NoServerCopy(), async (mnt) => {
    await Deno.writeTextFile(join(mnt, "src"), "fallback works");
    const r = await py(
      mnt,
      `import os, sys
d = sys.argv[1]
a = os.open(d + "/src", os.O_RDONLY)
b = os.open(d + "/dst", os.O_WRONLY | os.O_CREAT, 0o644)
print(os.copy_file_range(a, b, 100))`,
    );
    assert.equal(r.stdout.trim(), "14", r.stderr);
    assert.equal(await Deno.readTextFile(join(mnt, "dst")), "fallback works");
  });
});

Deno.test({
  ...unlessEmulated("counter example: ioctl round trip and poll wake-up", QEMU_LIMITS.ioctl),
}, async () => {
  const fs = new CounterFs();
  await withMount(fs, async (mnt) => {
    const poller = new Background("python3", [
      "-c",
      `import os, select, sys, time
fd = os.open(sys.argv[1] + "/counter", os.O_RDONLY)
p = select.poll()
p.register(fd, select.POLLIN)
print("ready now:", p.poll(0), flush=True)
t = time.monotonic()
events = p.poll(10_000)
print("woke:", events == [(fd, select.POLLIN)], time.monotonic() - t < 5, os.pread(fd, 32, 0).decode().strip())`,
      mnt,
    ]);
    assert.equal(await poller.line(), "ready now: []");
    await sleep(100);
    const r = await py(
      mnt,
      `import fcntl, os, struct, sys
fd = os.open(sys.argv[1] + "/counter", os.O_RDONLY)
fcntl.ioctl(fd, ${COUNTER_ADD}, struct.pack("<Q", 42))
print(struct.unpack("<Q", fcntl.ioctl(fd, ${COUNTER_GET}, bytes(8)))[0])
try:
    fcntl.ioctl(fd, 0x5401, bytes(64))  # TCGETS: not ours
except OSError as e:
    print(e.errno)`,
    );
    assert.equal(r.stdout, "42\n25\n", r.stderr);
    assert.equal(await poller.line(), "woke: True True 42");
    assert.equal((await poller.finish(false)).code, 0);
    assert.equal(fs.value, 42n);
  });
});

Deno.test("getlk/setlk/flock handlers see the open file and its lock owner", async () => {
  const calls: string[] = [];
  class Spy extends TmpFs {
    override flock(inode: number, fh: number, owner: bigint, op: number, ctx: fuse.RequestContext) {
      calls.push(`flock ${op} ${typeof owner} ${fh > 0}`);
      return super.flock(inode, fh, owner, op, ctx);
    }
  }
  await withMount(new Spy(), async (mnt) => {
    await Deno.writeTextFile(join(mnt, "f"), "");
    assert.equal((await sh("flock", ["-x", join(mnt, "f"), "true"])).code, 0);
    // The kernel sends RELEASE (which carries the unlock) asynchronously
    // after the last close; wait for it before unmounting.
    const deadline = Date.now() + 10_000;
    while (calls.length < 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
  }, { options: OPTIONS });
  assert.deepEqual(calls, [
    `flock ${fuse.LOCK_EX} bigint true`,
    `flock ${fuse.LOCK_UN} bigint true`,
  ]);
});

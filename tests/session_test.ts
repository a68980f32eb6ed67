import assert from "node:assert/strict";
import { join } from "node:path";
import * as fuse from "../mod.ts";
import { HelloFs } from "../examples/hello.ts";
import { isMounted, withMount, withTimeout } from "./support/mount.ts";
import { capturingErrors } from "./support/log.ts";

class ThrowingFs extends HelloFs {
  calls = 0;
  override getattr(inode: number): fuse.EntryAttributes {
    if (inode !== fuse.ROOT_INODE && ++this.calls === 1) throw new TypeError("handler bug");
    return super.getattr(inode);
  }
}

Deno.test("mount() answers EIO for a throwing handler, logs its stack and keeps serving", async () => {
  const fs = new ThrowingFs();
  const log = await capturingErrors(() =>
    withMount(fs, async (mnt) => {
      const path = join(mnt, "message");
      await assert.rejects(Deno.stat(path), (e: Error) =>
        /Input\/output error|os error 5/.test(String(e)));
      assert.equal((await Deno.stat(path)).size, 12);
      assert.equal(await Deno.readTextFile(path), "hello world\n");
    }, { options: ["fsname=throwing"] })
  );
  assert.match(log, /the (lookup|getattr) handler failed; replying EIO/);
  assert.match(log, /TypeError: handler bug/);
  assert.match(log, /at ThrowingFs.getattr/);
});

Deno.test("mount() answers the errno of a FUSEError and EIO for a rejected promise", async () => {
  const ops: fuse.Operations = {
    getattr: (inode) =>
      inode === fuse.ROOT_INODE
        ? new fuse.EntryAttributes({ stIno: 1, stMode: 0o40755, stNlink: 2 })
        : Promise.reject(new Error("async bug")),
    lookup: async (_p, name) => {
      await new Promise((r) => setTimeout(r, 1));
      const n = new TextDecoder().decode(name);
      if (n === "eacces") throw new fuse.FUSEError(fuse.errno.EACCES);
      if (n === "reject") throw new Error("async bug");
      if (n === "bad") return new fuse.EntryAttributes({ stIno: 5, stSize: -1, stMode: 0o100644 });
      throw new fuse.FUSEError(fuse.errno.ENOENT);
    },
  };
  const log = await capturingErrors(() =>
    withMount(ops, async (mnt) => {
      await assert.rejects(Deno.stat(join(mnt, "eacces")), Deno.errors.PermissionDenied);
      await assert.rejects(Deno.stat(join(mnt, "missing")), Deno.errors.NotFound);
      await assert.rejects(Deno.stat(join(mnt, "bad")), /Input\/output error|os error 5/);
      await assert.rejects(Deno.stat(join(mnt, "reject")), /Input\/output error|os error 5/);
      assert.equal((await Deno.stat(mnt)).isDirectory, true);
    }, { options: ["fsname=errors"] })
  );
  assert.match(
    log,
    /the lookup handler returned an invalid value \(stSize must be an integer from 0 to \d+, got -1\); replying EIO/,
  );
  assert.match(log, /the lookup handler failed; replying EIO: Error: async bug/);
});

Deno.test("mount() serves two filesystems at once and await using unmounts them", async () => {
  const a = await Deno.makeTempDir({ prefix: "denofuse-mnt-" });
  const b = await Deno.makeTempDir({ prefix: "denofuse-mnt-" });
  try {
    {
      await using first = fuse.mount(new HelloFs(), a, {
        options: ["fsname=first"],
        handleSignals: false,
      });
      await using second = fuse.mount(new HelloFs(), b, {
        options: ["fsname=second"],
        handleSignals: false,
      });
      const [x, y] = await withTimeout(
        "reads",
        10_000,
        Promise.all([Deno.readTextFile(join(a, "message")), Deno.readTextFile(join(b, "message"))]),
      );
      assert.equal(x, "hello world\n");
      assert.equal(y, "hello world\n");
      assert.equal(first.mountpoint, a);
      assert.equal(second.mountpoint, b);
      assert.ok(await isMounted(a));
      assert.ok(await isMounted(b));
    }
    assert.equal(await isMounted(a), false);
    assert.equal(await isMounted(b), false);
  } finally {
    await Deno.remove(a);
    await Deno.remove(b);
  }
});

Deno.test("mount() resolves closed when the filesystem is unmounted from outside", async () => {
  const dir = await Deno.makeTempDir({ prefix: "denofuse-mnt-" });
  try {
    const fs = fuse.mount(new HelloFs(), dir, { options: [], handleSignals: false });
    await Deno.stat(join(dir, "message"));
    const um = await new Deno.Command("fusermount3", { args: ["-u", dir] }).output();
    assert.equal(um.code, 0);
    await withTimeout("closed", 10_000, fs.closed);
    assert.equal(await isMounted(dir), false);
  } finally {
    await Deno.remove(dir);
  }
});

Deno.test("terminate() from inside a handler stops main()", async () => {
  const dir = await Deno.makeTempDir({ prefix: "denofuse-mnt-" });
  const hello = new HelloFs();
  const ops: fuse.Operations = {
    getattr: (inode) => hello.getattr(inode),
    lookup: (parent, name) => {
      if (new TextDecoder().decode(name) === "stop") {
        fuse.terminate();
        throw new fuse.FUSEError(fuse.errno.ENOENT);
      }
      return hello.lookup(parent, name);
    },
  };
  try {
    fuse.init(ops, dir, []);
    const serving = fuse.main();
    await assert.rejects(Deno.stat(join(dir, "stop")), Deno.errors.NotFound);
    await withTimeout("main()", 10_000, serving);
    fuse.close();
    assert.equal(await isMounted(dir), false);
  } finally {
    fuse.close();
    await Deno.remove(dir);
  }
});

Deno.test("mount() rejects bad input with errors naming the fix", async () => {
  const file = await Deno.makeTempFile();
  const dir = await Deno.makeTempDir({ prefix: "denofuse-mnt-" });
  try {
    assert.throws(
      () => fuse.mount(new HelloFs(), "/nonexistent/x"),
      (e: Error) =>
        e instanceof fuse.FuseMountError && /does not exist: create it first/.test(e.message),
    );
    assert.throws(() => fuse.mount(new HelloFs(), file), /is not a directory/);
    assert.throws(() => fuse.mount(new HelloFs(), "/proc"), /already a mount point \(proc\)/);
    assert.throws(
      () => fuse.mount(new HelloFs(), dir, ["no_such_option"]),
      (e: Error) =>
        e instanceof fuse.FuseMountError &&
        /unknown option\(s\): .-o no_such_option./.test(e.message),
    );
    assert.throws(() => fuse.mount(new HelloFs(), dir, ["a,b"]), /without commas/);
    assert.equal(await isMounted(dir), false);
  } finally {
    await Deno.remove(file);
    await Deno.remove(dir);
  }
});

Deno.test("EntryAttributes timestamps round-trip with nanosecond precision", async () => {
  const ns = 1_700_000_000_123_456_789n;
  const before = -1_234_567_891n; // before the epoch: negative seconds, positive nsec
  const ops: fuse.Operations = {
    getattr: (inode) =>
      new fuse.EntryAttributes({
        stIno: inode,
        stMode: inode === 1 ? 0o40755 : 0o100644,
        stNlink: 1,
        stAtimeNs: before,
        stMtimeNs: ns,
        stCtimeNs: ns + 1n,
        stSize: 2 ** 53 - 1,
        attrTimeout: 0,
        entryTimeout: 0,
      }),
    lookup: (_p, _n) => ops.getattr!(7, {} as fuse.RequestContext) as fuse.EntryAttributes,
  };
  await withMount(ops, async (mnt) => {
    const r = await new Deno.Command("stat", {
      args: ["-c", "%.9X %.9Y %.9Z %s", join(mnt, "f")],
      stdout: "piped",
    }).output();
    assert.equal(
      new TextDecoder().decode(r.stdout).trim(),
      "-1.234567891 1700000000.123456789 1700000000.123456790 9007199254740991",
    );
  });
});

Deno.test("mount() keeps serving while hundreds of async calls to it are in flight", async () => {
  // Each pending Deno.stat occupies a thread of Deno's blocking pool; the
  // request loop must not need that pool to make progress.
  await withMount(new HelloFs(), async (mnt) => {
    const results = await Promise.all(
      Array.from({ length: 300 }, () => Deno.stat(join(mnt, "message"))),
    );
    assert.ok(results.every((st) => st.size === 12));
    const missing = await Promise.allSettled(
      Array.from({ length: 100 }, (_, i) => Deno.stat(join(mnt, `absent-${i}`))),
    );
    assert.ok(missing.every((r) => r.status === "rejected"));
  }, { timeoutMs: 20_000 });
});

Deno.test("mount() leaves timers their turn while a client keeps it busy", async () => {
  // The loop serves back-to-back requests synchronously and waits briefly on
  // its own thread for the next one; the event loop must still run often.
  await withMount(new HelloFs(), async (mnt) => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    try {
      const client = new Deno.Command("python3", {
        args: [
          "-c",
          // A missing name: every stat is a LOOKUP, which the kernel does not cache.
          `import os,sys,time
end = time.monotonic() + 1
n = 0
while time.monotonic() < end:
    n += 1
    try: os.stat(sys.argv[1])
    except FileNotFoundError: pass
print(n)`,
          join(mnt, "absent"),
        ],
        stdout: "piped",
      });
      const out = await client.output();
      const stats = Number(new TextDecoder().decode(out.stdout));
      assert.ok(stats > 1000, `the client was served (${stats} lookups in 1 s)`);
      // A 5 ms interval fires up to 200 times in 1 s (about 150 here under this
      // load); starved, it would fire a handful of times.
      assert.ok(ticks >= 50, `${ticks} timer ticks during 1 s of requests`);
    } finally {
      clearInterval(timer);
    }
  });
});

Deno.test("destroy() is called once when the filesystem is unmounted", async () => {
  let destroyed = 0;
  const ops: fuse.Operations = {
    getattr: (inode) => new HelloFs().getattr(inode),
    destroy: () => void destroyed++,
  };
  await withMount(ops, async (mnt) => {
    await Deno.stat(mnt);
    assert.equal(destroyed, 0);
  });
  assert.equal(destroyed, 1);
});

Deno.test("setattr() receives resolved 'now' times and knows they were 'now'", async () => {
  const seen: fuse.SetattrFields[] = [];
  const times: bigint[] = [];
  const hello = new HelloFs();
  const ops: fuse.Operations = {
    getattr: (inode) => hello.getattr(inode),
    lookup: (p, n) => hello.lookup(p, n),
    setattr: (inode, attr, fields) => {
      seen.push(fields);
      times.push(attr.stMtimeNs);
      return hello.getattr(inode);
    },
  };
  await withMount(ops, async (mnt) => {
    const before = BigInt(Date.now()) * 1_000_000n;
    const r = await new Deno.Command("touch", { args: ["-c", join(mnt, "message")] }).output();
    assert.equal(r.code, 0);
    const t = await new Deno.Command("touch", {
      args: ["-c", "-d", "@1000000000", join(mnt, "message")],
    })
      .output();
    assert.equal(t.code, 0);
    assert.equal(seen.length, 2);
    assert.ok(seen[0].updateMtimeNow && seen[0].updateAtimeNow && seen[0].updateMtime);
    assert.ok(times[0] >= before - 1_000_000_000n);
    assert.ok(!seen[1].updateMtimeNow && seen[1].updateMtime);
    assert.equal(times[1], 1_000_000_000n * 1_000_000_000n);
  }, { options: [] });
});

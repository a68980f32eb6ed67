import assert from "node:assert/strict";
import { join } from "node:path";
import * as fuse from "../mod.ts";
import { HelloFs } from "../examples/hello.ts";
import { withSpawnedFs, withTimeout } from "./support/mount.ts";
import { testMount } from "../testing.ts";

async function withHello(
  loopOptions: fuse.FuseMountOptions,
  fn: (mnt: string, h: fuse.MountHandle) => Promise<void>,
) {
  const mnt = await Deno.makeTempDir({ prefix: "denofuse-mnt-" });
  try {
    const h = fuse.mount(new HelloFs(), mnt, {
      options: ["fsname=observed"],
      handleSignals: false,
      ...loopOptions,
    });
    try {
      await withTimeout("test", 20_000, fn(mnt, h));
    } finally {
      await h.unmount();
    }
  } finally {
    await Deno.remove(mnt);
  }
}

Deno.test("debug logging shows each request with its arguments, result and latency", async () => {
  const original = console.error;
  const lines: string[] = [];
  console.error = (...a: unknown[]) => void lines.push(a.join(" "));
  try {
    await withHello({ debug: true }, async (mnt) => {
      await Deno.readTextFile(join(mnt, "message"));
      await Deno.stat(join(mnt, "nope")).catch(() => {});
      await Array.fromAsync(Deno.readDir(mnt));
    });
  } finally {
    console.error = original;
  }
  const log = lines.join("\n");
  assert.match(log, /denofuse: #\d+ lookup\(parent=1, name="message"\)/);
  assert.match(log, /denofuse: #\d+ lookup -> ok \(\d+\.\d us\)/);
  assert.match(
    log,
    /denofuse: #\d+ lookup\(parent=1, name="nope"\)\ndenofuse: #\d+ lookup -> ENOENT/,
  );
  assert.match(log, /denofuse: #\d+ read\(inode=2, size=\d+, offset=0, fh=\d+\)/);
  // READDIRPLUS is labelled as such (its handler is readdir), request and reply alike.
  assert.match(log, /denofuse: #(\d+) readdirplus\(inode=1, size=\d+, offset=0, fh=\d+\)/);
  assert.match(log, /denofuse: #\d+ readdirplus -> ok/);
});

Deno.test("DENOFUSE_DEBUG=1 turns debug logging on for an example", async () => {
  await withSpawnedFs("hello.ts", [], async (fs) => {
    await Deno.stat(join(fs.mnt, "message"));
    for (let i = 0; i < 50 && !fs.stderr().includes("lookup -> ok"); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.match(
      fs.stderr(),
      /denofuse: #\d+ lookup\(parent=1, name="message"\)\ndenofuse: #\d+ lookup -> ok/,
    );
  }, {
    denoFlags: ["--allow-ffi", "--allow-read", "--allow-env=DENOFUSE_DEBUG,DENOFUSE_LIBFUSE"],
    env: { DENOFUSE_DEBUG: "1" },
  });
});

Deno.test("statistics() counts requests and errors per operation with latency percentiles", async () => {
  await withHello({}, async (mnt, h) => {
    for (let i = 0; i < 40; i++) await Deno.stat(join(mnt, `missing-${i}`)).catch(() => {});
    await Deno.readTextFile(join(mnt, "message"));
    const stats = h.statistics();
    assert.ok(stats.lookup.count >= 41, JSON.stringify(stats.lookup));
    assert.equal(stats.lookup.errors, 40);
    assert.ok(stats.read.count >= 1 && stats.read.errors === 0);
    const l = stats.lookup;
    assert.ok(l.p50Us > 0 && l.p50Us <= l.p90Us && l.p90Us <= l.p99Us && l.p99Us <= l.maxUs);
  });
});

Deno.test("testMount() mounts for a test and cleans up on dispose", async () => {
  let dir: string;
  {
    await using fs = await testMount(new HelloFs());
    dir = fs.mountpoint;
    assert.equal(await Deno.readTextFile(join(dir, "message")), "hello world\n");
    assert.ok(fs.handle.statistics().lookup.count >= 1);
  }
  await assert.rejects(Deno.stat(dir), Deno.errors.NotFound);
});

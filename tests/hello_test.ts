import assert from "node:assert/strict";
import { join } from "node:path";
import * as fuse from "../mod.ts";
import { HelloFs } from "../examples/hello.ts";
import { isMounted, sh, withSpawnedFs, withTimeout } from "./support/mount.ts";

async function checkHello(mnt: string): Promise<void> {
  const ls = await sh("ls", ["-1", mnt]);
  assert.equal(ls.code, 0, ls.stderr);
  assert.equal(ls.stdout, "message\n");
  const cat = await sh("cat", [join(mnt, "message")]);
  assert.equal(cat.stdout, "hello world\n");
  const st = await sh("stat", ["-c", "%s %a %F %h", join(mnt, "message")]);
  assert.equal(st.stdout.trim(), "12 644 regular file 1");
  const root = await sh("stat", ["-c", "%a %F", mnt]);
  assert.equal(root.stdout.trim(), "755 directory");
  const missing = await sh("cat", [join(mnt, "nope")]);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /No such file or directory/);
  const write = await sh("sh", ["-c", `echo x >> ${join(mnt, "message")}`]);
  assert.notEqual(write.code, 0);
  assert.match(write.stderr, /Permission denied/);
}

Deno.test("hello example serves ls, stat, cat, ENOENT and EACCES from a subprocess", async () => {
  await withSpawnedFs("hello.ts", [], async ({ mnt }) => {
    await checkHello(mnt);
  });
});

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.test(`hello example unmounts cleanly on ${signal}`, async () => {
    await withSpawnedFs("hello.ts", [], async (fs) => {
      fs.child.kill(signal);
      const status = await fs.exited();
      assert.equal(status.code, 0, fs.stderr());
      assert.equal(await isMounted(fs.mnt), false);
      assert.match(fs.stderr(), /hello: unmounted/);
    });
  });
}

Deno.test("hello example exits when unmounted with fusermount3 -u", async () => {
  await withSpawnedFs("hello.ts", [], async (fs) => {
    const um = await sh("fusermount3", ["-u", fs.mnt]);
    assert.equal(um.code, 0, um.stderr);
    const status = await fs.exited();
    assert.equal(status.code, 0, fs.stderr());
    assert.equal(await isMounted(fs.mnt), false);
  });
});

Deno.test("hello example passes -o options to the mount", async () => {
  await withSpawnedFs("hello.ts", ["-o", "fsname=greeting,ro"], async ({ mnt }) => {
    const mounts = await Deno.readTextFile("/proc/mounts");
    const line = mounts.split("\n").find((l) => l.split(" ")[1] === mnt) ?? "";
    assert.match(line, /^greeting /);
    assert.match(line, /\bro\b/);
    assert.match(line, /default_permissions/);
  });
});

Deno.test("hello example reports a missing mountpoint clearly", async () => {
  const r = await sh(Deno.execPath(), [
    "run",
    "--allow-ffi",
    "--allow-read",
    new URL("../examples/hello.ts", import.meta.url).pathname,
    "/nonexistent/denofuse-mnt",
  ]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /mountpoint \/nonexistent\/denofuse-mnt does not exist: create it first/);
});

Deno.test("init()/main()/terminate()/close() serve hello in-process", async () => {
  const mnt = await Deno.makeTempDir({ prefix: "denofuse-mnt-" });
  try {
    fuse.init(new HelloFs(), mnt, fuse.defaultOptions);
    const serving = fuse.main();
    try {
      assert.equal(await Deno.readTextFile(join(mnt, "message")), "hello world\n");
      const names = [];
      for await (const e of Deno.readDir(mnt)) names.push(e.name);
      assert.deepEqual(names, ["message"]);
      const st = await Deno.stat(join(mnt, "message"));
      assert.equal(st.size, 12);
      assert.equal(st.mode! & 0o777, 0o644);
      await assert.rejects(Deno.stat(join(mnt, "absent")), Deno.errors.NotFound);
      await assert.rejects(
        Deno.writeTextFile(join(mnt, "message"), "x"),
        Deno.errors.PermissionDenied,
      );
    } finally {
      fuse.terminate();
      await withTimeout("main()", 10_000, serving);
      fuse.close();
    }
    assert.equal(await isMounted(mnt), false);
  } finally {
    fuse.close();
    await Deno.remove(mnt);
  }
});

Deno.test("main() before init() and init() twice fail with FuseStateError", async () => {
  assert.throws(() => fuse.main(), fuse.FuseStateError);
  const mnt = await Deno.makeTempDir({ prefix: "denofuse-mnt-" });
  try {
    fuse.init(new HelloFs(), mnt);
    assert.throws(() => fuse.init(new HelloFs(), mnt), /init\(\) called twice/);
  } finally {
    fuse.close();
    await Deno.remove(mnt);
  }
  assert.equal(await isMounted(mnt), false);
});

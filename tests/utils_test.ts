import assert from "node:assert/strict";
import { join } from "node:path";
import * as fuse from "../mod.ts";
import { HelloFs } from "../examples/hello.ts";
import { sh, withMount } from "./support/mount.ts";

/** hello plus extended attributes on its file. */
class XattrHello extends HelloFs {
  xattrs = new Map<string, Uint8Array>();
  setxattr(
    _inode: number,
    name: Uint8Array,
    value: Uint8Array,
    _ctx: fuse.RequestContext,
    flags: number,
  ) {
    const key = new TextDecoder().decode(name);
    if (flags === 1 && this.xattrs.has(key)) throw new fuse.FUSEError(fuse.errno.EEXIST);
    if (flags === 2 && !this.xattrs.has(key)) throw new fuse.FUSEError(fuse.errno.ENODATA);
    this.xattrs.set(key, value);
  }
  getxattr(_inode: number, name: Uint8Array) {
    const v = this.xattrs.get(new TextDecoder().decode(name));
    if (!v) throw new fuse.FUSEError(fuse.errno.ENODATA);
    return v;
  }
}

Deno.test("setxattr()/getxattr() utilities work on a mount served by this process", async () => {
  const fs = new XattrHello();
  await withMount(fs, async (mnt) => {
    const file = join(mnt, "message");
    await fuse.setxattr(file, "greeting", "bonjour");
    assert.equal(new TextDecoder().decode(await fuse.getxattr(file, "greeting")), "bonjour");
    const big = new Uint8Array(1000).fill(7);
    await fuse.setxattr(file, "big", big);
    assert.deepEqual(await fuse.getxattr(file, "big", 16, "user"), big, "retries past ERANGE");
    await assert.rejects(
      // deno-lint-ignore no-explicit-any
      fuse.getxattr(file, "big", "user" as any),
      /takes the size guess third, as pyfuse3 does/,
    );
    await assert.rejects(
      fuse.getxattr(file, "absent"),
      (e: Error) => e instanceof fuse.ErrnoError && e.code === "ENODATA",
    );
    await assert.rejects(fuse.setxattr(file, "greeting", "x", "user", 1), /EEXIST/);
    await assert.rejects(fuse.setxattr(file, "other", "x", "user", 2), /ENODATA/);
    const r = await sh("getfattr", ["-n", "user.greeting", "--only-values", file]);
    assert.equal(r.stdout, "bonjour");
  });
});

Deno.test("listdir() and syncfs() work on a mount served by this process", async () => {
  await withMount(new HelloFs(), async (mnt) => {
    assert.deepEqual(await fuse.listdir(mnt), ["message"]);
    await fuse.syncfs(mnt);
    await assert.rejects(
      fuse.syncfs(join(mnt, "absent")),
      (e: Error) => e instanceof fuse.ErrnoError && e.code === "ENOENT",
    );
    // Like pyfuse3's, which raises OSError: an ErrnoError, not a Deno error.
    await assert.rejects(
      fuse.listdir(join(mnt, "absent")),
      (e: Error) => e instanceof fuse.ErrnoError && e.code === "ENOENT",
    );
    await assert.rejects(
      fuse.listdir(join(mnt, "message")),
      (e: Error) => e instanceof fuse.ErrnoError && e.code === "ENOTDIR",
    );
  });
});

Deno.test("getSupGroups() reads a process's supplementary groups", async () => {
  const r = await sh("python3", ["-c", "import os; print(' '.join(map(str, os.getgroups())))"]);
  const expected = new Set(r.stdout.trim().split(/\s+/).filter(Boolean).map(Number));
  assert.deepEqual(fuse.getSupGroups(Deno.pid), expected);
  const child = new Deno.Command("setpriv", { args: ["--groups=4,24", "--", "sleep", "30"] })
    .spawn();
  try {
    let groups = new Set<number>();
    for (let i = 0; i < 100 && !groups.has(24); i++) {
      await new Promise((r) => setTimeout(r, 10)); // until setpriv has set the groups
      groups = fuse.getSupGroups(child.pid);
    }
    assert.deepEqual(groups, new Set([4, 24]));
  } finally {
    child.kill();
    await child.status;
  }
  assert.throws(
    () => fuse.getSupGroups(2 ** 30),
    (e: Error) => e instanceof fuse.ErrnoError && e.code === "ESRCH",
  );
});

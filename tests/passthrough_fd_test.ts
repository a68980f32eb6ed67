/**
 * examples/passthrough.ts when file descriptors are scarce: the server keeps
 * serving the mount however many inodes the kernel remembers (issue 12,
 * item 4). The first test runs the example as its own process under a low
 * RLIMIT_NOFILE, as an unprivileged user with `allow_other` could push it;
 * the others mount a PassthroughFs in this process with the smallest
 * descriptor budget, to exercise eviction, reopening by file handle and the
 * fallback without handles. Only async APIs and subprocesses touch the
 * in-process mounts.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { PassthroughFs, type PassthroughOptions } from "../examples/passthrough.ts";
import { sh, withMount, withSpawnedFs } from "./support/mount.ts";
import { eventually, py, run } from "./support/passthrough_helpers.ts";

/** The server's RLIMIT_NOFILE (soft and hard) in the first test. */
const FD_LIMIT = 512;
/** Files created through the mount: ten times what the limit would allow one descriptor each. */
const CREATES = 5_000;

/** Open descriptors and resident memory (KiB) of a process. */
async function usage(pid: number): Promise<{ fds: number; rssKiB: number }> {
  const fds = (await Array.fromAsync(Deno.readDir(`/proc/${pid}/fd`))).length;
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const rssKiB = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? NaN);
  return { fds, rssKiB };
}

/**
 * Runs the passthrough CLI on `src` under `prlimit --nofile=LIMIT:LIMIT`
 * and runs `fn` with the mount point and the server's pid.
 */
function withLimitedServer(
  src: string,
  limit: number,
  fn: (mnt: string, pid: number) => Promise<void>,
  timeoutMs = 25_000,
): Promise<void> {
  return withSpawnedFs(
    "passthrough.ts",
    ["-o", "allow_other", src],
    ({ mnt, child }) => fn(mnt, child.pid),
    { launcher: ["prlimit", `--nofile=${limit}:${limit}`], timeoutMs },
  );
}

Deno.test("passthrough stays usable when its descriptors run out", async () => {
  const src = await Deno.makeTempDir({ prefix: "denofuse-pt-fds-" });
  try {
    await Deno.writeTextFile(join(src, "existing"), "was here before\n");
    await withLimitedServer(src, FD_LIMIT, async (mnt, pid) => {
      // Each create leaves an inode the kernel remembers (its dentry stays
      // cached), so a server holding a descriptor per inode runs out here.
      const r = await py(
        `
import collections
os.mkdir(A[0] + "/many")
ok, errors = 0, collections.Counter()
for i in range(int(A[1])):
    try:
        os.close(os.open(f"{A[0]}/many/f{i}", os.O_CREAT | os.O_WRONLY, 0o644))
        ok += 1
    except OSError as e:
        errors[errno.errorcode.get(e.errno, str(e.errno))] += 1
out([ok, dict(errors)])`,
        [mnt, String(CREATES)],
      );
      const [created, errors] = r as [number, Record<string, number>];
      const { fds, rssKiB } = await usage(pid);
      console.log(
        `[fds] ${created}/${CREATES} files created under RLIMIT_NOFILE ${FD_LIMIT}` +
          `${Object.keys(errors).length ? ` (failures: ${JSON.stringify(errors)})` : ""}; ` +
          `server: ${fds} open descriptors, RSS ${(rssKiB / 1024).toFixed(1)} MiB`,
      );
      // The mount must still serve everyone: the root, an old file, new files.
      const ls = await sh("ls", ["-a", mnt]);
      assert.equal(ls.code, 0, `ls of the mount root failed: ${ls.stderr}`);
      assert.deepEqual(ls.stdout.trimEnd().split("\n"), [".", "..", "existing", "many"]);
      const cat = await sh("cat", [join(mnt, "existing")]);
      assert.equal(cat.code, 0, `cat of an existing file failed: ${cat.stderr}`);
      assert.equal(cat.stdout, "was here before\n");
      assert.equal(created, CREATES, `creates failed: ${JSON.stringify(errors)}`);
      // Every created file is there, and the first and last can still be written.
      const names = (await run("ls", [join(mnt, "many")])).trimEnd().split("\n");
      assert.equal(names.length, CREATES);
      await run("sh", [
        "-c",
        `echo first > "$1/f0" && echo last > "$1/f${CREATES - 1}"`,
        "sh",
        join(mnt, "many"),
      ]);
      assert.equal(await Deno.readTextFile(join(src, "many", "f0")), "first\n");
      assert.equal(await Deno.readTextFile(join(src, "many", `f${CREATES - 1}`)), "last\n");
      // A quarter of the limit for the cache, the rest for Deno, open files and headroom.
      assert.ok(fds <= FD_LIMIT / 2, `${fds} descriptors open`);
    });
  } finally {
    await Deno.remove(src, { recursive: true });
  }
});

/**
 * Mounts a PassthroughFs of a fresh source directory (filled by `setup`)
 * in this process with `options`, runs `fn`, unmounts and cleans up.
 */
async function withOptions(
  options: PassthroughOptions,
  setup: (src: string) => Promise<void>,
  fn: (env: { src: string; mnt: string; fs: PassthroughFs }) => Promise<void>,
): Promise<void> {
  const src = await Deno.makeTempDir({ prefix: "denofuse-pt-fds-" });
  try {
    await setup(src);
    const fs = new PassthroughFs(src, options);
    try {
      await withMount(fs, (mnt) => fn({ src, mnt, fs }), {
        options: ["default_permissions", "allow_other", "fsname=denofuse-passthrough-test"],
      });
    } finally {
      fs.close();
    }
  } finally {
    await Deno.remove(src, { recursive: true });
  }
}

/** Files under `src/pool` whose lookups push other inodes out of a small cache. */
const POOL = 40;
const CHURN = `
def churn():
    for i in range(${POOL}):
        os.stat(f"{A[0]}/pool/p{i}")
`;

async function makePool(src: string): Promise<void> {
  await Deno.mkdir(join(src, "pool"));
  for (let i = 0; i < POOL; i++) await Deno.writeTextFile(join(src, "pool", `p${i}`), `${i}`);
}

Deno.test("passthrough reopens evicted inodes by file handle: the same objects after renames, unlinks and links", async () => {
  await withOptions({ maxCachedFds: 8 }, async (src) => {
    await makePool(src);
    await Deno.mkdir(join(src, "dir"));
    await Deno.writeTextFile(join(src, "dir", "inner"), "inside\n");
    await Deno.writeTextFile(join(src, "a"), "a");
    await Deno.writeTextFile(join(src, "h1"), "h");
    await Deno.symlink("dir/inner", join(src, "sym"));
  }, async ({ src, mnt, fs }) => {
    assert.equal(fs.fileHandles, true, "file handles work as root on this filesystem");
    const r = await py(
      CHURN + `
m, s = A[0], A[1]
r = {}
# A directory the client holds open is renamed behind the mount's back and
# its descriptor evicted: lookups in it go to the same directory, by handle.
dfd = os.open(m + "/dir", os.O_RDONLY | os.O_DIRECTORY)
churn()
os.rename(s + "/dir", s + "/dir-moved")
r["moved_dir"] = [
    os.read(fd := os.open("inner", os.O_RDONLY, dir_fd=dfd), 64).decode(),
    os.stat("inner", dir_fd=dfd).st_ino == os.stat(s + "/dir-moved/inner").st_ino,
]
os.close(fd)
os.close(dfd)
# An open file unlinked through the mount, then many other inodes used.
fd = os.open(m + "/gone", os.O_RDWR | os.O_CREAT, 0o600)
os.write(fd, b"before ")
os.unlink(m + "/gone")
churn()
os.write(fd, b"after")
os.fchmod(fd, 0o640)
st = os.fstat(fd)
r["unlinked"] = [os.pread(fd, 64, 0).decode(), st.st_nlink, st.st_size, oct(st.st_mode & 0o777)]
os.close(fd)
# An open file renamed through the mount, then written.
fd = os.open(m + "/a", os.O_RDWR)
os.rename(m + "/a", m + "/pool/b")
churn()
os.pwrite(fd, b"renamed while open", 0)
r["renamed"] = [open(s + "/pool/b").read(), os.fstat(fd).st_ino == os.stat(s + "/pool/b").st_ino]
os.close(fd)
# Hard links, symlinks, attributes and xattrs of inodes evicted in between.
os.link(m + "/h1", m + "/h2")
churn()
r["link"] = [
    os.stat(m + "/h2").st_ino == os.stat(m + "/h1").st_ino == os.stat(s + "/h1").st_ino,
    os.stat(m + "/h1").st_nlink,
]
churn()
r["readlink"] = os.readlink(m + "/sym")
os.chmod(m + "/h2", 0o604)
os.utime(m + "/h2", ns=(1_000_000_001, 2_000_000_002))
os.setxattr(m + "/h1", "user.k", b"v")
churn()
st = os.stat(s + "/h1")
r["attrs"] = [oct(st.st_mode & 0o777), st.st_atime_ns, st.st_mtime_ns, os.getxattr(m + "/h2", "user.k").decode()]
# Every inode number still that of the backing object.
r["inos"] = all(os.stat(f"{m}/pool/p{i}").st_ino == os.stat(f"{s}/pool/p{i}").st_ino for i in range(${POOL}))
out(r)`,
      [mnt, src],
    );
    assert.deepEqual(r, {
      moved_dir: ["inside\n", true],
      unlinked: ["before after", 0, 12, "0o640"],
      renamed: ["renamed while open", true],
      link: [true, 2],
      readlink: "dir/inner",
      attrs: ["0o604", 1_000_000_001, 2_000_000_002, "v"],
      inos: true,
    });
    assert.ok(fs.reopenedByHandle > 0, "some inode was reopened by handle");
    assert.ok(await eventually(() => fs.openHandles === 0, 2000), "every file was released");
    assert.ok(
      fs.openInodes > POOL && fs.inodeDescriptors <= 8,
      `${fs.openInodes} inodes held with ${fs.inodeDescriptors} descriptors`,
    );
  });
});

Deno.test("passthrough without file handles refuses new inodes past its limit but keeps the rest usable", async () => {
  await withOptions({ fileHandles: false, maxFixedFds: 16 }, async (src) => {
    await makePool(src);
    await Deno.writeTextFile(join(src, "existing"), "was here before\n");
  }, async ({ mnt, fs }) => {
    assert.equal(fs.fileHandles, false);
    const r = await py(
      `
m = A[0]
r = dict(existing=open(m + "/existing").read())
r["stats"] = [err(os.stat, f"{m}/pool/p{i}") for i in range(${POOL})]
r["ls_root"] = sorted(os.listdir(m))
r["ls_pool"] = len(os.listdir(m + "/pool"))
r["existing_again"] = open(m + "/existing").read()
fd = os.open(m + "/pool/p0", os.O_RDWR)
os.pwrite(fd, b"X", 0)
os.close(fd)
out(r)`,
      [mnt],
    );
    const stats = r.stats as number[];
    const ok = stats.indexOf(23);
    assert.ok(ok >= 8, `the first lookups succeed (${JSON.stringify(stats)})`);
    assert.deepEqual(stats, [...Array(ok).fill(0), ...Array(POOL - ok).fill(23)]); // ENFILE
    assert.deepEqual(r.ls_root, ["existing", "pool"]);
    assert.equal(r.ls_pool, POOL, "a listing is complete even when its lookups are refused");
    assert.equal(r.existing, "was here before\n");
    assert.equal(r.existing_again, r.existing);
    assert.ok(fs.inodeDescriptors <= 16, `${fs.inodeDescriptors} descriptors held`);
    // Once the kernel forgets inodes, there is room again.
    await run("sh", ["-c", "sync; echo 2 > /proc/sys/vm/drop_caches"]);
    assert.ok(await eventually(() => fs.openInodes <= 2, 10_000), `${fs.openInodes} inodes held`);
    assert.equal(await Deno.readTextFile(join(mnt, "pool", `p${POOL - 1}`)), `${POOL - 1}`);
  });
});

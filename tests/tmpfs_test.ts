/**
 * Tests of examples/tmpfs.ts through the kernel: every check goes through a
 * real FUSE mount with async Deno file APIs or client subprocesses. Where
 * the expected behaviour is "what the kernel's tmpfs does", the same client
 * program also runs on /dev/shm and both answers must agree.
 *
 * Only path-based Deno calls are used on the mount. Deno's FsFile methods
 * (read, write, seek, stat, truncate, sync, close) dup the descriptor and
 * close the duplicate on the JS thread, and close(2) on a FUSE file may wait
 * for a FLUSH answer from that very thread: against an in-process mount
 * they can deadlock. Descriptor-level steps therefore run in Python
 * subprocesses.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import * as fuse from "../mod.ts";
import { NAME_MAX, PAGE_SIZE, TmpFs } from "../examples/tmpfs.ts";
import { sh, withMount, withSpawnedFs } from "./support/mount.ts";
import { loadedLibfuseVersion } from "../ffi/library.ts";
import {
  dropCaches,
  py,
  pyJson,
  renameat2,
  statNs,
  statvfs,
  tryOp,
  waitFor,
} from "./support/fs_checks.ts";

const enc = new TextEncoder();
const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFIFO = 0o010000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFSOCK = 0o140000;
const S_ISGID = 0o2000;
const NOBODY = 65534;
const RENAME_NOREPLACE = 1;
const RENAME_EXCHANGE = 2;
/** For tests where another uid acts: the kernel then needs allow_other. */
const SHARED = ["default_permissions", "allow_other", "fsname=denofuse-test"];
/** 512-byte blocks per allocated page. */
const PAGE_BLOCKS = PAGE_SIZE / 512;

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function sha256(data: Uint8Array<ArrayBuffer>): Promise<string> {
  return hex(new Uint8Array(await crypto.subtle.digest("SHA-256", data)));
}

function randomBytes(n: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, i + 65536));
  return out;
}

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

/** A directory on the kernel's tmpfs, for comparisons; skipped (null) if there is none. */
async function withKernelTmpfs<T>(fn: (dir: string) => Promise<T>): Promise<T | null> {
  const mounts = await Deno.readTextFile("/proc/mounts");
  if (
    !mounts.split("\n").some((l) => l.split(" ")[1] === "/dev/shm" && l.split(" ")[2] === "tmpfs")
  ) {
    return null;
  }
  const dir = await Deno.makeTempDir({ dir: "/dev/shm", prefix: "denofuse-ref-" });
  try {
    await Deno.chmod(dir, 0o755);
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("tmpfs serves writes, reads and appends", async () => {
  const fs = new TmpFs();
  await withMount(fs, async (mnt) => {
    const p = join(mnt, "file");
    await Deno.writeTextFile(p, "hello ");
    await Deno.writeTextFile(p, "world\n", { append: true });
    assert.equal(await Deno.readTextFile(p), "hello world\n");

    // Random access through one descriptor; a write past the end leaves a
    // hole that reads as zeros.
    const io = await pyJson<string[]>(
      `import json, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
os.pwrite(fd, b"WORLD", 6)
first = os.pread(fd, 100, 0)
os.pwrite(fd, b"!", 100)
second = os.pread(fd, 200, 0)
os.close(fd)
print(json.dumps([first.decode(), second.hex()]))`,
      [p],
    );
    assert.equal(io[0], "hello WORLD\n");
    assert.equal(io[1], hex(enc.encode("hello WORLD\n")) + "00".repeat(88) + "21");

    // Several MiB and an odd tail, written and read in large requests.
    const big = randomBytes(3 * (1 << 20) + 12345);
    const bigPath = join(mnt, "big");
    await Deno.writeFile(bigPath, big);
    assert.equal(await sha256(await Deno.readFile(bigPath)), await sha256(big));
    const st = await statNs(bigPath);
    assert.equal(st.size, big.length);
    assert.equal(st.blocks, Math.ceil(big.length / PAGE_SIZE) * PAGE_BLOCKS);
    assert.equal(fs.allocatedBytes, PAGE_SIZE * (1 + Math.ceil(big.length / PAGE_SIZE)));
  });
});

Deno.test("tmpfs creates and removes directories", async () => {
  await withMount(new TmpFs(), async (mnt) => {
    const a = join(mnt, "a");
    await Deno.mkdir(join(a, "b"), { recursive: true });
    await Deno.mkdir(join(a, "c"));
    await Deno.writeTextFile(join(a, "f"), "x");
    assert.deepEqual(await names(a), ["b", "c", "f"]);
    const st = await statNs(a);
    assert.equal(st.mode & S_IFMT, S_IFDIR);
    assert.equal(st.nlink, 4, "2 + one per subdirectory");
    assert.equal(st.size, 20 * 5, "20 bytes per entry, '.' and '..' included, like tmpfs");
    assert.equal((await statNs(mnt)).nlink, 3);

    await assert.rejects(Deno.remove(a), { code: "ENOTEMPTY" });
    assert.equal(await tryOp("os.rmdir(a[0])", [join(a, "f")]), "ENOTDIR");
    assert.equal(await tryOp("os.unlink(a[0])", [join(a, "b")]), "EISDIR");
    assert.equal(await tryOp("os.mkdir(a[0])", [join(a, "b")]), "EEXIST");
    assert.equal(await tryOp("os.mkdir(a[0])", [join(a, "f", "x")]), "ENOTDIR");
    assert.equal(await tryOp("os.rmdir(a[0])", [join(a, "nope")]), "ENOENT");

    await Deno.remove(join(a, "b"));
    assert.equal((await statNs(a)).nlink, 3);
    await Deno.remove(a, { recursive: true });
    await assert.rejects(Deno.lstat(a), Deno.errors.NotFound);
    assert.deepEqual(await names(mnt), []);
    assert.equal((await statNs(mnt)).nlink, 2);
  });
});

Deno.test("tmpfs serves symlinks and byte names losslessly", async () => {
  await withMount(new TmpFs(), async (mnt) => {
    const link = join(mnt, "link");
    await Deno.symlink("target-file", link);
    assert.equal(await Deno.readLink(link), "target-file");
    const st = await statNs(link);
    assert.equal(st.mode, S_IFLNK | 0o777);
    assert.equal(st.size, "target-file".length);
    await assert.rejects(Deno.stat(link), Deno.errors.NotFound, "dangling");
    await Deno.writeTextFile(join(mnt, "target-file"), "via link");
    assert.equal(await Deno.readTextFile(link), "via link");

    // Names and targets that are not UTF-8 must survive byte for byte, and
    // names that a lossy decoding would merge must stay distinct.
    const out = await pyJson<{ names: string[]; target: string; contents: string[] }>(
      `import json, os, sys
d = os.fsencode(sys.argv[1])
for i, n in enumerate([b"\\xff", b"\\xfe", b"caf\\xe9", b"caf\\xc3\\xa9"]):
    with open(os.path.join(d, n), "wb") as f: f.write(bytes([i]))
os.symlink(b"\\x80\\xfe/t\\xff", os.path.join(d, b"raw"))
names = sorted(n.hex() for n in os.listdir(d))
contents = [open(os.path.join(d, n), "rb").read().hex() for n in [b"\\xff", b"\\xfe", b"caf\\xe9", b"caf\\xc3\\xa9"]]
print(json.dumps({"names": names, "target": os.readlink(os.path.join(d, b"raw")).hex(), "contents": contents}))`,
      [mnt],
    );
    assert.deepEqual(out.contents, ["00", "01", "02", "03"]);
    assert.equal(out.target, "80fe2f74ff");
    for (const hex of ["ff", "fe", "636166e9", "636166c3a9", "726177"]) {
      assert.ok(out.names.includes(hex), `${hex} listed`);
    }
  });
});

Deno.test("tmpfs creates FIFOs, sockets and device nodes with mknod", async () => {
  await withMount(new TmpFs(), async (mnt) => {
    const fifo = join(mnt, "fifo");
    assert.equal((await sh("mkfifo", ["-m", "0620", fifo])).code, 0);
    assert.equal((await statNs(fifo)).mode, S_IFIFO | 0o620);
    // The kernel runs the pipe itself; the node only has to be a FIFO.
    const pipe = await sh("sh", ["-c", `echo through-the-pipe > '${fifo}' & cat '${fifo}'; wait`]);
    assert.equal(pipe.stdout, "through-the-pipe\n");

    assert.equal((await sh("mknod", [join(mnt, "chr"), "c", "1", "5"])).code, 0);
    const chr = await statNs(join(mnt, "chr"));
    assert.equal(chr.mode & S_IFMT, S_IFCHR);
    assert.equal(chr.rdev, (1 << 8) | 5);
    assert.equal((await sh("mknod", [join(mnt, "blk"), "b", "7", "300"])).code, 0);
    const blk = await statNs(join(mnt, "blk"));
    assert.equal(blk.mode & S_IFMT, S_IFBLK);
    assert.equal((await sh("stat", ["-c", "%t:%T", join(mnt, "blk")])).stdout.trim(), "7:12c");

    await py(
      `import socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.close()`,
      [join(mnt, "sock")],
    );
    assert.equal((await statNs(join(mnt, "sock"))).mode & S_IFMT, S_IFSOCK);
    assert.equal(await tryOp("os.mkfifo(a[0])", [fifo]), "EEXIST");
  });
});

Deno.test("tmpfs changes owner and mode", async () => {
  await withMount(new TmpFs(), async (mnt) => {
    const p = join(mnt, "f");
    await Deno.writeTextFile(p, "x");
    await Deno.chmod(p, 0o4751);
    assert.equal((await statNs(p)).mode, S_IFREG | 0o4751);
    await Deno.chown(p, 1234, 5678);
    const st = await statNs(p);
    assert.deepEqual([st.uid, st.gid], [1234, 5678]);
    assert.equal(st.mode, S_IFREG | 0o751, "chown clears set-user-ID, as on any Linux fs");

    const d = join(mnt, "d");
    await Deno.mkdir(d);
    await Deno.chmod(d, 0o3711);
    assert.equal((await statNs(d)).mode, S_IFDIR | 0o3711);
    await Deno.chown(d, 42, 43);
    const sd = await statNs(d);
    assert.deepEqual([sd.uid, sd.gid, sd.mode], [42, 43, S_IFDIR | 0o3711]);
  });
});

Deno.test("tmpfs clears set-id bits like the kernel's tmpfs", async () => {
  const cases: Array<[string, number, number, string]> = [
    // mode, acting uid, expected mode, client statement
    ["write", 0o6777, NOBODY, "open(a[0], 'r+b').write(b'x')"],
    ["write", 0o6777, 0, "open(a[0], 'r+b').write(b'x')"],
    ["write", 0o2767, NOBODY, "open(a[0], 'r+b').write(b'x')"],
    ["truncate", 0o6777, NOBODY, "os.truncate(a[0], 2)"],
    ["truncate", 0o6777, 0, "os.truncate(a[0], 2)"],
    ["O_TRUNC", 0o6777, NOBODY, "os.close(os.open(a[0], os.O_WRONLY | os.O_TRUNC))"],
    ["chown", 0o6777, 0, "os.chown(a[0], 0, 0)"],
    ["chown", 0o2767, 0, "os.chown(a[0], 0, 0)"],
  ].map((
    [what, mode, uid, stmt],
  ) => [
    `${what} ${(mode as number).toString(8)} by ${uid}`,
    mode as number,
    uid as number,
    stmt as string,
  ]);
  const run = async (dir: string) => {
    const got: Record<string, string> = {};
    for (const [label, mode, uid, stmt] of cases) {
      const p = join(dir, "f");
      await Deno.writeTextFile(p, "data");
      await Deno.chmod(p, mode);
      assert.equal(await tryOp(stmt, [p], { uid }), "OK", label);
      got[label] = ((await statNs(p)).mode & 0o7777).toString(8);
    }
    return got;
  };
  const expected = {
    "write 6777 by 65534": "777",
    "write 6777 by 0": "6777",
    "write 2767 by 65534": "767",
    "truncate 6777 by 65534": "777",
    "truncate 6777 by 0": "6777",
    "O_TRUNC 6777 by 65534": "777",
    "chown 6777 by 0": "777",
    "chown 2767 by 0": "2767",
  };
  const kernel = await withKernelTmpfs(run);
  if (kernel) assert.deepEqual(kernel, expected, "the kernel's tmpfs disagrees with the table");
  await withMount(new TmpFs(), async (mnt) => {
    assert.deepEqual(await run(mnt), expected);
  }, { options: SHARED });
});

Deno.test("tmpfs keeps nanosecond timestamps", async () => {
  await withMount(new TmpFs(), async (mnt) => {
    const p = join(mnt, "f");
    await Deno.writeTextFile(p, "x");
    const times = await pyJson<string[]>(
      `import json, os, sys
p = sys.argv[1]
out = []
for a, m in [(1_234_567_890_123_456_789, 987_654_321_987_654_321), (-1_000_000_001, 1)]:
    os.utime(p, ns=(a, m))
    s = os.stat(p)
    out += [str(s.st_atime_ns), str(s.st_mtime_ns)]
print(json.dumps(out))`,
      [p],
    );
    assert.deepEqual(times, [
      "1234567890123456789",
      "987654321987654321",
      "-1000000001",
      "1",
    ]);
    await Deno.utime(p, 1000, 2000.5);
    const st = await Deno.stat(p);
    assert.equal(st.atime?.getTime(), 1_000_000);
    assert.equal(st.mtime?.getTime(), 2_000_500);
    // UTIME_NOW is resolved to the current time and moves ctime along.
    const before = BigInt(Date.now() - 1000) * 1_000_000n;
    await py("import os, sys; os.utime(sys.argv[1])", [p]);
    const now = await statNs(p);
    assert.ok(now.mtime > before && now.atime === now.mtime, `${now.mtime} > ${before}`);
    assert.ok(now.ctime >= now.mtime);
  });
});

Deno.test("tmpfs follows the kernel tmpfs timestamp rules", async () => {
  // Which of atime (a), mtime (m) and ctime (c) each operation changes on
  // the watched objects; paths given as [before, after] follow a rename.
  const script = `
import ctypes, json, os, sys, time
base = sys.argv[1]
libc = ctypes.CDLL(None, use_errno=True)
def p(*parts): return os.path.join(base, *parts)
def st(path):
    s = os.lstat(path)
    return (s.st_atime_ns, s.st_mtime_ns, s.st_ctime_ns)
out = {}
def step(name, fn, **watch):
    paths = {k: (v, v) if isinstance(v, str) else v for k, v in watch.items()}
    # The kernel's tmpfs stamps with a coarse clock: keep operations apart.
    time.sleep(0.012)
    before = {k: st(v[0]) for k, v in paths.items()}
    time.sleep(0.012)
    fn()
    time.sleep(0.012)
    out[name] = {k: "".join(c for c, x, y in zip("amc", before[k], st(v[1])) if x != y)
                 for k, v in paths.items()}
def write(path, data, mode="wb"):
    with open(path, mode) as f: f.write(data)
def read(path):
    with open(path, "rb") as f: return f.read()
def ftrunc(path, n):
    fd = os.open(path, os.O_WRONLY)
    try: os.ftruncate(fd, n)
    finally: os.close(fd)
def exchange(x, y):
    if libc.renameat2(-100, x.encode(), -100, y.encode(), 2) != 0:
        raise OSError(ctypes.get_errno(), "renameat2")
os.mkdir(p("d")); os.mkdir(p("e"))
write(p("d", "f"), b"x" * 100)
step("create", lambda: write(p("d", "new"), b""), dir=p("d"))
step("write", lambda: write(p("d", "f"), b"y" * 10, "r+b"), file=p("d", "f"), dir=p("d"))
step("read", lambda: read(p("d", "f")), file=p("d", "f"))
step("read again", lambda: read(p("d", "f")), file=p("d", "f"))
step("truncate", lambda: os.truncate(p("d", "f"), 50), file=p("d", "f"))
step("truncate same size", lambda: os.truncate(p("d", "f"), 50), file=p("d", "f"))
step("ftruncate same size", lambda: ftrunc(p("d", "f"), 50), file=p("d", "f"))
step("open O_TRUNC", lambda: os.close(os.open(p("d", "f"), os.O_WRONLY | os.O_TRUNC)), file=p("d", "f"))
step("chmod", lambda: os.chmod(p("d", "f"), 0o640), file=p("d", "f"), dir=p("d"))
step("chown", lambda: os.chown(p("d", "f"), 0, 0), file=p("d", "f"))
step("utime", lambda: os.utime(p("d", "f"), ns=(1_000_000_001, 2_000_000_002)), file=p("d", "f"))
step("setxattr", lambda: os.setxattr(p("d", "f"), "user.k", b"v"), file=p("d", "f"))
step("removexattr", lambda: os.removexattr(p("d", "f"), "user.k"), file=p("d", "f"))
step("link", lambda: os.link(p("d", "f"), p("e", "f2")), file=p("d", "f"), src=p("d"), dst=p("e"))
step("unlink", lambda: os.unlink(p("e", "f2")), file=p("d", "f"), dir=p("e"))
step("symlink", lambda: os.symlink("f", p("d", "s")), dir=p("d"))
step("readlink", lambda: os.readlink(p("d", "s")), link=p("d", "s"))
step("mkdir", lambda: os.mkdir(p("d", "sub")), dir=p("d"))
step("mkfifo", lambda: os.mkfifo(p("d", "fifo")), dir=p("d"))
step("rmdir", lambda: os.rmdir(p("d", "sub")), dir=p("d"))
step("listdir", lambda: os.listdir(p("d")), dir=p("d"))
step("rename", lambda: os.rename(p("d", "f"), p("e", "f")), file=(p("d", "f"), p("e", "f")), src=p("d"), dst=p("e"))
write(p("e", "victim"), b"v"); os.link(p("e", "victim"), p("victim-link"))
step("rename over", lambda: os.rename(p("e", "f"), p("e", "victim")), file=(p("e", "f"), p("e", "victim")), victim=p("victim-link"), dir=p("e"))
os.mkdir(p("d", "x"))
step("rename dir", lambda: os.rename(p("d", "x"), p("e", "x")), moved=(p("d", "x"), p("e", "x")), src=p("d"), dst=p("e"))
write(p("d", "ex"), b"1")
step("exchange", lambda: exchange(p("d", "ex"), p("e", "x")), file=(p("d", "ex"), p("e", "x")), other=(p("e", "x"), p("d", "ex")), src=p("d"), dst=p("e"))
print(json.dumps(out))
`;
  const expected = {
    "create": { dir: "mc" },
    "write": { file: "mc", dir: "" },
    "read": { file: "a" },
    "read again": { file: "" }, // relatime: atime is already newer than mtime
    "truncate": { file: "mc" },
    "truncate same size": { file: "mc" },
    "ftruncate same size": { file: "mc" },
    "open O_TRUNC": { file: "mc" },
    "chmod": { file: "c", dir: "" },
    "chown": { file: "c" },
    "utime": { file: "amc" },
    "setxattr": { file: "c" },
    "removexattr": { file: "c" },
    "link": { file: "c", src: "", dst: "mc" },
    "unlink": { file: "c", dir: "mc" },
    "symlink": { dir: "mc" },
    "readlink": { link: "a" },
    "mkdir": { dir: "mc" },
    "mkfifo": { dir: "mc" },
    "rmdir": { dir: "mc" },
    "listdir": { dir: "a" },
    "rename": { file: "c", src: "mc", dst: "mc" },
    "rename over": { file: "c", victim: "c", dir: "mc" },
    "rename dir": { moved: "c", src: "mc", dst: "mc" },
    "exchange": { file: "c", other: "c", src: "mc", dst: "mc" },
  };
  const kernel = await withKernelTmpfs((dir) => pyJson(script, [dir]));
  if (kernel) assert.deepEqual(kernel, expected, "the kernel's tmpfs disagrees with the table");
  await withMount(new TmpFs(), async (mnt) => {
    assert.deepEqual(await pyJson(script, [mnt]), expected);
  });
});

Deno.test("tmpfs counts hard links", async () => {
  await withMount(new TmpFs(), async (mnt) => {
    const a = join(mnt, "a"), b = join(mnt, "b");
    await Deno.mkdir(join(mnt, "sub"));
    const c = join(mnt, "sub", "c");
    await Deno.writeTextFile(a, "shared");
    await Deno.link(a, b);
    await Deno.link(b, c);
    const [sa, sb, sc] = await Promise.all([statNs(a), statNs(b), statNs(c)]);
    assert.equal(sa.ino, sb.ino);
    assert.equal(sa.ino, sc.ino);
    assert.equal(sc.nlink, 3);
    await Deno.writeTextFile(c, "changed");
    assert.equal(await Deno.readTextFile(a), "changed");
    await Deno.remove(a);
    assert.equal((await statNs(b)).nlink, 2);
    assert.equal(await Deno.readTextFile(b), "changed");
    assert.equal(await tryOp("os.link(a[0], a[1])", [b, c]), "EEXIST");
    assert.equal(await tryOp("os.link(a[0], a[1])", [join(mnt, "sub"), join(mnt, "d2")]), "EPERM");
    assert.equal(await tryOp("os.link(a[0], a[1])", [a, join(mnt, "x")]), "ENOENT");
  });
});

Deno.test("tmpfs renames with replace semantics", async () => {
  await withMount(new TmpFs(), async (mnt) => {
    const p = (...parts: string[]) => join(mnt, ...parts);
    await Deno.writeTextFile(p("f1"), "one");
    await Deno.writeTextFile(p("f2"), "two");
    const ino1 = (await statNs(p("f1"))).ino;
    await Deno.rename(p("f1"), p("f2"));
    assert.equal(await Deno.readTextFile(p("f2")), "one");
    assert.equal((await statNs(p("f2"))).ino, ino1);
    await assert.rejects(Deno.lstat(p("f1")), Deno.errors.NotFound);

    await Deno.mkdir(p("d1", "inner"), { recursive: true });
    await Deno.mkdir(p("empty"));
    await Deno.mkdir(p("full"));
    await Deno.writeTextFile(p("full", "x"), "x");
    assert.equal(await tryOp("os.rename(a[0], a[1])", [p("d1"), p("full")]), "ENOTEMPTY");
    assert.equal(await tryOp("os.rename(a[0], a[1])", [p("f2"), p("empty")]), "EISDIR");
    assert.equal(await tryOp("os.rename(a[0], a[1])", [p("d1"), p("f2")]), "ENOTDIR");
    assert.equal(await tryOp("os.rename(a[0], a[1])", [p("d1"), p("d1", "inner", "x")]), "EINVAL");
    assert.equal(await tryOp("os.rename(a[0], a[1])", [p("nope"), p("x")]), "ENOENT");
    const rootLinks = (await statNs(mnt)).nlink;
    await Deno.rename(p("d1"), p("empty"));
    assert.equal((await statNs(mnt)).nlink, rootLinks - 1, "the replaced directory is gone");
    assert.deepEqual(await names(p("empty")), ["inner"]);

    // Moving a directory to another parent moves its "..".
    await Deno.rename(p("empty", "inner"), p("full", "inner"));
    assert.equal((await statNs(p("empty"))).nlink, 2);
    assert.equal((await statNs(p("full"))).nlink, 3);
    assert.equal((await statNs(p("full", "inner", ".."))).ino, (await statNs(p("full"))).ino);

    // Two names of one inode: rename does nothing and succeeds.
    await Deno.link(p("f2"), p("f3"));
    await Deno.rename(p("f2"), p("f3"));
    assert.equal((await statNs(p("f3"))).nlink, 2);
    assert.deepEqual(await names(mnt), ["empty", "f2", "f3", "full"]);
  });
});

Deno.test("tmpfs renames with RENAME_NOREPLACE and RENAME_EXCHANGE", async () => {
  await withMount(new TmpFs(), async (mnt) => {
    const p = (...parts: string[]) => join(mnt, ...parts);
    await Deno.mkdir(p("d1"));
    await Deno.mkdir(p("d2", "dir", "deep"), { recursive: true });
    await Deno.writeTextFile(p("d1", "file"), "file data");
    await Deno.writeTextFile(p("d1", "other"), "other");

    assert.equal(await renameat2(p("d1", "file"), p("d1", "other"), RENAME_NOREPLACE), "EEXIST");
    assert.equal(await Deno.readTextFile(p("d1", "other")), "other");
    assert.equal(await renameat2(p("d1", "other"), p("d1", "moved"), RENAME_NOREPLACE), "OK");
    assert.deepEqual(await names(p("d1")), ["file", "moved"]);

    // A file and a directory trade places across parents.
    const fileIno = (await statNs(p("d1", "file"))).ino;
    const dirIno = (await statNs(p("d2", "dir"))).ino;
    assert.equal(await renameat2(p("d1", "file"), p("d2", "dir"), RENAME_EXCHANGE), "OK");
    assert.equal((await statNs(p("d1", "file"))).ino, dirIno);
    assert.equal((await statNs(p("d2", "dir"))).ino, fileIno);
    assert.equal(await Deno.readTextFile(p("d2", "dir")), "file data");
    assert.deepEqual(await names(p("d1", "file")), ["deep"]);
    assert.equal((await statNs(p("d1"))).nlink, 3);
    assert.equal((await statNs(p("d2"))).nlink, 2);
    assert.equal((await statNs(p("d1", "file", ".."))).ino, (await statNs(p("d1"))).ino);

    assert.equal(await renameat2(p("d1", "moved"), p("d1", "none"), RENAME_EXCHANGE), "ENOENT");
    assert.equal(
      await renameat2(p("d1", "file"), p("d1", "file", "deep"), RENAME_EXCHANGE),
      "EINVAL",
    );
    assert.equal(await renameat2(p("d1", "moved"), p("d1", "file"), 3), "EINVAL");
    // Exchanging two names of the same kind in one directory.
    await Deno.writeTextFile(p("d1", "x"), "X");
    assert.equal(await renameat2(p("d1", "x"), p("d1", "moved"), RENAME_EXCHANGE), "OK");
    assert.equal(await Deno.readTextFile(p("d1", "x")), "other");
    assert.equal(await Deno.readTextFile(p("d1", "moved")), "X");
  });
});

Deno.test("tmpfs lists 10,000 entries and frees them all", async () => {
  const fs = new TmpFs();
  await withMount(fs, async (mnt) => {
    const d = join(mnt, "many");
    await Deno.mkdir(d);
    await py(
      `import os, sys
for i in range(10000):
    os.close(os.open(os.path.join(sys.argv[1], f"entry-{i:05}"), os.O_CREAT | os.O_WRONLY, 0o644))`,
      [d],
      { timeoutMs: 60_000 },
    );
    const listed = await names(d);
    assert.equal(listed.length, 10000);
    assert.equal(new Set(listed).size, 10000);
    assert.equal(listed[0], "entry-00000");
    assert.equal(listed[9999], "entry-09999");
    const ls = await sh("sh", ["-c", `ls -f '${d}' | wc -l`]);
    assert.equal(ls.stdout.trim(), "10002", "'.' and '..' are listed too");

    await Deno.remove(d, { recursive: true });
    // Every lookup reference readdirplus handed out must come back as a forget.
    assert.ok(await waitFor(() => fs.liveInodes === 1, 10_000, dropCaches), `${fs.liveInodes}`);
  });
});

Deno.test("tmpfs readdir resumes at stable cookies while the directory changes", async () => {
  const fs = new TmpFs();
  const starts: number[] = [];
  const readdir = fs.readdir.bind(fs);
  fs.readdir = (fh, startId, token) => {
    starts.push(startId);
    return readdir(fh, startId, token);
  };
  await withMount(fs, async (mnt) => {
    const out = await pyJson<{ seen: string[]; deleted: string[]; created: number }>(
      `import json, os, sys
d = sys.argv[1]
stable = [f"s{i:04}" for i in range(1200)]
volatile = [f"v{i:04}" for i in range(1200)]
for s, v in zip(stable, volatile):
    open(os.path.join(d, s), "w").close()
    open(os.path.join(d, v), "w").close()
seen, deleted, created = [], [], 0
with os.scandir(d) as it:
    for k, e in enumerate(it):
        seen.append(e.name)
        if k % 10 == 9:
            # Remove volatile entries both before and after the cursor, add new ones.
            for j in (k // 10 * 3, 1199 - k // 10 * 3):
                if 0 <= j < 1200 and volatile[j] not in deleted:
                    os.unlink(os.path.join(d, volatile[j])); deleted.append(volatile[j])
            for _ in range(3):
                open(os.path.join(d, f"n{created:05}"), "w").close(); created += 1
print(json.dumps({"seen": seen, "deleted": deleted, "created": created}))`,
      [mnt],
      { timeoutMs: 60_000 },
    );
    const counts = new Map<string, number>();
    for (const n of out.seen) counts.set(n, (counts.get(n) ?? 0) + 1);
    const dupes = [...counts].filter(([, c]) => c > 1);
    assert.deepEqual(dupes, [], "no entry is listed twice");
    for (let i = 0; i < 1200; i++) {
      const s = `s${String(i).padStart(4, "0")}`;
      assert.equal(counts.get(s), 1, `stable entry ${s} listed once`);
    }
    const deleted = new Set(out.deleted);
    const missedVolatile = [...deleted].filter((n) => !counts.has(n));
    assert.ok(missedVolatile.length > 0, "entries deleted ahead of the cursor are not listed");
    assert.ok(out.seen.some((n) => n.startsWith("n")), "entries created ahead of the cursor are");
    assert.ok(
      // (Plain READDIR entries are small: 2,400 names need about ten requests.)
      starts.filter((s) => s > 0).length >= 5,
      `the listing spanned many readdir requests: ${starts.length}`,
    );
  });
});

Deno.test("tmpfs reports statvfs from usage and runs out of space", async () => {
  const fs = new TmpFs({ maxBytes: 8 << 20, maxInodes: 64 });
  await withMount(fs, async (mnt) => {
    const s0 = await statvfs(mnt);
    assert.deepEqual(s0, {
      bsize: 4096,
      frsize: 4096,
      blocks: 2048,
      bfree: 2048,
      bavail: 2048,
      files: 64,
      ffree: 63,
      favail: 63,
      namemax: 255,
    });
    await Deno.writeFile(join(mnt, "mib"), new Uint8Array(1 << 20).fill(1));
    await Deno.writeTextFile(join(mnt, "small"), "x");
    const s1 = await statvfs(mnt);
    assert.equal(s1.bfree, 2048 - 256 - 1, "1 MiB plus one 4 KiB page");
    assert.equal(s1.ffree, 61);

    await assert.rejects(
      Deno.writeFile(join(mnt, "huge"), new Uint8Array(8 << 20).fill(2)),
      { code: "ENOSPC" },
    );
    await Deno.remove(join(mnt, "huge"));
    await Deno.remove(join(mnt, "mib"));
    assert.ok(await waitFor(async () => (await statvfs(mnt)).bfree === 2048 - 1));

    const made = await py(
      `import os, sys
n = 0
try:
    while True:
        os.close(os.open(os.path.join(sys.argv[1], f"i{n}"), os.O_CREAT | os.O_WRONLY)); n += 1
except OSError as e:
    print(n, os.strerror(e.errno))`,
      [mnt],
    );
    assert.equal(made, `62 ${"No space left on device"}`, "64 inodes: root, small and 62 more");
    assert.equal((await statvfs(mnt)).ffree, 0);
  });
});

Deno.test("tmpfs truncates by path and by descriptor", async () => {
  await withMount(new TmpFs(), async (mnt) => {
    const p = join(mnt, "f");
    await Deno.writeFile(p, new Uint8Array(200_000).fill(0xab));
    await Deno.truncate(p, 70_000);
    let st = await statNs(p);
    assert.equal(st.size, 70_000);
    assert.equal(st.blocks, Math.ceil(70_000 / PAGE_SIZE) * PAGE_BLOCKS);
    await Deno.truncate(p, 300_000);
    st = await statNs(p);
    assert.equal(st.size, 300_000);
    assert.equal(
      st.blocks,
      Math.ceil(70_000 / PAGE_SIZE) * PAGE_BLOCKS,
      "growing allocates nothing",
    );
    const data = await Deno.readFile(p);
    assert.ok(data.subarray(0, 70_000).every((b) => b === 0xab));
    assert.ok(data.subarray(70_000).every((b) => b === 0), "the cut-off tail reads as zeros");

    const byFd = await pyJson<[number, string, number]>(
      `import json, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
os.ftruncate(fd, 10)
small = os.fstat(fd).st_size
os.ftruncate(fd, int(sys.argv[2]))
tail = os.pread(fd, 100, 5).hex()
big = os.fstat(fd).st_size
os.close(fd)
print(json.dumps([small, tail, big]))`,
      [p, String(3 * PAGE_SIZE + 5)],
    );
    assert.deepEqual(byFd, [10, "ab".repeat(5) + "00".repeat(95), 3 * PAGE_SIZE + 5]);
    await py("import sys; open(sys.argv[1], 'w').close()", [p]);
    st = await statNs(p);
    assert.deepEqual([st.size, st.blocks], [0, 0]);
    assert.equal(await tryOp("os.truncate(a[0], 1)", [mnt]), "EISDIR");
  });
});

Deno.test("tmpfs keeps an unlinked file readable while it is open", async () => {
  const fs = new TmpFs();
  const sync = await Deno.makeTempDir({ prefix: "denofuse-sync-" });
  try {
    await withMount(fs, async (mnt) => {
      const p = join(mnt, "doomed");
      await Deno.writeTextFile(p, "still here");
      const before = fs.liveInodes;
      // The client holds the descriptor open across the checks below,
      // handshaking through files outside the mount.
      const client = pyJson<{ nlink: number; before: string; after: string }>(
        `import json, os, sys, time
p, ready, go = sys.argv[1:4]
fd = os.open(p, os.O_RDWR)
os.unlink(p)
nlink = os.fstat(fd).st_nlink
open(ready, "w").close()
while not os.path.exists(go): time.sleep(0.01)
before = os.pread(fd, 100, 0)
os.pwrite(fd, b", and more", len(before))
after = os.pread(fd, 100, 0)
os.close(fd)
print(json.dumps({"nlink": nlink, "before": before.decode(), "after": after.decode()}))`,
        [p, join(sync, "ready"), join(sync, "go")],
      );
      const exists = (f: string) => Deno.stat(f).then(() => true, () => false);
      assert.ok(await waitFor(() => exists(join(sync, "ready")), 10_000), "client ready");
      await assert.rejects(Deno.lstat(p), Deno.errors.NotFound);
      assert.deepEqual(await names(mnt), []);
      await dropCaches();
      assert.equal(fs.liveInodes, before, "an open file is not freed");
      assert.equal(fs.openHandles, 1);
      await Deno.writeTextFile(join(sync, "go"), "");
      assert.deepEqual(await client, {
        nlink: 0,
        before: "still here",
        after: "still here, and more",
      });
      assert.ok(await waitFor(() => fs.liveInodes === before - 1 && fs.openHandles === 0));
      assert.equal(fs.allocatedBytes, 0);
    });
  } finally {
    await Deno.remove(sync, { recursive: true });
  }
});

Deno.test("tmpfs serves extended attributes with size probing and flags", async () => {
  await withMount(new TmpFs(), async (mnt) => {
    const p = join(mnt, "f");
    await Deno.writeTextFile(p, "x");
    const probe = await pyJson<Record<string, number | string>>(
      `import ctypes, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
p = os.fsencode(sys.argv[1])
value = b"\\x00v" * 50
os.setxattr(p, "user.big", value)
os.setxattr(p, "user.empty", b"")
size = libc.getxattr(p, b"user.big", None, ctypes.c_size_t(0))
small = ctypes.create_string_buffer(10)
r_small = libc.getxattr(p, b"user.big", small, ctypes.c_size_t(10)); e_small = ctypes.get_errno()
full = ctypes.create_string_buffer(100)
r_full = libc.getxattr(p, b"user.big", full, ctypes.c_size_t(100))
list_size = libc.listxattr(p, None, ctypes.c_size_t(0))
r_list = libc.listxattr(p, small, ctypes.c_size_t(5)); e_list = ctypes.get_errno()
print(json.dumps({"size": size, "small": r_small, "small_errno": e_small, "full": r_full,
  "same": full.raw == value, "list_size": list_size, "list_small": r_list, "list_errno": e_list,
  "names": sorted(os.listxattr(p)), "empty": os.getxattr(p, "user.empty").hex()}))`,
      [p],
    );
    assert.deepEqual(probe, {
      size: 100,
      small: -1,
      small_errno: 34, // ERANGE
      full: 100,
      same: true,
      list_size: "user.big\0user.empty\0".length,
      list_small: -1,
      list_errno: 34,
      names: ["user.big", "user.empty"],
      empty: "",
    });

    const set = (flags: string) => `os.setxattr(a[0], "user.k", a[1].encode(), ${flags})`;
    assert.equal(await tryOp(set("os.XATTR_REPLACE"), [p, "0"]), "ENODATA");
    assert.equal(await tryOp(set("os.XATTR_CREATE"), [p, "1"]), "OK");
    assert.equal(await tryOp(set("os.XATTR_CREATE"), [p, "2"]), "EEXIST");
    assert.equal(await tryOp(set("os.XATTR_REPLACE"), [p, "3"]), "OK");
    const dump = await sh("getfattr", ["-d", "--absolute-names", p]);
    assert.match(dump.stdout, /^user\.k="3"$/m);
    assert.equal((await sh("setfattr", ["-n", "user.k", "-v", "4", p])).code, 0);
    assert.equal(
      await py("import os, sys; print(os.getxattr(sys.argv[1], 'user.k'))", [p]),
      "b'4'",
    );
    assert.equal(await tryOp("os.getxattr(a[0], 'user.none')", [p]), "ENODATA");
    assert.equal(await tryOp("os.removexattr(a[0], 'user.none')", [p]), "ENODATA");
    assert.equal(await tryOp("os.removexattr(a[0], 'user.k')", [p]), "OK");
    assert.equal(await tryOp("os.getxattr(a[0], 'user.k')", [p]), "ENODATA");
    // Directories carry xattrs too; names outside the known namespaces never reach us.
    assert.equal(await tryOp("os.setxattr(a[0], 'user.d', b'v')", [mnt]), "OK");
    assert.equal(await py("import os, sys; print(os.listxattr(sys.argv[1]))", [mnt]), "['user.d']");
    // The kernel passes every namespace to FUSE; like tmpfs, only user.,
    // trusted. and security. are stored (EOPNOTSUPP, which Python calls
    // ENOTSUP), and trusted.* is listed only for root.
    assert.equal(await tryOp("os.setxattr(a[0], 'bogus.d', b'v')", [p]), "ENOTSUP");
    assert.equal(await tryOp("os.getxattr(a[0], 'system.x')", [p]), "ENOTSUP");
    assert.equal(await tryOp("os.setxattr(a[0], 'trusted.t', b'v')", [p]), "OK");
    const list = "import os, sys; print(sorted(os.listxattr(sys.argv[1])))";
    assert.equal(await py(list, [p]), "['trusted.t', 'user.big', 'user.empty']");
    assert.equal(await py(list, [p], { uid: NOBODY }), "['user.big', 'user.empty']");
  }, { options: SHARED });
});

Deno.test("tmpfs answers access() when mounted without default_permissions", async () => {
  const fs = new TmpFs({ rootMode: 0o755, rootUid: 0, rootGid: 0 });
  await withMount(fs, async (mnt) => {
    const check = `import json, os, sys
print(json.dumps([[os.access(p, m) for m in (os.R_OK, os.W_OK, os.X_OK, os.F_OK)] for p in sys.argv[1:]]))`;
    const files = [["private", 0o640], ["public", 0o644], ["tool", 0o755]] as const;
    for (const [name, mode] of files) {
      await Deno.writeTextFile(join(mnt, name), "x");
      await Deno.chmod(join(mnt, name), mode);
    }
    const paths = files.map(([n]) => join(mnt, n));
    assert.deepEqual(await pyJson(check, paths, { uid: NOBODY }), [
      [false, false, false, true],
      [true, false, false, true],
      [true, false, true, true],
    ]);
    assert.deepEqual(await pyJson(check, paths), [
      [true, true, false, true],
      [true, true, false, true],
      [true, true, true, true],
    ]);
  }, { options: ["allow_other", "fsname=denofuse-test"] });
});

Deno.test("tmpfs fsyncs files and directories", async () => {
  const fs = new TmpFs();
  const calls: string[] = [];
  const fsync = fs.fsync.bind(fs), fsyncdir = fs.fsyncdir.bind(fs);
  fs.fsync = (fh, datasync) => {
    calls.push(`fsync ${datasync}`);
    return fsync(fh, datasync);
  };
  fs.fsyncdir = (fh, datasync) => {
    calls.push(`fsyncdir ${datasync}`);
    return fsyncdir(fh, datasync);
  };
  await withMount(fs, async (mnt) => {
    await py(
      `import os, sys
fd = os.open(os.path.join(sys.argv[1], "f"), os.O_WRONLY | os.O_CREAT)
os.write(fd, b"durable")
os.fsync(fd)
os.fdatasync(fd)
os.close(fd)
fd = os.open(sys.argv[1], os.O_RDONLY)
os.fsync(fd)
os.close(fd)`,
      [mnt],
    );
    assert.deepEqual(calls, ["fsync false", "fsync true", "fsyncdir false"]);
    assert.equal(await Deno.readTextFile(join(mnt, "f")), "durable");
  });
});

Deno.test("tmpfs truncates sparsely to 1 TiB without allocating", async () => {
  const fs = new TmpFs();
  await withMount(fs, async (mnt) => {
    const p = join(mnt, "sparse");
    const rss = Deno.memoryUsage().rss;
    await Deno.writeTextFile(p, "");
    await Deno.truncate(p, 2 ** 40);
    let st = await statNs(p);
    assert.equal(st.size, 2 ** 40);
    assert.equal(st.blocks, 0);
    const io = await pyJson<[number, boolean, string]>(
      `import json, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
middle = os.pread(fd, 1 << 20, 1 << 39)
os.pwrite(fd, b"end!", (1 << 40) - 4)
end = os.pread(fd, 100, (1 << 40) - 8)
os.close(fd)
print(json.dumps([len(middle), middle.count(0) == len(middle), end.hex()]))`,
      [p],
    );
    assert.deepEqual(io, [1 << 20, true, "00000000656e6421"]);
    st = await statNs(p);
    assert.equal(st.size, 2 ** 40);
    assert.equal(st.blocks, PAGE_BLOCKS, "only the page written to is allocated");
    assert.equal(fs.allocatedBytes, PAGE_SIZE);
    const grown = Deno.memoryUsage().rss - rss;
    assert.ok(grown < 100 << 20, `rss grew by ${grown} bytes`);
    await Deno.truncate(p, 0);
    assert.equal(fs.allocatedBytes, 0);
  });
});

Deno.test("tmpfs enforces NAME_MAX", async () => {
  await withMount(new TmpFs(), async (mnt) => {
    const ok = "n".repeat(NAME_MAX);
    const tooLong = "n".repeat(NAME_MAX + 1);
    await Deno.writeTextFile(join(mnt, ok), "x");
    // 127 two-byte characters plus one byte is 255 bytes; 128 are 256.
    await Deno.mkdir(join(mnt, "é".repeat(127) + "x"));
    assert.deepEqual(await names(mnt), ["é".repeat(127) + "x", ok].sort());
    const long = join(mnt, tooLong), existing = join(mnt, ok);
    for (
      const [stmt, args] of [
        ["os.close(os.open(a[0], os.O_CREAT | os.O_WRONLY))", [long]],
        ["os.mkdir(a[0])", [long]],
        ["os.mkdir(a[0])", [join(mnt, "é".repeat(128))]],
        ["os.mkfifo(a[0])", [long]],
        ["os.symlink('t', a[0])", [long]],
        ["os.link(a[0], a[1])", [existing, long]],
        ["os.rename(a[0], a[1])", [existing, long]],
        ["os.lstat(a[0])", [long]],
      ] as const
    ) {
      assert.equal(await tryOp(stmt, [...args]), "ENAMETOOLONG", stmt);
    }
    assert.equal((await statvfs(mnt)).namemax, NAME_MAX);
  });
});

Deno.test("tmpfs gives new entries the caller's ids and a setgid directory's group", async () => {
  await withMount(new TmpFs({ rootUid: 0, rootGid: 0 }), async (mnt) => {
    const d = join(mnt, "shared");
    await Deno.mkdir(d);
    await Deno.chown(d, 0, 100);
    await Deno.chmod(d, 0o2777);
    await Deno.writeTextFile(join(d, "by-root"), "x");
    const file = await statNs(join(d, "by-root"));
    assert.deepEqual([file.uid, file.gid, file.mode & S_ISGID], [0, 100, 0]);

    assert.equal(await tryOp("os.mkdir(a[0], 0o755)", [join(d, "sub")], { uid: NOBODY }), "OK");
    assert.equal(await tryOp("os.mkfifo(a[0])", [join(d, "fifo")], { uid: NOBODY }), "OK");
    assert.equal(await tryOp("os.symlink('x', a[0])", [join(d, "ln")], { uid: NOBODY }), "OK");
    const sub = await statNs(join(d, "sub"));
    assert.deepEqual([sub.uid, sub.gid], [NOBODY, 100]);
    assert.equal(sub.mode, S_IFDIR | S_ISGID | 0o755, "subdirectories inherit set-group-ID");
    for (const n of ["fifo", "ln"]) {
      const s = await statNs(join(d, n));
      assert.deepEqual([s.uid, s.gid], [NOBODY, 100], n);
    }
    // Without set-group-ID the caller's own group is used.
    assert.equal(
      await tryOp("open(a[0], 'w').close()", [join(mnt, "mine")], { uid: NOBODY }),
      "OK",
    );
    const mine = await statNs(join(mnt, "mine"));
    assert.deepEqual([mine.uid, mine.gid], [NOBODY, NOBODY]);
  }, { options: SHARED });
});

Deno.test("tmpfs applies the umask exactly once", async () => {
  await withMount(new TmpFs(), async (mnt) => {
    const p = (n: string) => join(mnt, n);
    const r = await sh("sh", [
      "-c",
      `umask 027 && touch '${p("f")}' && mkdir '${p("d")}' && mkfifo '${p("fifo")}' && ln -s x '${
        p("l")
      }'`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await statNs(p("f"))).mode, S_IFREG | 0o640);
    assert.equal((await statNs(p("d"))).mode, S_IFDIR | 0o750);
    assert.equal((await statNs(p("fifo"))).mode, S_IFIFO | 0o640);
    assert.equal((await statNs(p("l"))).mode, S_IFLNK | 0o777, "symlinks ignore the umask");

    const modes = await pyJson<number[]>(
      `import json, os, sys
d = sys.argv[1]
os.umask(0)
os.close(os.open(os.path.join(d, "open777"), os.O_CREAT | os.O_WRONLY, 0o777))
os.mkdir(os.path.join(d, "dir1777"), 0o1777)
os.umask(0o077)
os.mkdir(os.path.join(d, "dir-sticky"), 0o1777)
os.mknod(os.path.join(d, "node"), 0o666 | 0o010000)
print(json.dumps([os.lstat(os.path.join(d, n)).st_mode for n in ["open777", "dir1777", "dir-sticky", "node"]]))`,
      [mnt],
    );
    assert.deepEqual(modes, [S_IFREG | 0o777, S_IFDIR | 0o1777, S_IFDIR | 0o1700, S_IFIFO | 0o600]);
  });
});

Deno.test("tmpfs honours the sticky bit for other users", async () => {
  await withMount(new TmpFs({ rootMode: 0o1777, rootUid: 0, rootGid: 0 }), async (mnt) => {
    const p = (...parts: string[]) => join(mnt, ...parts);
    await Deno.writeTextFile(p("theirs"), "root's");
    await Deno.chmod(p("theirs"), 0o666);
    const asNobody = { uid: NOBODY };
    assert.equal(await tryOp("open(a[0], 'w').close()", [p("mine")], asNobody), "OK");
    assert.equal(await tryOp("os.unlink(a[0])", [p("theirs")], asNobody), "EPERM");
    assert.equal(await tryOp("os.rename(a[0], a[1])", [p("theirs"), p("x")], asNobody), "EPERM");
    assert.equal(await tryOp("os.rename(a[0], a[1])", [p("mine"), p("theirs")], asNobody), "EPERM");
    assert.equal(await tryOp("open(a[0], 'a').write('w')", [p("theirs")], asNobody), "OK");
    assert.equal(await tryOp("os.rename(a[0], a[1])", [p("mine"), p("mine2")], asNobody), "OK");
    assert.equal(await tryOp("os.unlink(a[0])", [p("mine2")], asNobody), "OK");
    // The owner of a sticky directory may remove anything in it.
    assert.equal(await tryOp("os.mkdir(a[0], 0o1777)", [p("nd")], asNobody), "OK");
    await Deno.writeTextFile(p("nd", "roots"), "x");
    assert.equal(await tryOp("os.unlink(a[0])", [p("nd", "roots")], asNobody), "OK");
    // Without the sticky bit, write permission on the directory is enough.
    await Deno.mkdir(p("open"));
    await Deno.chmod(p("open"), 0o777);
    await Deno.writeTextFile(p("open", "roots"), "x");
    assert.equal(await tryOp("os.unlink(a[0])", [p("open", "roots")], asNobody), "OK");
    assert.deepEqual(await names(mnt), ["nd", "open", "theirs"]);
    assert.equal(await Deno.readTextFile(p("theirs")), "root'sw");
  }, { options: SHARED });
});

Deno.test("tmpfs handlers enforce sticky and subtree rules on their own", () => {
  // The kernel checks these before asking us; the handlers must not rely on it.
  const fs = new TmpFs({ rootMode: 0o1777, rootUid: 0, rootGid: 0 });
  const signal = new AbortController().signal;
  const root = { uid: 0, gid: 0, pid: 1, umask: 0o022, signal };
  const nobody = { uid: NOBODY, gid: NOBODY, pid: 1, umask: 0o022, signal };
  const name = (s: string) => enc.encode(s);
  const errnoOf = (fn: () => unknown) => {
    try {
      fn();
      return "OK";
    } catch (e) {
      assert.ok(e instanceof fuse.FUSEError, String(e));
      return fuse.errnoName(e.errno);
    }
  };
  fs.mknod(fuse.ROOT_INODE, name("f"), S_IFREG | 0o666, 0, root);
  assert.equal(errnoOf(() => fs.unlink(fuse.ROOT_INODE, name("f"), nobody)), "EPERM");
  assert.equal(
    errnoOf(() => fs.rename(fuse.ROOT_INODE, name("f"), fuse.ROOT_INODE, name("g"), 0, nobody)),
    "EPERM",
  );
  const a = fs.mkdir(fuse.ROOT_INODE, name("a"), 0o777, root);
  const b = fs.mkdir(a.stIno, name("b"), 0o777, root);
  assert.equal(a.stMode, S_IFDIR | 0o755, "umask applied");
  assert.equal(
    errnoOf(() => fs.rename(fuse.ROOT_INODE, name("a"), b.stIno, name("x"), 0, root)),
    "EINVAL",
  );
  assert.equal(
    errnoOf(() =>
      fs.rename(fuse.ROOT_INODE, name("f"), fuse.ROOT_INODE, name("a"), RENAME_EXCHANGE | 4, root)
    ),
    "EINVAL",
  );
  assert.equal(
    errnoOf(() => fs.lookup(fuse.ROOT_INODE, new Uint8Array(256).fill(0x61))),
    "ENAMETOOLONG",
  );
  assert.equal(errnoOf(() => fs.unlink(fuse.ROOT_INODE, name("f"), root)), "OK");
  // Still looked up once by mknod: freed only by the matching forget.
  assert.equal(fs.liveInodes, 4);
  fs.forget([[2, 1]]);
  assert.equal(fs.liveInodes, 3);
});

Deno.test("tmpfs frees an inode once it is unlinked and forgotten", async () => {
  const fs = new TmpFs();
  await withMount(fs, async (mnt) => {
    const p = (...parts: string[]) => join(mnt, ...parts);
    await Deno.writeTextFile(p("f"), "x");
    await Deno.mkdir(p("d"));
    await Deno.writeTextFile(p("d", "g"), "y");
    await Deno.link(p("f"), p("d", "f-link"));
    // readdirplus on "d" returns "." and "..", which the kernel does not count.
    assert.equal((await sh("ls", ["-la", p("d")])).code, 0);
    assert.equal(fs.liveInodes, 4);
    await dropCaches();
    assert.equal(fs.liveInodes, 4, "linked inodes survive the kernel forgetting them");

    await Deno.remove(p("f"));
    await dropCaches();
    assert.equal(fs.liveInodes, 4, "one link is left");
    await Deno.rename(p("d", "g"), p("d", "f-link"));
    assert.ok(await waitFor(() => fs.liveInodes === 3, 3000, dropCaches), `${fs.liveInodes}`);
    await Deno.remove(p("d"), { recursive: true });
    assert.ok(await waitFor(() => fs.liveInodes === 1, 3000, dropCaches), `${fs.liveInodes}`);
    assert.equal(fs.allocatedBytes, 0);
  });
});

Deno.test("tmpfs runs as a command with tmpfs mount options", async () => {
  await withSpawnedFs(
    "tmpfs.ts",
    ["-o", "size=8m,nr_inodes=100,mode=750,uid=12,gid=34"],
    async ({ mnt, child, exited }) => {
      const vfs = await statvfs(mnt);
      assert.deepEqual([vfs.blocks, vfs.files, vfs.namemax], [2048, 100, 255]);
      const root = await statNs(mnt);
      assert.deepEqual([root.mode, root.uid, root.gid], [S_IFDIR | 0o750, 12, 34]);
      await Deno.writeTextFile(join(mnt, "f"), "served by a subprocess");
      assert.equal(await Deno.readTextFile(join(mnt, "f")), "served by a subprocess");
      child.kill("SIGTERM");
      assert.equal((await exited()).code, 0);
    },
  );
});

Deno.test("TmpFs refuses a capacity that is not a positive safe integer", () => {
  assert.throws(
    () => new TmpFs({ maxBytes: 2 << 30 }),
    /maxBytes must be a positive safe integer, got -2147483648/,
  );
  assert.throws(() => new TmpFs({ maxInodes: 1.5 }), RangeError);
});

Deno.test("tmpfs serves O_TMPFILE like the kernel's tmpfs (libfuse 3.17+), else EOPNOTSUPP", async () => {
  // An unnamed file: written, given a name with linkat(2) (through
  // /proc/self/fd), read back by that name; with O_EXCL it cannot be named.
  const script = `
import ctypes, errno, json, os, sys
d = sys.argv[1]
out = {}
libc = ctypes.CDLL(None, use_errno=True)
def link_fd(fd, name):
    # linkat(AT_FDCWD, "/proc/self/fd/N", AT_FDCWD, name, AT_SYMLINK_FOLLOW);
    # os.link would call link(2), which links the /proc symlink itself.
    if libc.linkat(-100, f"/proc/self/fd/{fd}".encode(), -100, os.path.join(d, name).encode(), 0x400):
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
try:
    fd = os.open(d, os.O_TMPFILE | os.O_RDWR, 0o640)
except OSError as e:
    print(json.dumps({"open": e.errno})); sys.exit(0)
os.write(fd, b"unnamed until now")
st = os.fstat(fd)
out["before"] = [oct(st.st_mode), st.st_nlink, st.st_size, sorted(os.listdir(d))]
link_fd(fd, "named")
st = os.fstat(fd)
out["after"] = [st.st_nlink, sorted(os.listdir(d))]
os.close(fd)
with open(os.path.join(d, "named"), "rb") as f:
    out["data"] = f.read().decode()
fd = os.open(d, os.O_TMPFILE | os.O_RDWR | os.O_EXCL, 0o600)
try:
    link_fd(fd, "never")
    out["excl"] = "linked"
except OSError as e:
    out["excl"] = errno.errorcode[e.errno]
os.close(fd)
out["final"] = sorted(os.listdir(d))
print(json.dumps(out))`;
  const fs = new TmpFs();
  await withMount(fs, async (mnt) => {
    await Deno.chmod(mnt, 0o755);
    const ours = await pyJson<Record<string, unknown>>(script, [mnt]);
    if (loadedLibfuseVersion() < 317) {
      assert.deepEqual(ours, { open: fuse.errno.EOPNOTSUPP });
      return;
    }
    const kernel = await withKernelTmpfs((dir) => pyJson(script, [dir]));
    assert.deepEqual(
      ours,
      kernel ?? {
        before: ["0o100640", 0, 17, []],
        after: [1, ["named"]],
        data: "unnamed until now",
        excl: "ENOENT",
        final: ["named"],
      },
    );
  });
});

/**
 * examples/passthrough.ts through the kernel: each test mounts a
 * PassthroughFs in this process and compares what an operation does through
 * the mount with the backing directory (or with the same operation on a
 * plain directory). Only async APIs and subprocesses touch the mount: a sync
 * call would block the thread that serves it.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import * as fuse from "../mod.ts";
import { PassthroughFs } from "../examples/passthrough.ts";
import { isMounted, sh, withSpawnedFs } from "./support/mount.ts";
import {
  eventually,
  py,
  PYTHON,
  randomBytes,
  run,
  statC,
  withPassthrough,
} from "./support/passthrough_helpers.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const NOBODY = 65534;
const ROOT_CTX: fuse.RequestContext = {
  uid: 0,
  gid: 0,
  pid: 0,
  umask: 0o022,
  signal: new AbortController().signal,
};

for (const io of ["thread", "inline"] as const) {
  Deno.test(`passthrough mirrors file contents: read, write, append, random access (io: ${io})`, async () => {
    await withPassthrough(async ({ src, mnt, fs }) => {
      assert.equal(fs.inlineIo, io === "inline");
      // Written directly in the source, visible at once through the mount.
      await Deno.writeTextFile(join(src, "a.txt"), "from the source\n");
      assert.equal(await Deno.readTextFile(join(mnt, "a.txt")), "from the source\n");

      // Written through the mount, several requests' worth, lands byte-exact.
      const big = randomBytes(3 * 1024 * 1024 + 123);
      await Deno.writeFile(join(mnt, "big.bin"), big);
      assert.deepEqual(await Deno.readFile(join(src, "big.bin")), big);
      assert.deepEqual(await Deno.readFile(join(mnt, "big.bin")), big);

      await Deno.writeTextFile(join(mnt, "a.txt"), "appended\n", { append: true });
      assert.equal(await Deno.readTextFile(join(src, "a.txt")), "from the source\nappended\n");

      // Random access through a descriptor (in a subprocess: closing a
      // descriptor sends FLUSH, which this thread must answer).
      const r = await py(
        `
fd = os.open(A[0], os.O_RDWR)
os.pwrite(fd, b"XYZ", 1_000_000)
five = os.pread(fd, 5, 999_999)
past_end = os.pread(fd, 10, int(A[1]) + 10)
os.close(fd)
out([five.hex(), past_end.hex()])`,
        [join(mnt, "big.bin"), String(big.length)],
      );
      const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
      assert.deepEqual(r, [hex(Uint8Array.of(big[999_999], 0x58, 0x59, 0x5a, big[1_000_003])), ""]);
      const backing = await Deno.readFile(join(src, "big.bin"));
      assert.equal(dec.decode(backing.subarray(1_000_000, 1_000_003)), "XYZ");
      assert.equal(backing.length, big.length);
    }, { io });
  });
}

Deno.test("passthrough does file I/O inline over tmpfs and ramfs, on the thread pool elsewhere", async () => {
  const scratch = await Deno.makeTempDir({ prefix: "denofuse-io-" });
  try {
    for (const dir of ["/dev/shm", scratch]) {
      const type = (await run("stat", ["-f", "-c", "%T", dir])).trim();
      for (const io of ["auto", "thread", "inline"] as const) {
        const fs = new PassthroughFs(dir, { io });
        try {
          const inline = io === "inline" ||
            (io === "auto" && (type === "tmpfs" || type === "ramfs"));
          assert.equal(fs.inlineIo, inline, `${dir} is ${type}, io: ${io}`);
        } finally {
          fs.close();
        }
      }
    }
  } finally {
    await Deno.remove(scratch);
  }
});

Deno.test("passthrough mirrors create, mkdir and rmdir (ENOTEMPTY, EEXIST)", async () => {
  await withPassthrough(async ({ src, mnt }) => {
    const r = await py(
      `
m = A[0]
os.umask(0)
fd = os.open(m + "/f666", os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o666); os.close(fd)
os.mkdir(m + "/d777", 0o777)
os.mkdir(m + "/d", 0o750)
open(m + "/d/inner", "w").close()
out(dict(
  excl=err(os.open, m + "/f666", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600),
  mkdir_again=err(os.mkdir, m + "/d"),
  rmdir_full=err(os.rmdir, m + "/d"),
  rmdir_missing=err(os.rmdir, m + "/nope"),
  rmdir_file=err(os.rmdir, m + "/f666"),
))`,
      [mnt],
    );
    assert.deepEqual(r, {
      excl: 17, // EEXIST
      mkdir_again: 17,
      rmdir_full: 39, // ENOTEMPTY
      rmdir_missing: 2, // ENOENT
      rmdir_file: 20, // ENOTDIR
    });
    // The modes the caller asked for, although this test process runs with umask 022.
    assert.deepEqual(
      await statC("%n %f %F", join(src, "f666"), join(src, "d777"), join(src, "d")),
      [
        `${join(src, "f666")} 81b6 regular empty file`,
        `${join(src, "d777")} 41ff directory`,
        `${join(src, "d")} 41e8 directory`,
      ],
    );
    await Deno.remove(join(mnt, "d", "inner"));
    await Deno.remove(join(mnt, "d"));
    await assert.rejects(Deno.stat(join(src, "d")), Deno.errors.NotFound);
    assert.deepEqual(
      (await Array.fromAsync(Deno.readDir(mnt))).map((e) => e.name).sort(),
      ["d777", "f666"],
    );
  });
});

Deno.test("passthrough mirrors symlinks and readlink, and keeps names as raw bytes", async () => {
  await withPassthrough(async ({ src, mnt }) => {
    const r = await py(
      `
m, s = os.fsencode(A[0]), os.fsencode(A[1])
os.symlink(b"\\xff\\xfe/not utf-8/../target", m + b"/link")
open(m + b"/caf\\xe9", "w").write("latin-1 name")
os.symlink(b"caf\\xe9", s + b"/rel")
out(dict(
  backing_target=os.readlink(s + b"/link").hex(),
  mount_target=os.readlink(m + b"/rel").hex(),
  names=sorted(n.hex() for n in os.listdir(s)),
  names_via_mount=sorted(n.hex() for n in os.listdir(m)),
  via_link=open(m + b"/rel").read(),
  lstat_is_link=os.path.islink(m + b"/link"),
))`,
      [mnt, src],
    );
    const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    assert.equal(r.backing_target, "fffe" + hex(enc.encode("/not utf-8/../target")));
    assert.equal(r.mount_target, "636166e9");
    assert.deepEqual(r.names_via_mount, r.names);
    assert.ok(r.names.includes("636166e9"));
    assert.equal(r.via_link, "latin-1 name");
    assert.equal(r.lstat_is_link, true);
    assert.deepEqual(
      await statC("%F %s", join(mnt, "link"), join(src, "link")),
      ["symbolic link 22", "symbolic link 22"],
    );
  });
});

Deno.test("passthrough mirrors mknod: FIFOs through the mount are FIFOs in the source", async () => {
  await withPassthrough(async ({ src, mnt }) => {
    await run("mkfifo", ["-m", "0620", join(mnt, "fifo")]);
    assert.deepEqual(await statC("%F %a", join(src, "fifo")), ["fifo 620"]);
    assert.deepEqual(
      await statC("%F %a %i", join(mnt, "fifo")),
      await statC("%F %a %i", join(src, "fifo")),
    );
    // Data through the FIFO (the kernel pipes it; the name came from us).
    const r = await run("sh", ["-c", `echo ping > "$1" & cat "$1"; wait`, "sh", join(mnt, "fifo")]);
    assert.equal(r, "ping\n");
  });
});

Deno.test("passthrough mirrors hard links: shared inode number and link count", async () => {
  await withPassthrough(async ({ src, mnt }) => {
    await Deno.writeTextFile(join(mnt, "one"), "shared");
    await Deno.mkdir(join(mnt, "sub"));
    await Deno.link(join(mnt, "one"), join(mnt, "sub", "two"));
    const viaMount = await statC("%i %h", join(mnt, "one"), join(mnt, "sub", "two"));
    const backing = await statC("%i %h", join(src, "one"), join(src, "sub", "two"));
    assert.equal(viaMount[0], viaMount[1]);
    assert.deepEqual(viaMount, backing);
    assert.match(viaMount[0], / 2$/);
    await Deno.writeTextFile(join(mnt, "sub", "two"), "changed via two");
    assert.equal(await Deno.readTextFile(join(mnt, "one")), "changed via two");
    await Deno.remove(join(mnt, "one"));
    assert.deepEqual(await statC("%h", join(mnt, "sub", "two")), ["1"]);
    assert.deepEqual(await statC("%h", join(src, "sub", "two")), ["1"]);
  });
});

Deno.test("passthrough mirrors chmod and chown, symlinks included", async () => {
  await withPassthrough(async ({ src, mnt }) => {
    await Deno.writeTextFile(join(src, "f"), "x");
    await Deno.symlink("f", join(src, "l"));
    await Deno.chmod(join(mnt, "f"), 0o4751);
    await Deno.chown(join(mnt, "f"), 1234, 5678);
    await run("chown", ["-h", "4321:8765", join(mnt, "l")]);
    const fmt = "%a %u %g";
    assert.deepEqual(await statC(fmt, join(src, "f"), join(src, "l")), [
      "751 1234 5678",
      "777 4321 8765",
    ]);
    assert.deepEqual(
      await statC(fmt, join(mnt, "f"), join(mnt, "l")),
      await statC(fmt, join(src, "f"), join(src, "l")),
    );
    // chown clears set-user-ID, as on any filesystem; chmod sets it again.
    await Deno.chmod(join(mnt, "f"), 0o4755);
    assert.deepEqual(await statC("%a", join(src, "f")), ["4755"]);
    // Group only, then owner only.
    await run("chgrp", ["42", join(mnt, "f")]);
    await run("chown", ["43", join(mnt, "f")]);
    assert.deepEqual(await statC("%u %g", join(src, "f")), ["43 42"]);
  });
});

Deno.test("passthrough keeps nanosecond timestamps in both directions", async () => {
  await withPassthrough(async ({ src, mnt }) => {
    await Deno.writeTextFile(join(src, "t"), "x");
    const times = `
def ns(p):
    st = os.stat(p)
    return [str(st.st_atime_ns), str(st.st_mtime_ns)]
`;
    const r = await py(
      times + `
m, s = A[0] + "/t", A[1] + "/t"
os.utime(m, ns=(1_111_111_111_123_456_789, 1_222_222_222_987_654_321))
a = ns(s)
os.utime(s, ns=(1_333_333_333_000_000_001, 1_444_444_444_999_999_999))
out([a, ns(m)])`,
      [mnt, src],
    );
    assert.deepEqual(r, [
      ["1111111111123456789", "1222222222987654321"],
      ["1333333333000000001", "1444444444999999999"],
    ]);
    // One time set, the other left alone (UTIME_OMIT): touch -a.
    await run("touch", ["-a", "-d", "@1500000000.123456789", join(mnt, "t")]);
    const after = await py(times + `out([ns(A[0]), ns(A[1])])`, [join(src, "t"), join(mnt, "t")]);
    assert.deepEqual(after, [
      ["1500000000123456789", "1444444444999999999"],
      ["1500000000123456789", "1444444444999999999"],
    ]);
  });
});

Deno.test("passthrough truncates by path and through an open file", async () => {
  await withPassthrough(async ({ src, mnt }) => {
    await Deno.writeTextFile(join(src, "f"), "0123456789");
    await Deno.truncate(join(mnt, "f"), 4);
    assert.equal(await Deno.readTextFile(join(src, "f")), "0123");
    const viaFd = await py(
      `
fd = os.open(A[0], os.O_RDWR)
os.ftruncate(fd, 2)
a = open(A[1], "rb").read().hex()
os.ftruncate(fd, 6)
size = os.fstat(fd).st_size
os.close(fd)
out([a, size, open(A[0], "rb").read().hex()])`,
      [join(mnt, "f"), join(src, "f")],
    );
    assert.deepEqual(viaFd, ["3031", 6, "303100000000"]);
    const r = await py(
      `
fd = os.open(A[0], os.O_RDONLY)
e = err(os.ftruncate, fd, 1)
os.close(fd)
os.truncate(A[0], 8192 * 1024)
out([e, os.stat(A[1]).st_size, os.stat(A[1]).st_blocks, os.stat(A[0]).st_blocks])`,
      [join(mnt, "f"), join(src, "f")],
    );
    // ftruncate on a read-only descriptor is refused; a sparse extension stays sparse.
    assert.equal(r[0], 22); // EINVAL
    assert.equal(r[1], 8192 * 1024);
    assert.ok(r[2] < 64, `expected a sparse file, got ${r[2]} blocks`);
    assert.equal(r[3], r[2]);
  });
});

Deno.test("passthrough renames, with RENAME_NOREPLACE and RENAME_EXCHANGE", async () => {
  await withPassthrough(async ({ src, mnt }) => {
    await Deno.mkdir(join(src, "d"));
    await Deno.writeTextFile(join(src, "a"), "A");
    await Deno.writeTextFile(join(src, "b"), "B");
    const [inoA] = await statC("%i", join(src, "a"));
    const r = await py(
      `
m = A[0]
out(dict(
  noreplace_existing=renameat2(m + "/a", m + "/b", 1),
  exchange=renameat2(m + "/a", m + "/b", 2),
  exchange_missing=renameat2(m + "/a", m + "/nope", 2),
  noreplace_new=renameat2(m + "/a", m + "/d/c", 1),
  bad_flags=renameat2(m + "/b", m + "/e", 3),
))`,
      [mnt],
    );
    assert.deepEqual(r, {
      noreplace_existing: 17, // EEXIST
      exchange: 0,
      exchange_missing: 2, // ENOENT
      noreplace_new: 0,
      bad_flags: 22, // EINVAL
    });
    // After the exchange "a" held B and "b" held A; then "a" moved to d/c.
    assert.equal(await Deno.readTextFile(join(src, "b")), "A");
    assert.equal(await Deno.readTextFile(join(src, "d", "c")), "B");
    assert.deepEqual(await statC("%i", join(mnt, "b")), [inoA]);
    // A plain rename replaces the target.
    await Deno.rename(join(mnt, "b"), join(mnt, "d", "c"));
    assert.equal(await Deno.readTextFile(join(src, "d", "c")), "A");
    assert.deepEqual((await Array.fromAsync(Deno.readDir(src))).map((e) => e.name), ["d"]);
  });
});

Deno.test("passthrough mirrors xattrs: size probing, ERANGE, XATTR_CREATE/XATTR_REPLACE", async () => {
  await withPassthrough(async ({ src, mnt }) => {
    await Deno.writeTextFile(join(src, "f"), "x");
    const r = await py(
      `
m, s = A[0] + "/f", A[1] + "/f"
value = bytes(range(256)) * 3
os.setxattr(m, "user.bin", value)
os.setxattr(s, "user.backing", b"set in source")
r = dict(
  backing_value=os.getxattr(s, "user.bin") == value,
  via_mount=os.getxattr(m, "user.backing").decode(),
  probe=getxattr_raw(m, "user.bin", 0),
  small=getxattr_raw(m, "user.bin", 10),
  exact=getxattr_raw(m, "user.backing", 13),
  list=sorted(os.listxattr(m)),
  list_backing=sorted(os.listxattr(s)),
  create_existing=err(os.setxattr, m, "user.bin", b"v", os.XATTR_CREATE),
  replace_missing=err(os.setxattr, m, "user.none", b"v", os.XATTR_REPLACE),
  create_new=err(os.setxattr, m, "user.new", b"", os.XATTR_CREATE),
  replace_existing=err(os.setxattr, m, "user.new", b"replaced", os.XATTR_REPLACE),
  get_missing=err(os.getxattr, m, "user.none"),
  remove_missing=err(os.removexattr, m, "user.none"),
)
os.removexattr(m, "user.bin")
r["after_remove"] = sorted(os.listxattr(s))
r["replaced"] = os.getxattr(s, "user.new").decode()
out(r)`,
      [mnt, src],
    );
    assert.equal(r.backing_value, true);
    assert.equal(r.via_mount, "set in source");
    assert.deepEqual(r.probe, [768, 0, ""]);
    assert.deepEqual(r.small, [-1, 34, ""]); // ERANGE
    assert.deepEqual(r.exact, [
      13,
      0,
      Array.from(enc.encode("set in source"), (b) => b.toString(16).padStart(2, "0")).join(""),
    ]);
    assert.deepEqual(r.list, ["user.backing", "user.bin"]);
    assert.deepEqual(r.list, r.list_backing);
    assert.equal(r.create_existing, 17); // EEXIST
    assert.equal(r.replace_missing, 61); // ENODATA
    assert.equal(r.create_new, 0);
    assert.equal(r.replace_existing, 0);
    assert.equal(r.get_missing, 61);
    assert.equal(r.remove_missing, 61);
    assert.deepEqual(r.after_remove, ["user.backing", "user.new"]);
    assert.equal(r.replaced, "replaced");
  });
});

Deno.test("passthrough statvfs equals the backing filesystem's", async () => {
  await withPassthrough(async ({ src, mnt }) => {
    const [m, s] = await py(
      `out([list(os.statvfs(A[0])), list(os.statvfs(A[1]))])`,
      [mnt, src],
    );
    // f_bsize, f_frsize, f_blocks, f_bfree, f_bavail, f_files, f_ffree, f_favail, f_flag, f_namemax
    for (const i of [0, 1, 2, 5, 9]) assert.equal(m[i], s[i], `statvfs field ${i}`);
    // Free counts move with other activity on the disk between the two calls.
    for (const i of [3, 4, 6, 7]) {
      assert.ok(
        Math.abs(m[i] - s[i]) <= Math.max(64, s[i] / 1000),
        `statvfs field ${i}: ${m[i]} vs ${s[i]}`,
      );
    }
  });
});

Deno.test("passthrough lists a 2,000-entry directory with the backing names and inode numbers", async () => {
  await withPassthrough(async ({ src, mnt, fs }) => {
    await Deno.mkdir(join(src, "big"));
    const names = Array.from(
      { length: 2000 },
      (_, i) => `entry-${i.toString().padStart(4, "0")}-${"x".repeat(i % 50)}`,
    );
    for (let i = 0; i < names.length; i += 200) {
      await Promise.all(
        names.slice(i, i + 200).map((n) => Deno.writeTextFile(join(src, "big", n), n)),
      );
    }
    const r = await py(
      `out([{e.name: e.inode() for e in os.scandir(A[0])}, {e.name: e.inode() for e in os.scandir(A[1])}])`,
      [join(mnt, "big"), join(src, "big")],
    );
    assert.equal(Object.keys(r[0]).length, 2000);
    assert.deepEqual(r[0], r[1]);
    const viaDeno = (await Array.fromAsync(Deno.readDir(join(mnt, "big")))).map((e) => e.name)
      .sort();
    assert.deepEqual(viaDeno, names);
    // ls -a shows "." and ".." too, as on the backing directory.
    const ls = (await run("ls", ["-a", join(mnt, "big")])).trimEnd().split("\n");
    assert.deepEqual(ls, (await run("ls", ["-a", join(src, "big")])).trimEnd().split("\n"));
    // READDIRPLUS_AUTO: the first request of a listing carries attributes
    // (each entry a lookup), later ones are plain READDIR (no lookups).
    assert.ok(
      fs.openInodes > 0 && fs.openInodes < 2000,
      `only READDIRPLUS entries count as lookups (${fs.openInodes} inodes held)`,
    );
  });
});

Deno.test("passthrough keeps an unlinked file usable while it is open", async () => {
  await withPassthrough(async ({ src, mnt, fs }) => {
    const r = await py(
      `
m, s = A[0] + "/gone", A[1] + "/gone"
fd = os.open(m, os.O_RDWR | os.O_CREAT, 0o600)
os.write(fd, b"before ")
os.unlink(m)
gone = [os.path.lexists(s), os.path.lexists(m)]
os.write(fd, b"after")
data = os.pread(fd, 64, 0).decode()
st = os.fstat(fd)
os.close(fd)
out([gone, data, st.st_nlink, st.st_size])`,
      [mnt, src],
    );
    assert.deepEqual(r, [[false, false], "before after", 0, 12]);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(src)), []);
    assert.ok(
      await eventually(() => fs.openHandles === 0, 2000),
      "release closes the backing file",
    );
  });
});

Deno.test("passthrough gives objects created through the mount to their creator (uid 65534)", async () => {
  await withPassthrough(async ({ base, src, mnt }) => {
    // The same script runs as uid 65534 through the mount and in a plain
    // directory; the backing results must match the plain ones.
    const control = join(base, "control");
    await Deno.mkdir(control);
    for (const dir of [src, control]) {
      await Deno.chmod(dir, 0o777);
      await Deno.mkdir(join(dir, "sg"));
      await Deno.chown(join(dir, "sg"), 0, 1234);
      await Deno.chmod(join(dir, "sg"), 0o2777);
    }
    const script = `set -e; cd "$1"; umask 022
      touch f1; echo hi > f2; mkdir d1; ln -s f1 l1; mkfifo p1
      touch sg/f; mkdir sg/d; mkfifo -m 2770 p2 2>/dev/null || true`;
    await run("sh", ["-c", script, "sh", mnt], { uid: NOBODY });
    await run("sh", ["-c", script, "sh", control], { uid: NOBODY });
    const names = ["f1", "f2", "d1", "l1", "p1", "sg/f", "sg/d"];
    const fmt = "%u %g %a %F";
    const backing = await statC(fmt, ...names.map((n) => join(src, n)));
    assert.deepEqual(backing, await statC(fmt, ...names.map((n) => join(control, n))));
    assert.deepEqual(
      backing.slice(0, 5).map((l) => l.split(" ").slice(0, 2).join(":")),
      Array(5).fill("65534:65534"),
    );
    assert.deepEqual(backing.slice(5), [
      "65534 1234 644 regular empty file",
      "65534 1234 2755 directory",
    ]);
    // Through the mount, the same owners show.
    assert.deepEqual(await statC(fmt, ...names.map((n) => join(mnt, n))), backing);
    // The kernel enforces permissions (default_permissions): nobody cannot
    // write a root-owned 0644 file, though the server runs as root.
    await Deno.writeTextFile(join(src, "rootfile"), "root's");
    await Deno.chmod(join(src, "rootfile"), 0o644);
    const denied = await sh("sh", ["-c", `echo x >> "$1"`, "sh", join(mnt, "rootfile")], {
      uid: NOBODY,
    });
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /Permission denied/);
    assert.equal(await Deno.readTextFile(join(src, "rootfile")), "root's");
  });
});

Deno.test("passthrough stays inside the source: the server follows no symlink and '..' stops at the root", async () => {
  await withPassthrough(async ({ base, src, mnt, fs }) => {
    // A relative symlink that climbs out of the source: on the backing side
    // it reaches base/secret; through the mount the kernel resolves it
    // against the mount point's parent, where there is no such file.
    const secret = `secret-${crypto.randomUUID()}`;
    await Deno.writeTextFile(join(base, secret), "outside");
    await Deno.symlink(`../${secret}`, join(src, "up"));
    assert.equal(await Deno.readTextFile(join(src, "up")), "outside");
    await assert.rejects(Deno.readTextFile(join(mnt, "up")), Deno.errors.NotFound);
    assert.equal(await Deno.readLink(join(mnt, "up")), `../${secret}`);
    // Opening the symlink itself (O_NOFOLLOW) is refused, as on any filesystem.
    const r = await py(`out(err(os.open, A[0], os.O_RDONLY | os.O_NOFOLLOW))`, [join(mnt, "up")]);
    assert.equal(r, 40); // ELOOP
    // ".." inside the mount comes back to the mount's root.
    await Deno.mkdir(join(src, "d"));
    assert.equal(await Deno.realPath(join(mnt, "d", "..")), mnt);

    // The handlers themselves, as a confused or hostile caller would use them.
    const root = fs.lookup(fuse.ROOT_INODE, enc.encode(".."));
    assert.equal(root.stIno, fuse.ROOT_INODE);
    const d = fs.lookup(fuse.ROOT_INODE, enc.encode("d"));
    assert.equal(fs.lookup(d.stIno, enc.encode("..")).stIno, fuse.ROOT_INODE);
    assert.equal(fs.lookup(d.stIno, enc.encode(".")).stIno, d.stIno);
    const errnoOf = (f: () => unknown) => {
      try {
        f();
        return 0;
      } catch (e) {
        return e instanceof fuse.FUSEError ? e.errno : -1;
      }
    };
    assert.equal(
      errnoOf(() => fs.lookup(fuse.ROOT_INODE, enc.encode(`../${secret}`))),
      fuse.errno.EINVAL,
    );
    assert.equal(
      errnoOf(() => fs.mkdir(fuse.ROOT_INODE, enc.encode(".."), 0o755, ROOT_CTX)),
      fuse.errno.EEXIST,
    );
    assert.equal(
      errnoOf(() => fs.unlink(fuse.ROOT_INODE, enc.encode(`../${secret}`))),
      fuse.errno.EINVAL,
    );
    // A directory moved out of the source behind our back has no ".." to show.
    const moved = fs.lookup(d.stIno, enc.encode("."));
    await Deno.rename(join(src, "d"), join(base, "escaped"));
    assert.equal(errnoOf(() => fs.lookup(moved.stIno, enc.encode(".."))), fuse.errno.EACCES);
    // A symlink planted in the source does not make create() write elsewhere.
    await Deno.symlink(join(base, "planted"), join(src, "trap"));
    const O_WRONLY_CREAT = 0o1 | 0o100;
    await assert.rejects(
      Promise.resolve(
        fs.create(fuse.ROOT_INODE, enc.encode("trap"), 0o644, O_WRONLY_CREAT, ROOT_CTX),
      ),
      (e) => e instanceof fuse.FUSEError && e.errno === fuse.errno.ELOOP,
    );
    await assert.rejects(Deno.lstat(join(base, "planted")), Deno.errors.NotFound);
    assert.equal(await Deno.readTextFile(join(base, secret)), "outside");
  });
});

Deno.test("passthrough forgets inodes: open descriptors go back down after drop_caches", async () => {
  await withPassthrough(async ({ src, mnt, fs }) => {
    await Deno.mkdir(join(src, "many"));
    await Promise.all(
      Array.from({ length: 300 }, (_, i) => Deno.writeTextFile(join(src, "many", `f${i}`), "")),
    );
    const before = fs.openInodes;
    // Every stat is a lookup (entry timeout 0), so each name is looked up
    // many times. (A subprocess, not Promise.all over Deno.stat: some 30
    // concurrent async calls on the mount occupy all of Deno's blocking
    // threads, including the one the request loop polls on.)
    const n = await py(
      `
for _ in range(3):
    for i in range(300):
        os.stat(f"{A[0]}/f{i}")
out(len(os.listdir(A[0])))`,
      [join(mnt, "many")],
    );
    assert.equal(n, 300);
    assert.ok(
      fs.openInodes >= before + 300,
      `expected >= ${before + 300} inodes, got ${fs.openInodes}`,
    );
    await run("sh", ["-c", "sync; echo 2 > /proc/sys/vm/drop_caches"]);
    const dropped = await eventually(() => fs.openInodes <= before + 2, 10_000);
    assert.ok(dropped, `inodes still held after drop_caches: ${fs.openInodes}`);
    // Forgotten inodes are found again on the next access.
    assert.equal((await Deno.stat(join(mnt, "many", "f7"))).isFile, true);
  });
});

Deno.test("passthrough forwards fsync, fdatasync and fsyncdir", async () => {
  await withPassthrough(async ({ src, mnt, fs }) => {
    const r = await py(
      `
fd = os.open(A[0] + "/f", os.O_CREAT | os.O_WRONLY, 0o600)
os.write(fd, b"durable")
os.fsync(fd); os.fdatasync(fd); os.close(fd)
dfd = os.open(A[0], os.O_RDONLY | os.O_DIRECTORY)
os.fsync(dfd); os.close(dfd)
out(open(A[1] + "/f").read())`,
      [mnt, src],
    );
    assert.equal(r, "durable");
    assert.ok(await eventually(() => fs.openHandles === 0, 2000), "every handle was released");
  });
});

Deno.test("passthrough answers access() from the mode bits when mounted without default_permissions", async () => {
  await withPassthrough(async ({ src, mnt }) => {
    await Deno.chmod(src, 0o755);
    await Deno.writeTextFile(join(src, "ro"), "x");
    await Deno.chmod(join(src, "ro"), 0o644);
    const test = async (flag: string, uid?: number) =>
      (await sh("test", [flag, join(mnt, "ro")], { uid })).code;
    assert.equal(await test("-r", NOBODY), 0);
    assert.equal(await test("-w", NOBODY), 1);
    assert.equal(await test("-w"), 0);
    assert.equal(await test("-x"), 1, "root may not execute what nobody may execute");
    await Deno.chmod(join(src, "ro"), 0o755);
    assert.equal(await test("-x"), 0);
    assert.equal(await test("-x", NOBODY), 0);
  }, { options: ["allow_other", "fsname=denofuse-passthrough-test"] });
});

Deno.test("passthrough CLI mirrors SOURCE at MOUNTPOINT and unmounts on SIGTERM", async () => {
  const src = await Deno.makeTempDir({ prefix: "denofuse-pt-cli-" });
  try {
    await Deno.writeTextFile(join(src, "hello"), "hello from the source\n");
    await withSpawnedFs("passthrough.ts", [src], async (fs) => {
      assert.equal(await Deno.readTextFile(join(fs.mnt, "hello")), "hello from the source\n");
      const info = await Deno.readTextFile("/proc/self/mountinfo");
      const line = info.split("\n").find((l) => l.split(" ")[4] === fs.mnt);
      assert.match(line ?? "", new RegExp(` - fuse ${src} .*default_permissions`));
      // The CLI runs with umask 0, so a caller's explicit mode survives as is.
      await run(PYTHON, [
        "-c",
        "import os,sys; os.umask(0); os.close(os.open(sys.argv[1], os.O_CREAT|os.O_WRONLY, 0o666))",
        join(fs.mnt, "new"),
      ]);
      assert.deepEqual(await statC("%a", join(src, "new")), ["666"]);
      fs.child.kill("SIGTERM");
      const status = await fs.exited();
      assert.equal(status.code, 0, fs.stderr());
      assert.match(fs.stderr(), /unmounted/);
      assert.equal(await isMounted(fs.mnt), false);
    });
  } finally {
    await Deno.remove(src, { recursive: true });
  }
});

Deno.test("passthrough refuses a source that is not a directory", () => {
  assert.throws(
    () => new PassthroughFs("/nonexistent/denofuse"),
    /cannot open source directory .*ENOENT/,
  );
  assert.throws(() => new PassthroughFs("/etc/hostname"), /ENOTDIR/);
});

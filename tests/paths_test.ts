/**
 * The path API (paths.ts) through the kernel: each bookkeeping duty of the
 * path layer checked on a real mount, with client subprocesses (python3,
 * sh, ls, stat) against a mount served on this thread, or with any Deno
 * API against one served by `mountInWorker`. Also fuse-native's README
 * example and piranna/fs-fuse (examples/paths_mirror.ts), ported.
 */

import assert from "node:assert/strict";
import * as nodeFs from "node:fs";
import { join } from "node:path";
import {
  errno,
  FUSEError,
  mountInWorker,
  type PathFilesystem,
  type PathOperations,
  pathOperations,
} from "../paths.ts";
import { memfs } from "../examples/paths_memfs.ts";
import { fsFuse, type FsLike } from "../examples/paths_mirror.ts";
import { forceUnmount, sh, withMount, withTimeout } from "./support/mount.ts";
import { dropCaches, py, pyJson, waitFor } from "./support/fs_checks.ts";

const OPTIONS = ["default_permissions", "fsname=denofuse-paths"];

async function withMemfs(fn: (mnt: string, fs: PathFilesystem) => Promise<void>): Promise<void> {
  const fs = memfs({ maxBytes: 256 << 20 });
  await withMount(fs, (mnt) => fn(mnt, fs), { options: OPTIONS, timeoutMs: 60_000 });
}

Deno.test("paths: rm -r of 2,000 files gives the node table back to its root", async () => {
  await withMemfs(async (mnt, fs) => {
    await py(
      "import os,sys\nd=os.path.join(sys.argv[1],'tree')\nos.mkdir(d)\n" +
        "for i in range(20):\n  s=os.path.join(d,'s%d'%i); os.mkdir(s)\n" +
        "  for j in range(100): open(os.path.join(s,'f%d'%j),'w').close()",
      [mnt],
      { timeoutMs: 60_000 },
    );
    const ls = await sh("sh", ["-c", `ls -lR '${mnt}/tree' | grep -c '^-'`]);
    assert.equal(ls.stdout.trim(), "2000");
    assert.ok(fs.table.size > 1000, `${fs.table.size} nodes while the tree is known`);
    const rm = await sh("rm", ["-r", join(mnt, "tree")], { timeoutMs: 60_000 });
    assert.equal(rm.code, 0, rm.stderr);
    assert.ok(
      await waitFor(() => fs.table.size === 1, 10_000, dropCaches),
      `${fs.table.size} nodes`,
    );
    assert.equal(fs.handles.size, 0);
  });
});

Deno.test("paths: rename of a subtree keeps open descriptors working", async () => {
  await withMemfs(async (mnt) => {
    const out = await pyJson<Record<string, unknown>>(
      `import os, sys, json
m = sys.argv[1]
os.makedirs(m + "/a/b")
fd = os.open(m + "/a/b/f", os.O_CREAT | os.O_RDWR, 0o644)
os.write(fd, b"before ")
ino = os.fstat(fd).st_ino
os.rename(m + "/a", m + "/z")
os.write(fd, b"after")
st = os.fstat(fd)
os.close(fd)
print(json.dumps({"ino": ino == st.st_ino == os.stat(m + "/z/b/f").st_ino, "size": st.st_size,
  "data": open(m + "/z/b/f").read(), "old": os.path.exists(m + "/a")}))`,
      [mnt],
    );
    assert.deepEqual(out, { ino: true, size: 12, data: "before after", old: false });
  });
});

Deno.test("paths: a shell whose working directory is inside a renamed subtree keeps working", async () => {
  await withMemfs(async (mnt) => {
    const r = await sh("sh", [
      "-c",
      `set -e; mkdir -p '${mnt}/w/deep'; cd '${mnt}/w/deep'; mv '${mnt}/w' '${mnt}/moved'; ` +
      `echo hi > here; cat here; ls; cd -P ..; pwd -P; ls`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split("\n"), ["hi", "here", join(mnt, "moved"), "deep"]);
    assert.equal((await sh("cat", [join(mnt, "moved/deep/here")])).stdout, "hi\n");
  });
});

Deno.test("paths: an unlinked open file stays reachable by its handle, without hidden files", async () => {
  await withMemfs(async (mnt, fs) => {
    const out = await pyJson<Record<string, unknown>>(
      `import os, sys, json
m = sys.argv[1]
fd = os.open(m + "/tmp", os.O_CREAT | os.O_RDWR, 0o600)
os.write(fd, b"0123456789")
os.unlink(m + "/tmp")
listing = os.listdir(m)
st = os.fstat(fd)
os.write(fd, b"abc")
os.ftruncate(fd, 11)
os.lseek(fd, 0, os.SEEK_SET)
data = os.read(fd, 100)
st2 = os.fstat(fd)
os.close(fd)
print(json.dumps({"listing": listing, "nlink": st.st_nlink, "size": st.st_size,
  "data": data.decode(), "size2": st2.st_size}))`,
      [mnt],
    );
    assert.deepEqual(out, { listing: [], nlink: 0, size: 10, data: "0123456789a", size2: 11 });
    assert.ok(await waitFor(() => fs.table.size === 1, 5000, dropCaches), `${fs.table.size} nodes`);
  });
});

Deno.test("paths: hard links share the inode number and the data", async () => {
  await withMemfs(async (mnt) => {
    const r = await sh("sh", [
      "-c",
      `cd '${mnt}' && echo one > a && ln a b && echo two >> b && stat -c '%i %h' a b && cat a && ` +
      `rm a && stat -c '%h' b`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const [sa, sb, l1, l2, nlink] = r.stdout.trim().split("\n");
    assert.equal(sa, sb);
    assert.match(sa, / 2$/);
    assert.deepEqual([l1, l2, nlink], ["one", "two", "1"]);
  });
});

Deno.test("paths: '.' and '..', and readdir offsets that hold while the directory changes", async () => {
  await withMemfs(async (mnt) => {
    const out = await pyJson<{ dots: string[]; dup: number; missing: number; parent: boolean }>(
      `import os, sys, json, subprocess
m = sys.argv[1]
d = m + "/many"
os.mkdir(d)
os.mkdir(d + "/sub")
for i in range(1500): open(d + "/n%04d" % i, "w").close()
seen = []
with os.scandir(d) as it:
    for k, e in enumerate(it):
        seen.append(e.name)
        if k == 10:
            for i in range(1400, 1500): os.unlink(d + "/n%04d" % i)
            for i in range(50): open(d + "/late%d" % i, "w").close()
dots = subprocess.run(["ls", "-a", d], capture_output=True, text=True).stdout.split()[:2]
same = os.stat(d + "/sub/..").st_ino == os.stat(d).st_ino
print(json.dumps({"dots": dots, "dup": len(seen) - len(set(seen)),
  "missing": len([i for i in range(1400) if "n%04d" % i not in seen]), "parent": same}))`,
      [mnt],
      { timeoutMs: 60_000 },
    );
    assert.deepEqual(out, { dots: [".", ".."], dup: 0, missing: 0, parent: true });
  });
});

Deno.test("paths: READDIRPLUS answered from getattr when the listing has no attributes", async () => {
  const sizes: Record<string, number> = { "/a": 1, "/b": 22, "/c": 333 };
  let getattrs = 0;
  const ops: PathOperations = {
    getattr(path) {
      getattrs++;
      if (path === "/") return { mode: 0o40755, nlink: 2 };
      const size = sizes[path as string];
      if (size === undefined) throw new FUSEError(errno.ENOENT);
      return { mode: 0o100644, size, mtime: new Date(0) };
    },
    readdir: () => Object.keys(sizes).map((p) => p.slice(1)),
  };
  const fs = pathOperations(ops);
  await withMount(fs, async (mnt) => {
    const r = await sh("sh", ["-c", `ls -ln '${mnt}' | awk 'NR>1 {print $5, $9}'`]);
    assert.equal(r.stdout, "1 a\n22 b\n333 c\n");
    assert.ok(getattrs >= 3);
    // Every reference those entries took comes back.
    assert.ok(await waitFor(() => fs.table.size === 1, 5000, dropCaches), `${fs.table.size} nodes`);
  }, { options: OPTIONS });
});

Deno.test("paths: concurrent renames and lookups from many clients leave no dangling node", async () => {
  await withMemfs(async (mnt, fs) => {
    await py(
      "import os,sys\nm=sys.argv[1]\nfor i in range(8):\n  os.makedirs(m+'/d%d/s'%i); open(m+'/d%d/s/f'%i,'w').close()",
      [mnt],
    );
    // Four clients rename directories back and forth while four stat below them.
    const renamer = (i: number) =>
      `import os,sys\nm=sys.argv[1]\nfor k in range(200):\n  os.rename(m+'/d${i}', m+'/e${i}'); os.rename(m+'/e${i}', m+'/d${i}')`;
    const stater = (i: number) =>
      `import os,sys\nm=sys.argv[1]\nn=0\nfor k in range(400):\n  for p in ('/d${i}/s/f','/e${i}/s/f'):\n    try: os.stat(m+p); n+=1\n    except FileNotFoundError: pass\nprint(n)`;
    const runs = [0, 1, 2, 3].flatMap((
      i,
    ) => [
      py(renamer(i), [mnt], { timeoutMs: 60_000 }),
      py(stater(i), [mnt], { timeoutMs: 60_000 }),
    ]);
    const results = await Promise.all(runs);
    for (let i = 1; i < results.length; i += 2) assert.ok(Number(results[i]) > 0);
    // Every file is where it should be, and the table agrees with the store.
    for (let i = 0; i < 8; i++) {
      assert.equal((await sh("stat", ["-c", "%s", join(mnt, `d${i}/s/f`)])).code, 0);
    }
    for (const row of fs.table.dump()) {
      if (row.path === null) continue;
      const p = typeof row.path === "string" ? row.path : new TextDecoder().decode(row.path);
      const r = await sh("stat", ["-c", "%i", join(mnt, p)]);
      assert.equal(r.code, 0, `${p} is in the table but not in the filesystem`);
      assert.equal(Number(r.stdout.trim()), row.ino, `${p}: the kernel's inode is the table's`);
    }
    await sh("rm", ["-r", ...[0, 1, 2, 3, 4, 5, 6, 7].map((i) => join(mnt, `d${i}`))]);
    assert.ok(
      await waitFor(() => fs.table.size === 1, 10_000, dropCaches),
      `${fs.table.size} nodes`,
    );
  });
});

Deno.test("paths: fuse-native's README example, ported, serves through the kernel", async () => {
  // https://github.com/fuse-friends/fuse-native#usage, callbacks turned into return values.
  const ops: PathOperations = {
    readdir(path) {
      if (path === "/") return ["test"];
      throw new FUSEError(errno.ENOENT);
    },
    getattr(path) {
      if (path === "/") {
        return {
          mtime: new Date(),
          atime: new Date(),
          ctime: new Date(),
          nlink: 1,
          size: 100,
          mode: 16877,
          uid: 0,
          gid: 0,
        };
      }
      if (path === "/test") {
        return {
          mtime: new Date(),
          atime: new Date(),
          ctime: new Date(),
          nlink: 1,
          size: 12,
          mode: 33188,
          uid: 0,
          gid: 0,
        };
      }
      throw new FUSEError(errno.ENOENT);
    },
    open: () => 42,
    release: () => {},
    read(_path, _fd, length, position) {
      const str = new TextEncoder().encode("hello world\n").subarray(position, position + length);
      return str;
    },
  };
  await withMount(pathOperations(ops), async (mnt) => {
    assert.equal((await sh("ls", [mnt])).stdout, "test\n");
    assert.equal((await sh("cat", [join(mnt, "test")])).stdout, "hello world\n");
    assert.equal((await sh("stat", ["-c", "%s %a", join(mnt, "test")])).stdout, "12 644\n");
    assert.notEqual((await sh("cat", [join(mnt, "nope")])).code, 0);
  }, { options: OPTIONS });
});

Deno.test("paths: piranna/fs-fuse ported (examples/paths_mirror.ts) mirrors a directory over node:fs", async () => {
  const src = await Deno.makeTempDir({ prefix: "denofuse-mirror-src-" });
  try {
    await Deno.writeTextFile(join(src, "kept"), "from the source\n");
    await Deno.link(join(src, "kept"), join(src, "twin")); // a hard link made behind the mount
    const fs = pathOperations(fsFuse(nodeFs as unknown as FsLike, src));
    await withMount(fs, async (mnt) => {
      const r = await sh("sh", [
        "-c",
        `set -e; cd '${mnt}'; cat kept; mkdir d; echo new > d/f; mv d e; ln e/f g; ` +
        `stat -c '%h' g; chmod 600 g; stat -c '%a' e/f; truncate -s 2 g; cat e/f; echo; ` +
        `touch -d @1000000000 g; stat -c '%Y' e/f; ln -s e/f s; readlink s; cat s; echo; ` +
        `rm g s; rm -r e; ls`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split("\n"), [
        "from the source",
        "2",
        "600",
        "ne",
        "1000000000",
        "e/f",
        "ne",
        "kept",
        "twin",
      ]);
      // useIno: the source's numbers, so its hard links are one file to the kernel.
      const inos = await sh("stat", ["-c", "%i", join(mnt, "kept"), join(mnt, "twin")]);
      const [i1, i2] = inos.stdout.trim().split("\n");
      assert.equal(i1, i2);
      assert.equal(Number(i1), Deno.statSync(join(src, "kept")).ino);
      // The unlinked-open case on a real backing filesystem: fstat goes to fstat(fd).
      const out = await py(
        "import os,sys\nfd=os.open(sys.argv[1]+'/t',os.O_CREAT|os.O_RDWR)\nos.write(fd,b'xyz')\n" +
          "os.unlink(sys.argv[1]+'/t')\nprint(os.fstat(fd).st_size, os.fstat(fd).st_nlink)\nos.close(fd)",
        [mnt],
      );
      assert.equal(out, "3 0");
    }, { options: OPTIONS });
    const left = [...nodeFs.readdirSync(src)];
    assert.deepEqual(left.sort(), ["kept", "twin"]);
  } finally {
    await Deno.remove(src, { recursive: true });
  }
});

Deno.test("paths: a path filesystem served by mountInWorker, used with Deno's own file APIs", async () => {
  const mnt = await Deno.makeTempDir({ prefix: "denofuse-mnt-" });
  try {
    const fs = await mountInWorker(
      { module: new URL("../examples/paths_memfs.ts", import.meta.url), export: "memfs" },
      mnt,
      { options: OPTIONS, handleSignals: false },
    );
    try {
      await withTimeout(
        "worker mount use",
        30_000,
        (async () => {
          await Deno.mkdir(join(mnt, "x/y"), { recursive: true });
          Deno.writeTextFileSync(join(mnt, "x/y/z"), "sync write");
          await Deno.rename(join(mnt, "x"), join(mnt, "w"));
          assert.equal(await Deno.readTextFile(join(mnt, "w/y/z")), "sync write");
          assert.deepEqual([...Deno.readDirSync(join(mnt, "w/y"))].map((e) => e.name), ["z"]);
          await Deno.remove(join(mnt, "w"), { recursive: true });
        })(),
      );
    } finally {
      await withTimeout("unmount", 10_000, fs.unmount());
    }
  } finally {
    await forceUnmount(mnt);
    await Deno.remove(mnt, { recursive: true });
  }
});

import assert from "node:assert/strict";
import { join } from "node:path";
import * as fuse from "../mod.ts";
import { sh, withTimeout } from "./support/mount.ts";

/** One file, "f", whose open() answer and capability flags the test chooses. */
class OneFileFs implements fuse.Operations {
  data = new Uint8Array(4096).fill(0x61);
  reads = 0;
  writes: number[] = [];
  openFlags: number[] = [];
  constructor(readonly info: Partial<fuse.FileInfo>, flags: Partial<fuse.Operations> = {}) {
    Object.assign(this, flags);
  }
  getattr(ino: number) {
    return ino === 1
      ? new fuse.EntryAttributes({ stIno: 1, stMode: 0o40755, stNlink: 2 })
      : new fuse.EntryAttributes({
        stIno: 2,
        stMode: 0o100666,
        stNlink: 1,
        stSize: this.data.length,
      });
  }
  setattr(ino: number) {
    // Writeback caching makes the kernel push mtime/ctime through setattr.
    return this.getattr(ino);
  }
  lookup(_p: number, name: Uint8Array) {
    if (new TextDecoder().decode(name) !== "f") throw new fuse.FUSEError(fuse.errno.ENOENT);
    return this.getattr(2);
  }
  open(_ino: number, flags: number) {
    this.openFlags.push(flags);
    return new fuse.FileInfo({ fh: 2, ...this.info });
  }
  read(_fh: number, off: number, size: number) {
    this.reads++;
    return this.data.subarray(off, off + size);
  }
  write(_fh: number, off: number, buf: Uint8Array) {
    this.writes.push(buf.length);
    if (off + buf.length > this.data.length) {
      const grown = new Uint8Array(off + buf.length);
      grown.set(this.data);
      this.data = grown;
    }
    this.data.set(buf, off);
    return buf.length;
  }
}

async function withFs(fs: OneFileFs, fn: (mnt: string, h: fuse.MountHandle) => Promise<void>) {
  const mnt = await Deno.makeTempDir({ prefix: "denofuse-mnt-" });
  try {
    const h = fuse.mount(fs, mnt, { options: ["fsname=options"], handleSignals: false });
    try {
      await withTimeout("options test", 20_000, fn(mnt, h));
    } finally {
      await h.unmount();
    }
  } finally {
    await Deno.remove(mnt);
  }
}

Deno.test("FileInfo.keepCache keeps data cached across opens; without it each open rereads", async () => {
  for (const keepCache of [false, true]) {
    const fs = new OneFileFs({ keepCache });
    await withFs(fs, async (mnt) => {
      await Deno.readFile(join(mnt, "f"));
      const first = fs.reads;
      await Deno.readFile(join(mnt, "f"));
      if (keepCache) assert.equal(fs.reads, first, "second open served from the page cache");
      else assert.ok(fs.reads > first, "second open read again");
    });
  }
});

Deno.test("FileInfo.directIo sends every read to the handler", async () => {
  const fs = new OneFileFs({ directIo: true, keepCache: true });
  await withFs(fs, async (mnt) => {
    const f = await Deno.open(join(mnt, "f"));
    try {
      const buf = new Uint8Array(100);
      await f.read(buf);
      await f.seek(0, Deno.SeekMode.Start);
      await f.read(buf);
      assert.equal(fs.reads, 2);
    } finally {
      f.close();
    }
  });
});

Deno.test("FileInfo.nonseekable makes lseek fail with ESPIPE", async () => {
  const fs = new OneFileFs({ nonseekable: true, directIo: true });
  await withFs(fs, async (mnt) => {
    const r = await sh("python3", [
      "-c",
      `import os, errno
fd = os.open(${JSON.stringify(join(mnt, "f"))}, os.O_RDONLY)
try:
    os.lseek(fd, 10, 0); print("seekable")
except OSError as e:
    print(errno.errorcode[e.errno])`,
    ]);
    assert.equal(r.stdout.trim(), "ESPIPE", r.stderr);
  });
});

Deno.test("FUSE_INIT negotiates 1 MiB writes, and a 1 MiB direct write arrives whole", async () => {
  const fs = new OneFileFs({ directIo: true });
  await withFs(fs, async (mnt, h) => {
    await Deno.stat(join(mnt, "f"));
    assert.equal(h.connection?.maxWrite, 1 << 20);
    assert.equal(h.connection!.want & fuse.FUSE_CAP.SPLICE_READ, 0, "no splice");
    assert.equal(h.connection!.want & fuse.FUSE_CAP.READDIRPLUS, 0, "no readdir, no readdirplus");
    const r = await sh("dd", [
      `of=${join(mnt, "f")}`,
      "if=/dev/zero",
      "bs=1M",
      "count=1",
      "oflag=direct",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(fs.writes, [1 << 20]);
  });
});

Deno.test("enableWritebackCache, enableAcl and supportsDotLookup reach FUSE_INIT (supportsDotLookup defaults to true, as in pyfuse3)", async () => {
  const plain = new OneFileFs({});
  await withFs(plain, async (mnt, h) => {
    await Deno.stat(mnt);
    const want = h.connection!.want;
    assert.equal(want & fuse.FUSE_CAP.WRITEBACK_CACHE, 0);
    assert.equal(want & fuse.FUSE_CAP.POSIX_ACL, 0);
    assert.notEqual(want & fuse.FUSE_CAP.EXPORT_SUPPORT, 0);
  });
  const noDots = new OneFileFs({}, { supportsDotLookup: false });
  await withFs(noDots, async (mnt, h) => {
    await Deno.stat(mnt);
    assert.equal(h.connection!.want & fuse.FUSE_CAP.EXPORT_SUPPORT, 0);
  });
  const fs = new OneFileFs({}, {
    enableWritebackCache: true,
    enableAcl: true,
    supportsDotLookup: true,
  });
  await withFs(fs, async (mnt, h) => {
    await Deno.stat(mnt);
    const want = h.connection!.want;
    assert.notEqual(want & fuse.FUSE_CAP.WRITEBACK_CACHE, 0);
    assert.notEqual(want & fuse.FUSE_CAP.POSIX_ACL, 0);
    assert.notEqual(want & fuse.FUSE_CAP.EXPORT_SUPPORT, 0);
    // With writeback caching the kernel may need to read back partial pages,
    // so it turns write-only opens into read-write ones.
    // With writeback caching the kernel coalesces small writes in the page
    // cache. (From a subprocess: then close(2) always sends FLUSH, and Deno's
    // FsFile.close() is synchronous, so it would wait on this very thread.)
    const path = join(mnt, "f");
    const r = await sh("python3", [
      "-c",
      `import os
fd = os.open("${path}", os.O_WRONLY)
for i in range(3): os.write(fd, b"x" * 10)
os.close(fd)`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.writes.length, 1, `writes: ${fs.writes}`);
    assert.equal(new TextDecoder().decode(fs.data.subarray(0, 31)), "x".repeat(30) + "a");
  });
});

Deno.test("close(2) sends FLUSH only to filesystems with a flush handler (noflush)", async () => {
  const cat = (mnt: string) => sh("cat", [join(mnt, "f")]);
  const without = new OneFileFs({});
  await withFs(without, async (mnt) => {
    // Deno's FsFile.close() is synchronous: it would deadlock on a FLUSH.
    const f = await Deno.open(join(mnt, "f"));
    f.close();
    assert.equal((await cat(mnt)).code, 0);
  });
  let flushes = 0;
  const withFlush = new OneFileFs({}, {
    flush: () => {
      flushes++;
    },
  });
  await withFs(withFlush, async (mnt) => {
    assert.equal((await cat(mnt)).code, 0);
    assert.equal(flushes, 1);
  });
  const forced = new OneFileFs({ noflush: true }, { flush: () => void flushes++ });
  await withFs(forced, async (mnt) => {
    assert.equal((await cat(mnt)).code, 0);
    assert.equal(flushes, 1, "FileInfo.noflush overrides the default");
  });
});

Deno.test("entryTimeout and attrTimeout bound how long the kernel caches lookups and attributes", async () => {
  let lookups = 0, getattrs = 0;
  let timeout = 0;
  const ops: fuse.Operations = {
    getattr: (ino) => {
      getattrs++;
      return new fuse.EntryAttributes({
        stIno: ino,
        stMode: ino === 1 ? 0o40755 : 0o100644,
        stNlink: 1,
        attrTimeout: timeout,
        entryTimeout: timeout,
      });
    },
    lookup: (_p, name) => {
      lookups++;
      if (new TextDecoder().decode(name) !== "f") throw new fuse.FUSEError(fuse.errno.ENOENT);
      return ops.getattr!(2, {} as fuse.RequestContext) as fuse.EntryAttributes;
    },
  };
  const mnt = await Deno.makeTempDir({ prefix: "denofuse-mnt-" });
  try {
    const h = fuse.mount(ops, mnt, { options: [], handleSignals: false });
    try {
      const path = join(mnt, "f");
      await Deno.stat(path);
      const l0 = lookups, g0 = getattrs;
      await Deno.stat(path);
      assert.ok(lookups > l0 || getattrs > g0, "timeout 0: nothing cached");
      timeout = 0.5;
      await h.invalidateEntry(fuse.ROOT_INODE, "f");
      await Deno.stat(path);
      const l1 = lookups, g1 = getattrs;
      await Deno.stat(path);
      assert.deepEqual([lookups, getattrs], [l1, g1], "within the timeout: served from the cache");
      await new Promise((r) => setTimeout(r, 700));
      await Deno.stat(path);
      assert.ok(lookups > l1, "after the timeout: looked up again");
    } finally {
      await h.unmount();
    }
  } finally {
    await Deno.remove(mnt);
  }
});

Deno.test("write handlers get their data intact while they hold it across awaits", async () => {
  // Each file is written by its own process in 256 KiB writes; the handler
  // sleeps before copying, so many requests arrive while earlier views are held.
  const files = new Map<number, Uint8Array>();
  const names = new Map<string, number>();
  let nextIno = 2;
  const attr = (ino: number) =>
    new fuse.EntryAttributes({
      stIno: ino,
      stMode: ino === 1 ? 0o40755 : 0o100644,
      stNlink: 1,
      stSize: files.get(ino)?.length ?? 0,
      attrTimeout: 0,
      entryTimeout: 0,
    });
  const ops: fuse.Operations = {
    getattr: (ino) => attr(ino),
    lookup: (_p, name) => {
      const ino = names.get(new TextDecoder().decode(name));
      if (!ino) throw new fuse.FUSEError(fuse.errno.ENOENT);
      return attr(ino);
    },
    create: (_p, name) => {
      const ino = nextIno++;
      names.set(new TextDecoder().decode(name), ino);
      files.set(ino, new Uint8Array(0));
      return [new fuse.FileInfo({ fh: ino, directIo: true }), attr(ino)];
    },
    setattr: (ino) => attr(ino),
    write: async (fh, off, buf) => {
      await new Promise((r) => setTimeout(r, Math.random() * 5));
      let data = files.get(fh)!;
      if (off + buf.length > data.length) {
        const grown = new Uint8Array(off + buf.length);
        grown.set(data);
        files.set(fh, data = grown);
      }
      data.set(buf, off);
      return buf.length;
    },
  };
  await withFs(new OneFileFs({}, ops), async (mnt) => {
    const writers = Array.from({ length: 6 }, (_, w) =>
      sh("python3", [
        "-c",
        `import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
chunk = 256 * 1024
for i in range(16):
    os.pwrite(fd, bytes([(${w} * 31 + i) % 256]) * chunk, i * chunk)
os.close(fd)`,
        join(mnt, `w${w}`),
      ]));
    const results = await Promise.all(writers);
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    for (let w = 0; w < 6; w++) {
      const data = files.get(names.get(`w${w}`)!)!;
      assert.equal(data.length, 16 * 256 * 1024);
      for (let i = 0; i < 16; i++) {
        const expected = (w * 31 + i) % 256;
        const part = data.subarray(i * 256 * 1024, (i + 1) * 256 * 1024);
        assert.ok(part.every((b) => b === expected), `file w${w} chunk ${i} corrupted`);
      }
    }
  });
});

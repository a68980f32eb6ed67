/**
 * What a pyfuse3 port meets without reading the fine print: pyfuse3's
 * defaults for EntryAttributes and FileInfo, negative lookups, the open
 * file's handle in getattr, and forgets in the debug log. Each through a
 * real mount, with clients in subprocesses.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import * as fuse from "../mod.ts";
import { forceUnmount, isMounted, sh, withTimeout } from "./support/mount.ts";
import { PyPassthroughFs } from "./support/pyfuse3_passthroughfs.ts";

const { ENOENT, EBADF, EEXIST } = fuse.errno;
const O_ACCMODE = 3;
const O_WRONLY = 1;
const decoder = new TextDecoder();

interface Inode {
  attr: fuse.EntryAttributes;
  data: Uint8Array;
}

/**
 * One directory of regular files, kept in memory like a backing store:
 * reading through a handle opened write-only fails with EBADF, as read(2)
 * on such a descriptor does under pyfuse3's passthroughfs.py. `open` and
 * `create` return `new FileInfo({ fh })`, as a faithful port would.
 */
class FlatFs implements fuse.Operations {
  enableWritebackCache = true;
  readonly inodes = new Map<number, Inode>();
  readonly names = new Map<string, number>();
  readonly handles = new Map<number, { ino: number; flags: number }>();
  /** The `fh` of every getattr, in order (null: asked by inode only). */
  readonly getattrHandles: Array<number | null> = [];
  readonly lookups: string[] = [];
  #next = 2;
  #nextFh = 100;

  constructor(readonly attrTimeout = 300) {
    this.inodes.set(fuse.ROOT_INODE, {
      attr: this.#attr(fuse.ROOT_INODE, 0o40755, 2),
      data: new Uint8Array(),
    });
  }

  #attr(stIno: number, stMode: number, stNlink: number) {
    const t = BigInt(Date.now()) * 1_000_000n;
    return new fuse.EntryAttributes({
      stIno,
      stMode,
      stNlink,
      attrTimeout: this.attrTimeout,
      entryTimeout: this.attrTimeout,
      stAtimeNs: t,
      stMtimeNs: t,
      stCtimeNs: t,
    });
  }

  #node(ino: number): Inode {
    const node = this.inodes.get(ino);
    if (!node) throw new fuse.FUSEError(ENOENT);
    return node;
  }

  #open(ino: number, flags: number): fuse.FileInfo {
    const fh = this.#nextFh++;
    this.handles.set(fh, { ino, flags });
    return new fuse.FileInfo({ fh });
  }

  lookup(_parent: number, name: Uint8Array) {
    const text = decoder.decode(name);
    this.lookups.push(text);
    const ino = this.names.get(text);
    if (ino === undefined) throw new fuse.FUSEError(ENOENT);
    return this.getattr(ino);
  }
  getattr(ino: number, _ctx?: fuse.RequestContext, fh: number | null = null) {
    if (ino !== fuse.ROOT_INODE) this.getattrHandles.push(fh);
    const node = this.#node(ino);
    node.attr.stSize = node.data.length;
    return node.attr;
  }
  setattr(ino: number, attr: fuse.EntryAttributes, fields: fuse.SetattrFields) {
    const node = this.#node(ino);
    if (fields.updateSize) node.data = resized(node.data, attr.stSize);
    if (fields.updateMode) node.attr.stMode = (node.attr.stMode & ~0o7777) | (attr.stMode & 0o7777);
    if (fields.updateMtime) node.attr.stMtimeNs = attr.stMtimeNs;
    if (fields.updateAtime) node.attr.stAtimeNs = attr.stAtimeNs;
    if (fields.updateCtime) node.attr.stCtimeNs = attr.stCtimeNs;
    return this.getattr(ino);
  }
  create(_parent: number, name: Uint8Array, mode: number, flags: number) {
    const text = decoder.decode(name);
    if (this.names.has(text)) throw new fuse.FUSEError(EEXIST);
    const ino = this.#next++;
    this.inodes.set(ino, { attr: this.#attr(ino, mode, 1), data: new Uint8Array() });
    this.names.set(text, ino);
    return [this.#open(ino, flags), this.getattr(ino)] as [fuse.FileInfo, fuse.EntryAttributes];
  }
  open(ino: number, flags: number) {
    this.#node(ino);
    return this.#open(ino, flags);
  }
  read(fh: number, off: number, size: number) {
    const h = this.handles.get(fh)!;
    if ((h.flags & O_ACCMODE) === O_WRONLY) throw new fuse.FUSEError(EBADF);
    return this.#node(h.ino).data.subarray(off, off + size);
  }
  write(fh: number, off: number, buf: Uint8Array) {
    const node = this.#node(this.handles.get(fh)!.ino);
    if (off + buf.length > node.data.length) node.data = resized(node.data, off + buf.length);
    node.data.set(buf, off);
    return buf.length;
  }
  release(fh: number) {
    this.handles.delete(fh);
  }
  unlink(_parent: number, name: Uint8Array) {
    const text = decoder.decode(name);
    const ino = this.names.get(text);
    if (ino === undefined) throw new fuse.FUSEError(ENOENT);
    this.names.delete(text);
    this.#node(ino).attr.stNlink = 0; // the inode stays until the kernel forgets it
  }
}

function resized(data: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  out.set(data.subarray(0, size));
  return out;
}

/** Mounts `ops` in this process (debug log optional), runs `fn`, unmounts. */
async function withFs(
  ops: fuse.Operations,
  fn: (mnt: string) => Promise<void>,
  { debug = false } = {},
): Promise<void> {
  const mnt = await Deno.makeTempDir({ prefix: "denofuse-port-" });
  try {
    const h = fuse.mount(ops, mnt, {
      options: ["default_permissions", "fsname=denofuse-port"],
      handleSignals: false,
      debug,
    });
    try {
      await withTimeout("test body", 30_000, fn(mnt));
    } finally {
      await withTimeout("unmount", 10_000, h.unmount());
    }
    assert.equal(await isMounted(mnt), false);
  } finally {
    await forceUnmount(mnt);
    await Deno.remove(mnt, { recursive: true });
  }
}

/** Runs `fn` with console.error captured (`fn` may watch the lines come); returns them. */
async function capturingLog(fn: (lines: string[]) => Promise<void>): Promise<string> {
  const original = console.error;
  const lines: string[] = [];
  console.error = (...a: unknown[]) => void lines.push(a.map(String).join(" "));
  try {
    await fn(lines);
  } finally {
    console.error = original;
  }
  return lines.join("\n");
}

Deno.test("EntryAttributes and FileInfo start with pyfuse3's defaults", () => {
  const attr = new fuse.EntryAttributes();
  assert.equal(attr.stMode, fuse.S_IFREG);
  assert.equal(attr.stNlink, 1);
  assert.equal(attr.stBlksize, 4096);
  assert.equal(attr.entryTimeout, 300);
  assert.equal(attr.attrTimeout, 300);
  for (const k of ["stIno", "generation", "stUid", "stGid", "stRdev", "stSize", "stBlocks"]) {
    assert.equal(attr[k as keyof fuse.EntryAttributes], 0, k);
  }
  assert.equal(attr.stMtimeNs, 0n);
  const info = new fuse.FileInfo({ fh: 3 });
  assert.deepEqual(
    [info.fh, info.keepCache, info.directIo, info.nonseekable],
    [3, true, false, false],
  );
  assert.equal(new fuse.FileInfo({ fh: 3, keepCache: false }).keepCache, false);
  const negative = fuse.EntryAttributes.negative(60);
  assert.deepEqual([negative.stIno, negative.entryTimeout], [0, 60]);
});

Deno.test("FileInfo({ fh }) keeps the page cache, so appends through the writeback cache never read a write-only handle", async () => {
  const fs = new FlatFs();
  await withFs(fs, async (mnt) => {
    const f = join(mnt, "log");
    const r = await sh("sh", [
      "-c",
      `printf 'one\\n' > ${f} && printf 'more\\n' >> ${f} && cat ${f}`,
    ]);
    assert.equal(r.stderr, "");
    assert.equal(r.code, 0);
    assert.equal(r.stdout, "one\nmore\n");
  });
  assert.equal(decoder.decode(fs.inodes.get(2)!.data), "one\nmore\n");
});

Deno.test("a line-by-line port of pyfuse3's passthroughfs.py appends through the writeback cache and commits twice with git", async () => {
  const source = await Deno.makeTempDir({ prefix: "denofuse-port-src-" });
  try {
    await withFs(new PyPassthroughFs(source), async (mnt) => {
      const script = [
        "set -e",
        `cd ${mnt}`,
        "printf 'one\\n' > notes",
        "printf 'more\\n' >> notes",
        "cat notes",
        "git init -q .",
        "git -c user.name=t -c user.email=t@e add notes",
        "git -c user.name=t -c user.email=t@e commit -qm first",
        "echo again >> notes",
        "git -c user.name=t -c user.email=t@e commit -qam second",
        "git log --format=%s",
      ].join("\n");
      const r = await sh("sh", ["-c", script], { timeoutMs: 30_000 });
      assert.equal(r.stderr, "");
      assert.equal(r.code, 0);
      assert.equal(r.stdout, "one\nmore\nsecond\nfirst\n");
    });
    assert.equal(await Deno.readTextFile(join(source, "notes")), "one\nmore\nagain\n");
  } finally {
    await Deno.remove(source, { recursive: true });
  }
});

Deno.test("getattr gets the open file's handle when the kernel sends one (FUSE_GETATTR_FH), null otherwise", async () => {
  const fs = new FlatFs(0); // attributes never cached: each call below asks
  await withFs(fs, async (mnt) => {
    const f = join(mnt, "open-then-unlinked");
    const script = `
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, b"12345")
os.unlink(sys.argv[1])
print(os.fstat(fd).st_size, os.lseek(fd, 0, os.SEEK_END))
`;
    const r = await sh("python3", ["-c", script, f]);
    assert.equal(r.stderr, "");
    assert.equal(r.stdout.trim(), "5 5");
  });
  assert.ok(fs.getattrHandles.includes(null), "some getattr came by inode only");
  assert.ok(fs.getattrHandles.includes(100), `getattr saw handle 100: ${fs.getattrHandles}`);
});

Deno.test("lookup: EntryAttributes.negative() is cached silently; a forgotten stIno is logged once", async () => {
  const fs = new FlatFs();
  const ops: fuse.Operations = {
    getattr: (ino, ctx, fh) => fs.getattr(ino, ctx, fh),
    lookup: (parent, name) => {
      const text = decoder.decode(name);
      fs.lookups.push(text);
      if (text.startsWith("absent")) return fuse.EntryAttributes.negative(60);
      if (text.startsWith("forgot")) return new fuse.EntryAttributes({ stMode: 0o100644 });
      return fs.lookup(parent, name);
    },
  };
  const log = await capturingLog(() =>
    withFs(ops, async (mnt) => {
      for (const name of ["absent", "absent", "forgot-1", "forgot-2"]) {
        const r = await sh("stat", [join(mnt, name)]);
        assert.match(r.stderr, /No such file or directory/, name);
      }
    })
  );
  assert.deepEqual(
    fs.lookups.filter((n) => n === "absent"),
    ["absent"],
    "the negative entry was cached",
  );
  const warnings = log.split("\n").filter((l) => l.includes("stIno 0"));
  assert.equal(warnings.length, 1, log);
  assert.match(warnings[0], /"forgot-1" in inode 1 .* EntryAttributes\.negative\(timeout\)/);
});

Deno.test("the debug log shows FORGET and BATCH_FORGET, also without a forget handler", async () => {
  const fs = new FlatFs();
  assert.equal("forget" in fs, false);
  const log = await capturingLog((lines) =>
    withFs(fs, async (mnt) => {
      const files = Array.from({ length: 20 }, (_, i) => join(mnt, `f${i}`));
      assert.equal((await sh("touch", files)).code, 0);
      // Dropping the dentry and inode caches makes the kernel forget them.
      await Deno.writeTextFile("/proc/sys/vm/drop_caches", "2");
      for (let i = 0; i < 100 && !lines.some((l) => l.includes("-> no reply")); i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
    }, { debug: true })
  );
  assert.match(
    log,
    /denofuse: #\d+ (forget\(inode=\d+, nlookup=\d+\)|forget_multi\(count=\d+, \[)/,
  );
  assert.match(log, /denofuse: #\d+ forget(_multi)? -> no reply/);
});

/**
 * Mount-free tests of the path layer (paths/): the adapter's `Operations`
 * are called as the request loop would, over examples/paths_memfs.ts or
 * small path filesystems written here, and the node table is inspected.
 */

import assert from "node:assert/strict";
import {
  EntryAttributes,
  errno,
  FUSEError,
  type Path,
  PathFilesystem,
  type PathOperations,
  pathOperations,
  ReaddirToken,
  type RequestContext,
  ROOT_INODE,
  SetattrFields,
} from "../paths.ts";
import { PathMemFs } from "../examples/paths_memfs.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const b = (s: string) => enc.encode(s);
const ctx: RequestContext = {
  uid: 0,
  gid: 0,
  pid: 1,
  umask: 0o022,
  signal: new AbortController().signal,
};
const O_RDWR = 2;

function memfs(): PathFilesystem {
  return pathOperations(new PathMemFs());
}

/** Awaits whatever a handler answered, sync or async. */
async function run<T>(f: () => T | Promise<T>): Promise<T> {
  return await f();
}

async function mkdir(fs: PathFilesystem, parent: number, name: string): Promise<number> {
  return (await run(() => fs.mkdir(parent, b(name), 0o755, ctx))).stIno;
}

async function create(fs: PathFilesystem, parent: number, name: string): Promise<[number, number]> {
  const [info, attr] = await run(() => fs.create(parent, b(name), 0o644, O_RDWR, ctx));
  return [attr.stIno, info.fh];
}

/** A deferred promise, to hold an async handler while something else happens. */
function deferred<T = void>(): { promise: Promise<T>; resolve(v: T): void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

Deno.test("paths table: rename of a subtree keeps open descriptors working", async () => {
  const seen: (Path | null)[] = [];
  const mem = new PathMemFs();
  const fs = pathOperations({
    ...bindAll(mem),
    read: (path, fh, length, position) => {
      seen.push(path);
      return mem.read(path, fh, length, position);
    },
  });
  const a = await mkdir(fs, ROOT_INODE, "a");
  const sub = await mkdir(fs, a, "sub");
  const [f, fh] = await create(fs, sub, "f");
  assert.equal(await run(() => fs.write(fh, 0, b("hello"), ctx)), 5);
  await run(() => fs.rename(ROOT_INODE, b("a"), ROOT_INODE, b("z"), 0, ctx));
  // Same inode numbers, new paths, and the open handle still reads the file.
  assert.equal(fs.table.path(fs.table.get(f)!), "/z/sub/f");
  assert.equal(fs.table.path(fs.table.get(sub)!), "/z/sub");
  assert.equal(dec.decode(await run(() => fs.read(fh, 0, 10, ctx))), "hello");
  assert.deepEqual(seen, ["/z/sub/f"]);
  const attr = await run(() => fs.getattr(f, ctx, null));
  assert.equal(attr.stSize, 5);
  // A lookup below the new name finds the same node.
  const again = await run(() => fs.lookup(sub, b("f"), ctx));
  assert.equal(again.stIno, f);
  await run(() => fs.release(fh, ctx));
  assert.equal(fs.handles.size, 0);
});

/** A PathOperations of the class's methods, bound (for spreading into an object literal). */
function bindAll(mem: PathMemFs): PathOperations {
  const out: Record<string, unknown> = { useIno: mem.useIno, entryTimeout: 0, attrTimeout: 0 };
  for (const name of Object.getOwnPropertyNames(PathMemFs.prototype)) {
    const f = (mem as unknown as Record<string, unknown>)[name];
    if (name !== "constructor" && typeof f === "function") out[name] = f.bind(mem);
  }
  return out as PathOperations;
}

Deno.test("paths table: forget accounting returns the table to its root after 2,000 files", async () => {
  const fs = memfs();
  const dir = await mkdir(fs, ROOT_INODE, "d");
  const inos: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const [ino, fh] = await create(fs, dir, `f${i}`);
    await run(() => fs.release(fh, ctx));
    inos.push(ino);
  }
  // A second lookup of some: two references to give back.
  for (let i = 0; i < 2000; i += 2) await run(() => fs.lookup(dir, b(`f${i}`), ctx));
  assert.equal(fs.table.size, 2002);
  for (let i = 0; i < 2000; i++) await run(() => fs.unlink(dir, b(`f${i}`), ctx));
  // Unlinked but still referenced by the kernel: the nodes stay until FORGET.
  assert.equal(fs.table.size, 2002);
  fs.forget(inos.map((ino, i) => [ino, i % 2 === 0 ? 2 : 1]));
  await run(() => fs.rmdir(ROOT_INODE, b("d"), ctx));
  fs.forget([[dir, 1]]);
  assert.equal(fs.table.size, 1);
  assert.deepEqual(fs.table.dump(), [{ ino: ROOT_INODE, path: "/", lookups: 1, opens: 0 }]);
});

Deno.test("paths table: hard links are one node under both names", async () => {
  const fs = memfs();
  const [f, fh] = await create(fs, ROOT_INODE, "one");
  await run(() => fs.release(fh, ctx));
  const linked = await run(() => fs.link(f, ROOT_INODE, b("two"), ctx));
  assert.equal(linked.stIno, f);
  assert.equal(linked.stNlink, 2);
  assert.equal((await run(() => fs.lookup(ROOT_INODE, b("two"), ctx))).stIno, f);
  // With the first name gone the node answers under the other one.
  await run(() => fs.unlink(ROOT_INODE, b("one"), ctx));
  assert.equal(fs.table.path(fs.table.get(f)!), "/two");
  assert.equal((await run(() => fs.getattr(f, ctx, null))).stNlink, 1);
  // create, link and the lookup each took a reference; giving back two keeps it.
  fs.forget([[f, 2]]);
  assert.equal(fs.table.path(fs.table.get(f)!), "/two");
  fs.forget([[f, 1]]);
  assert.equal(fs.table.get(f), undefined);
  assert.equal(fs.table.size, 1);
});

Deno.test("paths table: an unlinked open file answers getattr and I/O by its handle", async () => {
  const fs = memfs();
  const [f, fh] = await create(fs, ROOT_INODE, "gone");
  await run(() => fs.write(fh, 0, b("still here"), ctx));
  await run(() => fs.unlink(ROOT_INODE, b("gone"), ctx));
  assert.equal(fs.table.path(fs.table.get(f)!), null);
  // fstat comes by inode, without a handle: the layer finds the open one.
  const attr = await run(() => fs.getattr(f, ctx, null));
  assert.equal(attr.stNlink, 0);
  assert.equal(attr.stSize, 10);
  // ftruncate carries the handle.
  const fields = new SetattrFields({ updateSize: true });
  const cut = await run(() => fs.setattr(f, new EntryAttributes({ stSize: 5 }), fields, fh, ctx));
  assert.equal(cut.stSize, 5);
  assert.equal(dec.decode(await run(() => fs.read(fh, 0, 100, ctx))), "still");
  // A new file under the old name is another node; no hidden file appeared.
  const [g, gh] = await create(fs, ROOT_INODE, "gone");
  assert.notEqual(g, f);
  const listing = await listNames(fs, ROOT_INODE);
  assert.deepEqual(listing, [".", "..", "gone"]);
  await run(() => fs.release(fh, ctx));
  await run(() => fs.release(gh, ctx));
  fs.forget([[f, 1]]);
  assert.equal(fs.table.get(f), undefined);
});

/** Lists a directory through opendir/readdir/releasedir, as plain READDIR. */
async function listNames(fs: PathFilesystem, ino: number, plus = false): Promise<string[]> {
  const fh = await run(() => fs.opendir(ino, ctx));
  const names: string[] = [];
  let offset = 0;
  for (;;) {
    const token = new ReaddirToken(4096, plus);
    await run(() => fs.readdir(fh, offset, token, ctx));
    const got = parseDirents(token.finish(), plus);
    if (got.length === 0) break;
    for (const [name] of got) names.push(name);
    offset = got[got.length - 1][1];
  }
  await run(() => fs.releasedir(fh, ctx));
  return names;
}

/** [name, next offset] of each entry of a READDIR(PLUS) reply. */
function parseDirents(buf: Uint8Array, plus: boolean): [string, number][] {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: [string, number][] = [];
  const head = plus ? 128 : 0; // sizeof(struct fuse_entry_out)
  for (let at = 0; at < buf.length;) {
    const d = at + head;
    const off = Number(view.getBigUint64(d + 8, true));
    const len = view.getUint32(d + 16, true);
    out.push([dec.decode(buf.subarray(d + 24, d + 24 + len)), off]);
    at += (head + 24 + len + 7) & ~7;
  }
  return out;
}

Deno.test("paths table: READDIRPLUS entries count as lookups, '.' and '..' do not", async () => {
  const fs = memfs();
  for (const name of ["x", "y"]) {
    const [, fh] = await create(fs, ROOT_INODE, name);
    await run(() => fs.release(fh, ctx));
  }
  const before = new Map(fs.table.dump().map((r) => [r.path, r.lookups]));
  assert.deepEqual(await listNames(fs, ROOT_INODE, true), [".", "..", "x", "y"]);
  const after = new Map(fs.table.dump().map((r) => [r.path, r.lookups]));
  assert.equal(after.get("/"), before.get("/"));
  assert.equal(after.get("/x"), before.get("/x")! + 1);
  assert.equal(after.get("/y"), before.get("/y")! + 1);
  // A plain READDIR takes no reference.
  await listNames(fs, ROOT_INODE, false);
  assert.equal(fs.table.dump().find((r) => r.path === "/x")!.lookups, after.get("/x"));
});

Deno.test("paths table: a reply too full for an entry takes no lookup for it", async () => {
  const names = Array.from({ length: 200 }, (_, i) => `entry-with-a-long-name-${i}`);
  const fs = pathOperations({
    getattr: (path) => ({ mode: path === "/" ? 0o40755 : 0o100644, ino: 0 }),
    readdir: () => names,
  });
  const fh = await run(() => fs.opendir(ROOT_INODE, ctx));
  const token = new ReaddirToken(4096, true);
  await run(() => fs.readdir(fh, 0, token, ctx));
  const sent = parseDirents(token.finish(), true).length - 2; // minus "." and ".."
  assert.ok(sent > 0 && sent < names.length);
  assert.equal(fs.table.size, 1 + sent);
  await run(() => fs.releasedir(fh, ctx));
});

Deno.test("paths table: readdir offsets stay stable while the directory changes", async () => {
  const fs = memfs();
  for (let i = 0; i < 300; i++) {
    const [, fh] = await create(fs, ROOT_INODE, `n${String(i).padStart(3, "0")}`);
    await run(() => fs.release(fh, ctx));
  }
  const dh = await run(() => fs.opendir(ROOT_INODE, ctx));
  const seen: string[] = [];
  let offset = 0;
  for (let round = 0;; round++) {
    const token = new ReaddirToken(1024, false);
    await run(() => fs.readdir(dh, offset, token, ctx));
    const got = parseDirents(token.finish(), false);
    if (got.length === 0) break;
    for (const [name] of got) seen.push(name);
    offset = got[got.length - 1][1];
    // Between chunks: remove an entry not listed yet and add new ones.
    if (round === 0) {
      await run(() => fs.unlink(ROOT_INODE, b("n299"), ctx));
      const [, fh] = await create(fs, ROOT_INODE, "late");
      await run(() => fs.release(fh, ctx));
    }
  }
  await run(() => fs.releasedir(dh, ctx));
  const entries = seen.filter((n) => n !== "." && n !== "..");
  assert.equal(new Set(entries).size, entries.length, "no entry twice");
  for (let i = 0; i < 299; i++) assert.ok(entries.includes(`n${String(i).padStart(3, "0")}`));
});

Deno.test("paths table: a lookup racing a rename of its parent is recorded under the new name", async () => {
  // An async path filesystem whose getattr of /a/sub/x is held until released.
  const files = new Set(["/", "/a", "/a/sub", "/a/sub/x"]);
  const held = deferred();
  const ops: PathOperations = {
    async getattr(path) {
      if (path === "/a/sub/x") await held.promise;
      if (typeof path !== "string" || !files.has(path)) throw new FUSEError(errno.ENOENT);
      return { mode: path.endsWith("x") ? 0o100644 : 0o40755 };
    },
    rename(from, to) {
      for (const p of [...files]) {
        if (p === from || p.startsWith(from + "/")) {
          files.delete(p);
          files.add(to + p.slice((from as string).length));
        }
      }
    },
  };
  const fs = pathOperations(ops);
  const a = (await run(() => fs.lookup(ROOT_INODE, b("a"), ctx))).stIno;
  const sub = (await run(() => fs.lookup(a, b("sub"), ctx))).stIno;
  const lookup = run(() => fs.lookup(sub, b("x"), ctx));
  // The handler already has the old path; the store and table move meanwhile.
  await run(() => fs.rename(ROOT_INODE, b("a"), ROOT_INODE, b("b"), 0, ctx));
  files.add("/a/sub/x"); // the handler's answer for the old path is still good...
  held.resolve();
  const x = (await lookup).stIno;
  files.delete("/a/sub/x");
  // ...and the node is recorded below the directory's new name.
  assert.equal(fs.table.path(fs.table.get(x)!), "/b/sub/x");
});

Deno.test("paths table: ENOENT while a rename is in flight is retried on the new path", async () => {
  const files = new Set(["/", "/a", "/a/f"]);
  const renaming = deferred();
  const asked: Path[] = [];
  const ops: PathOperations = {
    getattr(path) {
      asked.push(path!);
      if (typeof path !== "string" || !files.has(path)) throw new FUSEError(errno.ENOENT);
      return { mode: path === "/a/f" || path === "/b/f" ? 0o100644 : 0o40755 };
    },
    async rename() {
      // The store moves at once; the reply comes later.
      files.delete("/a");
      files.delete("/a/f");
      files.add("/b");
      files.add("/b/f");
      await renaming.promise;
    },
  };
  const fs = pathOperations(ops);
  const a = (await run(() => fs.lookup(ROOT_INODE, b("a"), ctx))).stIno;
  const rename = run(() => fs.rename(ROOT_INODE, b("a"), ROOT_INODE, b("b"), 0, ctx));
  const lookup = run(() => fs.lookup(a, b("f"), ctx));
  renaming.resolve();
  await rename;
  const f = (await lookup).stIno;
  assert.deepEqual(asked.slice(-2), ["/a/f", "/b/f"]);
  assert.equal(fs.table.path(fs.table.get(f)!), "/b/f");
  // A plain ENOENT (no rename, same path) is answered at once, not retried.
  await assert.rejects(
    run(() => fs.lookup(a, b("nope"), ctx)),
    (e: FUSEError) => e.errno === errno.ENOENT,
  );
  assert.equal(asked.at(-1), "/b/nope");
});

Deno.test("paths table: rename over an open file detaches it; RENAME_EXCHANGE swaps the names", async () => {
  const fs = memfs();
  const [x, xh] = await create(fs, ROOT_INODE, "x");
  const [y, yh] = await create(fs, ROOT_INODE, "y");
  await run(() => fs.rename(ROOT_INODE, b("x"), ROOT_INODE, b("y"), 2, ctx));
  assert.equal(fs.table.path(fs.table.get(x)!), "/y");
  assert.equal(fs.table.path(fs.table.get(y)!), "/x");
  await run(() => fs.rename(ROOT_INODE, b("x"), ROOT_INODE, b("y"), 0, ctx));
  assert.equal(fs.table.path(fs.table.get(y)!), "/y");
  assert.equal(fs.table.path(fs.table.get(x)!), null);
  assert.equal((await run(() => fs.getattr(x, ctx, null))).stNlink, 0);
  await run(() => fs.release(xh, ctx));
  await run(() => fs.release(yh, ctx));
  fs.forget([[x, 1]]);
  assert.equal(fs.table.get(x), undefined);
});

Deno.test("paths table: '.' and '..' lookups resolve from the table and count", async () => {
  const fs = memfs();
  const d = await mkdir(fs, ROOT_INODE, "d");
  const e = await mkdir(fs, d, "e");
  assert.equal((await run(() => fs.lookup(e, b(".."), ctx))).stIno, d);
  assert.equal((await run(() => fs.lookup(e, b("."), ctx))).stIno, e);
  assert.equal((await run(() => fs.lookup(ROOT_INODE, b(".."), ctx))).stIno, ROOT_INODE);
  const rows = new Map(fs.table.dump().map((r) => [r.path, r.lookups]));
  assert.equal(rows.get("/d"), 2);
  assert.equal(rows.get("/d/e"), 2);
});

Deno.test("paths table: useIno keeps the handler's numbers, the root trades places with 1", async () => {
  const inos: Record<string, number> = { "/": 77, "/one": 1, "/two": 5, "/link": 5 };
  const fs = pathOperations({
    useIno: true,
    getattr(path) {
      const ino = inos[path as string];
      if (ino === undefined) throw new FUSEError(errno.ENOENT);
      return { mode: path === "/" ? 0o40755 : 0o100644, ino };
    },
  });
  assert.equal((await run(() => fs.getattr(ROOT_INODE, ctx, null))).stIno, ROOT_INODE);
  assert.equal((await run(() => fs.lookup(ROOT_INODE, b("one"), ctx))).stIno, 77);
  const two = (await run(() => fs.lookup(ROOT_INODE, b("two"), ctx))).stIno;
  assert.equal(two, 5);
  // Another name with the same number: the same node (a hard link made elsewhere).
  assert.equal((await run(() => fs.lookup(ROOT_INODE, b("link"), ctx))).stIno, 5);
  assert.equal(fs.table.get(5)!.links.length, 2);
});

Deno.test("paths table: names that are not UTF-8 reach handlers as bytes", async () => {
  const fs = memfs();
  const raw = new Uint8Array([0x66, 0xff, 0x6f]);
  const [f, fh] = await run(() => fs.create(ROOT_INODE, raw, 0o644, O_RDWR, ctx)).then((
    [i, a],
  ) => [a.stIno, i.fh]);
  await run(() => fs.release(fh, ctx));
  const path = fs.table.path(fs.table.get(f)!);
  assert.ok(path instanceof Uint8Array);
  assert.deepEqual([...path], [0x2f, 0x66, 0xff, 0x6f]);
  assert.equal((await run(() => fs.lookup(ROOT_INODE, raw, ctx))).stIno, f);
});

Deno.test("paths table: handlers left out answer ENOSYS (they are not served at all)", () => {
  const fs = pathOperations({ getattr: () => ({ mode: 0o40755 }) });
  const ops = fs as unknown as Record<string, unknown>;
  assert.equal(typeof ops.getattr, "function");
  assert.equal(typeof ops.lookup, "function");
  for (const name of ["read", "write", "mkdir", "rename", "flush", "setattr", "tmpfile", "ioctl"]) {
    assert.equal(ops[name], undefined, name);
  }
});

Deno.test("paths table: negativeTimeout answers a missing name with a cacheable negative entry", async () => {
  const ops: PathOperations = {
    negativeTimeout: 30,
    getattr(path) {
      if (path === "/") return { mode: 0o40755 };
      throw new FUSEError(errno.ENOENT);
    },
  };
  const negative = await run(() => pathOperations(ops).lookup(ROOT_INODE, b("none"), ctx));
  assert.equal(negative.stIno, 0);
  assert.equal(negative.entryTimeout, 30);
  // Without the option ENOENT is thrown as it is (not cached).
  const plain = pathOperations({ ...ops, negativeTimeout: 0 });
  await assert.rejects(
    run(() => plain.lookup(ROOT_INODE, b("none"), ctx)),
    (e: FUSEError) => e.errno === errno.ENOENT,
  );
});

Deno.test("paths table: a create whose getattr fails releases the handler's handle", async () => {
  const released: number[] = [];
  const fs = pathOperations({
    getattr(path) {
      if (path === "/") return { mode: 0o40755 };
      throw new FUSEError(errno.EIO);
    },
    create: () => 9,
    release: (_path, fh) => void released.push(fh),
  });
  await assert.rejects(
    run(() => fs.create(ROOT_INODE, b("f"), 0o644, O_RDWR, ctx)),
    (e: FUSEError) => e.errno === errno.EIO,
  );
  assert.deepEqual(released, [9]);
  assert.equal(fs.handles.size, 0);
  assert.equal(fs.table.size, 1);
});

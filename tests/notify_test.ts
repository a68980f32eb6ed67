import assert from "node:assert/strict";
import { join } from "node:path";
import * as fuse from "../mod.ts";
import { withTimeout } from "./support/mount.ts";
import { acquireLibraries, releaseLibraries } from "../ffi/library.ts";
import { decodeRetrieveReply, type Notifier } from "../ffi/notify.ts";
import { MountNotifications } from "../ops/notifications.ts";
import { testMount } from "../testing.ts";
import { encodeBufvec } from "../ffi/codec.ts";
import { LAYOUT } from "../ffi/layout.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * A root directory whose entries the test changes behind the kernel's back,
 * with long timeouts and keep_cache, so only notifications reveal changes.
 */
class ChangingFs implements fuse.Operations {
  files = new Map<string, { ino: number; data: Uint8Array }>();
  reads = 0;
  lookupHook?: (name: string) => void;

  attrs(ino: number): fuse.EntryAttributes {
    if (ino === fuse.ROOT_INODE) {
      return new fuse.EntryAttributes({ stIno: ino, stMode: 0o40755, stNlink: 2 });
    }
    const f = [...this.files.values()].find((x) => x.ino === ino);
    if (!f) throw new fuse.FUSEError(fuse.errno.ENOENT);
    return new fuse.EntryAttributes({
      stIno: ino,
      stMode: 0o100644,
      stNlink: 1,
      stSize: f.data.length,
    });
  }
  getattr(ino: number) {
    return this.attrs(ino);
  }
  lookup(_parent: number, name: Uint8Array) {
    const n = dec.decode(name);
    this.lookupHook?.(n);
    const f = this.files.get(n);
    if (!f) throw new fuse.FUSEError(fuse.errno.ENOENT);
    return this.attrs(f.ino);
  }
  open(ino: number) {
    return new fuse.FileInfo({ fh: ino, keepCache: true });
  }
  read(fh: number, off: number, size: number) {
    this.reads++;
    const f = [...this.files.values()].find((x) => x.ino === fh)!;
    return f.data.subarray(off, off + size);
  }
}

async function withChangingFs(
  fn: (fs: ChangingFs, mnt: string, handle: fuse.MountHandle) => Promise<void>,
) {
  const fs = new ChangingFs();
  const mnt = await Deno.makeTempDir({ prefix: "denofuse-mnt-" });
  try {
    const handle = fuse.mount(fs, mnt, { options: ["fsname=notify"], handleSignals: false });
    try {
      await withTimeout("notify test", 20_000, fn(fs, mnt, handle));
    } finally {
      await withTimeout("unmount", 10_000, handle.unmount());
    }
  } finally {
    await Deno.remove(mnt);
  }
}

Deno.test("invalidateInode() drops cached attributes, and data unless attrOnly", async () => {
  await withChangingFs(async (fs, mnt, h) => {
    // Attributes (no reads here: a read marks atime stale and stat refetches).
    fs.files.set("g", { ino: 3, data: enc.encode("abc") });
    assert.equal((await Deno.stat(join(mnt, "g"))).size, 3);
    fs.files.set("g", { ino: 3, data: enc.encode("abcde") });
    assert.equal((await Deno.stat(join(mnt, "g"))).size, 3, "attributes are cached");
    await h.invalidateInode(3, true);
    assert.equal((await Deno.stat(join(mnt, "g"))).size, 5);
    // Data, same size so only the page cache can tell.
    fs.files.set("f", { ino: 2, data: enc.encode("old") });
    assert.equal(await Deno.readTextFile(join(mnt, "f")), "old");
    fs.files.set("f", { ino: 2, data: enc.encode("new") });
    assert.equal(await Deno.readTextFile(join(mnt, "f")), "old", "data is cached");
    await h.invalidateInode(2, true);
    assert.equal(await Deno.readTextFile(join(mnt, "f")), "old", "attrOnly keeps data");
    await h.invalidateInode(2);
    assert.equal(await Deno.readTextFile(join(mnt, "f")), "new");
    await assert.rejects(
      h.invalidateInode(999),
      (e: Error) => e instanceof fuse.ErrnoError && e.code === "ENOENT",
    );
  });
});

Deno.test("invalidateEntry() and notifyDelete() drop cached lookups", async () => {
  await withChangingFs(async (fs, mnt, h) => {
    fs.files.set("a", { ino: 2, data: enc.encode("a") });
    fs.files.set("b", { ino: 3, data: enc.encode("b") });
    assert.equal((await Deno.stat(join(mnt, "a"))).ino, 2);
    assert.equal((await Deno.stat(join(mnt, "b"))).ino, 3);
    fs.files.set("a", { ino: 4, data: enc.encode("A") });
    fs.files.delete("b");
    assert.equal((await Deno.stat(join(mnt, "a"))).ino, 2, "the entry is cached");
    await h.invalidateEntry(fuse.ROOT_INODE, "a");
    assert.equal((await Deno.stat(join(mnt, "a"))).ino, 4);
    assert.equal((await Deno.stat(join(mnt, "b"))).ino, 3, "the entry is cached");
    await h.notifyDelete(fuse.ROOT_INODE, 3, "b");
    await assert.rejects(Deno.stat(join(mnt, "b")), Deno.errors.NotFound);
  });
});

Deno.test("invalidateEntryAsync() from inside a handler neither blocks nor deadlocks", async () => {
  await withChangingFs(async (fs, mnt, h) => {
    fs.files.set("a", { ino: 2, data: enc.encode("a") });
    fs.files.set("b", { ino: 3, data: enc.encode("b") });
    await Deno.stat(join(mnt, "a"));
    let fired = false;
    fs.lookupHook = (name) => {
      if (name === "b" && !fired) {
        fired = true;
        fs.files.set("a", { ino: 5, data: enc.encode("x") });
        // The kernel holds the directory lock until this lookup is answered.
        h.invalidateEntryAsync(fuse.ROOT_INODE, "a");
      }
    };
    await Deno.stat(join(mnt, "b"));
    assert.ok(fired);
    for (let i = 0; i < 100 && (await Deno.stat(join(mnt, "a"))).ino !== 5; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal((await Deno.stat(join(mnt, "a"))).ino, 5);
  });
});

Deno.test("incrementEpoch() makes every cached entry stale at once (libfuse 3.18; a clear error before)", async () => {
  const libs = acquireLibraries();
  const version = libs.version, pkgVersion = libs.pkgVersion;
  releaseLibraries();
  await withChangingFs(async (fs, mnt, h) => {
    fs.files.set("a", { ino: 2, data: enc.encode("a") });
    fs.files.set("b", { ino: 3, data: enc.encode("b") });
    assert.equal((await Deno.stat(join(mnt, "a"))).ino, 2);
    assert.equal((await Deno.stat(join(mnt, "b"))).ino, 3);
    // Behind the kernel's back: "a" now names another inode, "b" is gone.
    fs.files.set("a", { ino: 4, data: enc.encode("A") });
    fs.files.delete("b");
    const lookups: string[] = [];
    fs.lookupHook = (name) => lookups.push(name);
    assert.equal((await Deno.stat(join(mnt, "a"))).ino, 2, "the entry is cached (300 s)");
    assert.equal((await Deno.stat(join(mnt, "b"))).ino, 3, "the entry is cached (300 s)");
    assert.deepEqual(lookups, []);
    if (version < 318) {
      await assert.rejects(
        h.incrementEpoch(),
        (e: Error) =>
          e instanceof fuse.FuseOperationalError &&
          e.message.includes("needs libfuse 3.18") && e.message.includes(pkgVersion),
      );
      return;
    }
    await h.incrementEpoch();
    assert.equal((await Deno.stat(join(mnt, "a"))).ino, 4, "looked up again");
    await assert.rejects(Deno.stat(join(mnt, "b")), Deno.errors.NotFound);
    assert.deepEqual([...new Set(lookups)].sort(), ["a", "b"]);
    // The new entries are cached again until the next epoch.
    fs.files.set("a", { ino: 5, data: enc.encode("5") });
    assert.equal((await Deno.stat(join(mnt, "a"))).ino, 4);
    await h.incrementEpoch();
    assert.equal((await Deno.stat(join(mnt, "a"))).ino, 5);
  });
});

Deno.test("incrementEpoch() names what is missing: libfuse < 3.18, a kernel without FUSE 7.44; other errors pass", async () => {
  const owner = { alive: true, notificationFinished: () => {} };
  const notifications = (n: Partial<Notifier>) =>
    new MountNotifications(n as unknown as Notifier, owner);
  await assert.rejects(
    notifications({ hasIncrementEpoch: false, libfuseVersion: "3.14.0" }).incrementEpoch(),
    (e: Error) =>
      e instanceof fuse.FuseOperationalError &&
      /needs libfuse 3\.18 or newer .*the loaded libfuse is 3\.14\.0/.test(e.message) &&
      e.cause instanceof fuse.ErrnoError && e.cause.code === "ENOSYS",
  );
  // libfuse 3.18 answers ENOSYS itself when the kernel negotiated FUSE < 7.44.
  const old = notifications({ hasIncrementEpoch: true, incrementEpoch: () => Promise.resolve(38) });
  await assert.rejects(
    old.incrementEpoch(),
    (e: Error) =>
      e instanceof fuse.FuseOperationalError &&
      /kernel does not support FUSE_NOTIFY_INC_EPOCH \(it needs Linux 6\.16/.test(e.message),
  );
  const gone = notifications({
    hasIncrementEpoch: true,
    incrementEpoch: () => Promise.resolve(19),
  });
  await assert.rejects(
    gone.incrementEpoch(),
    (e: Error) => e instanceof fuse.ErrnoError && e.code === "ENODEV",
  );
  owner.alive = false;
  await assert.rejects(
    notifications({ hasIncrementEpoch: false }).incrementEpoch(),
    fuse.FuseStateError,
  );
});

Deno.test("incrementEpoch() on a Worker mount: done there, or its FuseOperationalError crosses intact", async () => {
  const libs = acquireLibraries();
  const version = libs.version;
  releaseLibraries();
  await using fs = await testMount({
    module: new URL("../examples/tmpfs.ts", import.meta.url),
    export: "TmpFs",
  });
  await Deno.writeTextFile(join(fs.mountpoint, "x"), "x");
  if (version >= 318) {
    await fs.handle.incrementEpoch();
    assert.equal(await Deno.readTextFile(join(fs.mountpoint, "x")), "x");
  } else {
    await assert.rejects(
      fs.handle.incrementEpoch(),
      (e: Error) => e instanceof fuse.FuseOperationalError && /needs libfuse 3\.18/.test(e.message),
    );
  }
});

Deno.test("notifyStore() fills the page cache and notifyRetrieve() reads it back", async () => {
  await withChangingFs(async (fs, mnt, h) => {
    fs.files.set("f", { ino: 2, data: enc.encode("0123456789") });
    assert.equal(await Deno.readTextFile(join(mnt, "f")), "0123456789");
    const cached = await h.notifyRetrieve(2, 0, 10);
    assert.equal(dec.decode(cached), "0123456789");
    await h.notifyStore(2, 2, enc.encode("ab"));
    const readsBefore = fs.reads;
    assert.equal(await Deno.readTextFile(join(mnt, "f")), "01ab456789");
    assert.equal(fs.reads, readsBefore, "served from the page cache");
    assert.equal(dec.decode(await h.notifyRetrieve(2, 2, 4)), "ab45");
  });
});

Deno.test("module-level invalidate functions need init() first", () => {
  assert.throws(() => fuse.invalidateInode(1), fuse.FuseStateError);
  assert.throws(() => fuse.invalidateEntryAsync(1, "x"), /before init\(\)/);
  assert.throws(() => fuse.incrementEpoch(), fuse.FuseStateError);
});

/** A one-buffer `fuse_bufvec` of `size` bytes to read from descriptor `fd` (FUSE_BUF_IS_FD). */
function descriptorBufvec(size: number, fd: number): Uint8Array<ArrayBuffer> {
  const bufvec = encodeBufvec(new Uint8Array(size));
  const B = LAYOUT.fuse_buf.fields, at = LAYOUT.fuse_bufvec.fields.buf.offset;
  const view = new DataView(bufvec.buffer);
  view.setBigUint64(at + B.mem.offset, 0n, true);
  view.setInt32(at + B.flags.offset, 2, true);
  view.setInt32(at + B.fd.offset, fd, true);
  return bufvec;
}

Deno.test("notifyRetrieve's answer is copied with fuse_buf_copy, from memory or from a pipe", () => {
  const libs = acquireLibraries();
  const libc = Deno.dlopen("libc.so.6", {
    pipe: { parameters: ["buffer"], result: "i32" },
    write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
    close: { parameters: ["i32"], result: "i32" },
  });
  const fds = new Int32Array(2);
  try {
    assert.equal(libc.symbols.pipe(new Uint8Array(fds.buffer)), 0);
    const data = crypto.getRandomValues(new Uint8Array(20_000));
    assert.equal(Number(libc.symbols.write(fds[1], data, BigInt(data.length))), data.length);
    const cookie = Deno.UnsafePointer.create(7n);
    const piped = descriptorBufvec(data.length, fds[0]);
    assert.deepEqual(decodeRetrieveReply(libs.fuse, cookie, Deno.UnsafePointer.of(piped)), {
      cookie: 7,
      data,
    });
    const inMemory = encodeBufvec(data);
    const answer = decodeRetrieveReply(libs.fuse, cookie, Deno.UnsafePointer.of(inMemory));
    assert.deepEqual(answer.data, data);
    const closed = descriptorBufvec(10, 1_000_000);
    const failed = decodeRetrieveReply(libs.fuse, cookie, Deno.UnsafePointer.of(closed)).data;
    assert.ok(
      failed instanceof fuse.ErrnoError && failed.errno === fuse.errno.EBADF,
      String(failed),
    );
  } finally {
    for (const fd of fds) if (fd > 0) libc.symbols.close(fd);
    libc.close();
    releaseLibraries();
  }
});

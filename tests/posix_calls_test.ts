/**
 * The calls of `@denofuse/fuse/posix` (issue 21 §2), each exercised for
 * real: on a temporary directory of the host filesystem, and a
 * representative set through a real FUSE mount (examples/tmpfs.ts served by
 * mountInWorker, since the calls are synchronous FFI on this thread and an
 * in-process mount would wait for this very thread). Also: a libc error is
 * a FUSEError with its errno that a handler can rethrow to the kernel, and
 * a name that is not UTF-8 round-trips as bytes.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import * as fuse from "../mod.ts";
import * as px from "../posix.ts";
import { PAGE_SIZE } from "../examples/tmpfs.ts";
import { sh, withMount } from "./support/mount.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const { errno } = fuse;

/** Asserts that `fn` throws a FUSEError with `expected` errno. */
function throwsErrno(fn: () => unknown, expected: number, what = ""): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof fuse.FUSEError, `${what}: ${e} is not a FUSEError`);
    assert.equal(e.errno, expected, `${what}: errno ${e.errno}, expected ${expected}`);
    return true;
  });
}

async function rejectsErrno(p: Promise<unknown>, expected: number): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof fuse.FUSEError, `${e} is not a FUSEError`);
    assert.equal(e.errno, expected);
    return true;
  });
}

/** Runs `fn` with libc loaded and a fresh directory under `parent` (default the host's tmp). */
async function inDir(fn: (dir: string) => void | Promise<void>, parent?: string): Promise<void> {
  px.acquireLibc();
  const dir = Deno.makeTempDirSync({ dir: parent, prefix: "denofuse-posix-" });
  try {
    await fn(dir);
  } finally {
    Deno.removeSync(dir, { recursive: true });
    px.releaseLibc();
  }
}

/** A descriptor no process has (beyond any limit): closing a real one twice could hit a reused number. */
const BAD_FD = 2 ** 30;

const names = (list: Uint8Array[]) => list.map((n) => dec.decode(n)).sort();

// ---------------------------------------------------------------------------
// The checks, each written once and run on the host and through the mount.

function descriptorIo(dir: string): void {
  const path = join(dir, "data");
  const fd = px.open(path, px.O.O_RDWR | px.O.O_CREAT | px.O.O_EXCL, 0o640);
  try {
    assert.equal(px.write(fd, enc.encode("hello world")), 11);
    assert.equal(px.lseek(fd, 0, px.SEEK_CUR), 11);
    assert.equal(px.lseek(fd, 0n, px.SEEK_SET), 0);
    assert.equal(dec.decode(px.read(fd, 5)), "hello");
    assert.equal(dec.decode(px.read(fd, 100)), " world");
    assert.equal(px.read(fd, 100).length, 0, "read at the end");
    assert.equal(px.pwrite(fd, enc.encode("W"), 6), 1);
    assert.equal(dec.decode(px.pread(fd, 100, 0)), "hello World");
    assert.equal(dec.decode(px.pread(fd, 3, 4n)), "o W");
    assert.equal(px.pread(fd, 10, 1000).length, 0, "pread beyond the end");
    assert.equal(px.lseek(fd, 0, px.SEEK_END), 11);
    px.fsync(fd);
    px.fdatasync(fd);
    px.ftruncate(fd, 5);
    assert.equal(px.fstat(fd).size, 5);
    px.ftruncate(fd, 8n);
    assert.deepEqual([...px.pread(fd, 100, 0)], [...enc.encode("hello"), 0, 0, 0]);
    // Offsets beyond 2^53 are bigints; results that large are EOVERFLOW, never rounded.
    throwsErrno(() => px.pread(fd, 1, -1), errno.EINVAL, "negative offset");
  } finally {
    px.close(fd);
  }
  px.truncate(path, 2);
  assert.equal(px.stat(path).size, 2);
  px.truncate(enc.encode(path), 3n);
  assert.equal(px.stat(path).size, 3);
  throwsErrno(() => px.close(BAD_FD), errno.EBADF, "close");
  throwsErrno(() => px.open(path, px.O.O_CREAT | px.O.O_EXCL | px.O.O_WRONLY), errno.EEXIST);
  throwsErrno(() => px.open(join(dir, "missing"), px.O.O_RDONLY), errno.ENOENT);
  // dirFd: relative to an open directory.
  const d = px.open(dir, px.O.O_RDONLY | px.O.O_DIRECTORY);
  try {
    const f = px.open("data", px.O.O_RDONLY, 0, { dirFd: d });
    assert.equal(dec.decode(px.read(f, 10)), "he\0", "truncate extended it with a zero");
    px.close(f);
  } finally {
    px.close(d);
  }
}

async function asyncIo(dir: string): Promise<void> {
  const fd = px.open(join(dir, "async"), px.O.O_RDWR | px.O.O_CREAT, 0o600);
  try {
    assert.equal(await px.pwriteAsync(fd, enc.encode("abcdef"), 0), 6);
    assert.equal(await px.pwriteAsync(fd, enc.encode("XY"), 2n), 2);
    assert.equal(dec.decode(await px.preadAsync(fd, 100, 0)), "abXYef");
    assert.equal(dec.decode(await px.preadAsync(fd, 2, 4n)), "ef");
    await px.fsyncAsync(fd);
    await px.fdatasyncAsync(fd);
  } finally {
    px.close(fd);
  }
  // The errno of a failed call off the JS thread is learnt by repeating it.
  await rejectsErrno(px.preadAsync(BAD_FD, 1, 0), errno.EBADF);
  await rejectsErrno(px.pwriteAsync(BAD_FD, enc.encode("x"), 0), errno.EBADF);
  await rejectsErrno(px.fsyncAsync(BAD_FD), errno.EBADF);
  await rejectsErrno(px.fdatasyncAsync(BAD_FD), errno.EBADF);
}

function stats(dir: string): void {
  const file = join(dir, "f");
  const link = join(dir, "l");
  Deno.writeTextFileSync(file, "12345");
  Deno.symlinkSync("f", link);
  const st = px.stat(file);
  const deno = Deno.lstatSync(file);
  assert.equal(st.size, 5);
  assert.equal(st.mode & px.S.IFMT, px.S.IFREG);
  assert.equal(Number(st.ino), deno.ino);
  assert.equal(st.nlink, 1);
  assert.equal(typeof st.size, "number");
  assert.equal(typeof st.ino, "bigint");
  assert.equal(typeof st.mtimeNs, "bigint");
  assert.equal(px.stat(link).ino, st.ino, "stat follows a symlink");
  assert.equal(px.lstat(link).mode & px.S.IFMT, px.S.IFLNK);
  assert.equal(px.stat(link, { followSymlinks: false }).mode & px.S.IFMT, px.S.IFLNK);
  assert.equal(px.stat(enc.encode(file)).ino, st.ino, "a bytes path");
  assert.equal(px.fstatat(px.AT.FDCWD, file, 0).ino, st.ino, "fstatat takes a string");
  assert.equal(px.fstatat(px.AT.FDCWD, px.cstr(file), 0).ino, st.ino, "and a C string");
  const d = px.open(dir, px.O.O_RDONLY | px.O.O_DIRECTORY);
  try {
    assert.equal(px.stat("f", { dirFd: d }).ino, st.ino);
    assert.equal(px.lstat("l", { dirFd: d }).mode & px.S.IFMT, px.S.IFLNK);
    assert.equal(px.fstatat(d, "l", px.AT.SYMLINK_NOFOLLOW).mode & px.S.IFMT, px.S.IFLNK);
    assert.equal(px.fstat(d).mode & px.S.IFMT, px.S.IFDIR);
    const byPath = px.statvfs(dir);
    const byFd = px.fstatvfs(d);
    assert.equal(byPath.bsize, byFd.bsize);
    assert.equal(byPath.blocks, byFd.blocks);
    assert.ok(byPath.namemax >= 255);
  } finally {
    px.close(d);
  }
  const fd = px.open(file, px.O.O_RDONLY);
  try {
    assert.equal(px.fstat(fd).ino, st.ino);
  } finally {
    px.close(fd);
  }
  throwsErrno(() => px.stat(join(dir, "missing")), errno.ENOENT, "stat");
  throwsErrno(() => px.lstat(join(dir, "missing")), errno.ENOENT, "lstat");
  throwsErrno(() => px.statvfs(join(dir, "missing")), errno.ENOENT, "statvfs");
  throwsErrno(() => px.stat(join(file, "below")), errno.ENOTDIR, "stat below a file");
  throwsErrno(() => px.fstat(BAD_FD), errno.EBADF, "fstat");
}

function attrs(dir: string, { owner = true } = {}): void {
  const file = join(dir, "f");
  const link = join(dir, "l");
  Deno.writeTextFileSync(file, "x");
  Deno.symlinkSync("f", link);
  px.chmod(file, 0o604);
  assert.equal(px.stat(file).mode & 0o7777, 0o604);
  px.chmod(link, 0o640); // follows the link
  assert.equal(px.stat(file).mode & 0o7777, 0o640);
  const fd = px.open(file, px.O.O_RDWR);
  try {
    px.fchmod(fd, 0o600);
    assert.equal(px.stat(file).mode & 0o7777, 0o600);
    if (owner) {
      px.fchown(fd, 1234, 5678);
      assert.deepEqual([px.stat(file).uid, px.stat(file).gid], [1234, 5678]);
      px.fchown(fd, -1, 4321);
      assert.deepEqual([px.stat(file).uid, px.stat(file).gid], [1234, 4321]);
    }
    px.futimens(fd, 1_000_000_000_000_000_001n, null);
    assert.equal(px.stat(file).atimeNs, 1_000_000_000_000_000_001n);
    const before = px.stat(file).mtimeNs;
    px.futimens(fd, null, 2_000_000_000_000_000_002n);
    assert.equal(px.stat(file).mtimeNs, 2_000_000_000_000_000_002n);
    assert.equal(px.stat(file).atimeNs, 1_000_000_000_000_000_001n, "null leaves atime");
    assert.notEqual(before, px.stat(file).mtimeNs);
    px.futimens(fd); // both now
    assert.ok(px.stat(file).mtimeNs > 2_000_000_000_000_000_002n - 10n ** 18n);
    throwsErrno(() => px.fchmod(BAD_FD, 0o600), errno.EBADF);
  } finally {
    px.close(fd);
  }
  if (owner) {
    px.chown(file, 1, 2);
    assert.deepEqual([px.stat(file).uid, px.stat(file).gid], [1, 2]);
    px.chown(link, 3, -1); // follows
    assert.deepEqual([px.stat(file).uid, px.stat(file).gid], [3, 2]);
    px.lchown(link, 7, 8);
    assert.deepEqual([px.lstat(link).uid, px.lstat(link).gid], [7, 8]);
    assert.deepEqual([px.stat(file).uid, px.stat(file).gid], [3, 2], "lchown left the target");
    px.chown(link, 9, 9, { followSymlinks: false });
    assert.equal(px.lstat(link).uid, 9);
  }
  px.utime(file, [123_456_789_123_456_789n, 987_654_321_987_654_321n]);
  assert.equal(px.stat(file).atimeNs, 123_456_789_123_456_789n);
  assert.equal(px.stat(file).mtimeNs, 987_654_321_987_654_321n);
  px.utime(link, [null, 5n * 10n ** 17n], { followSymlinks: false });
  assert.equal(px.lstat(link).mtimeNs, 5n * 10n ** 17n);
  assert.equal(px.stat(file).mtimeNs, 987_654_321_987_654_321n, "the target kept its time");
  px.utime(file, ["now", null]);
  assert.ok(px.stat(file).atimeNs > 123_456_789_123_456_789n);
  px.utime(file); // both now
  assert.ok(px.stat(file).mtimeNs > 987_654_321_987_654_321n);
  px.utimensat(px.AT.FDCWD, file, 42n, 43n);
  assert.deepEqual([px.stat(file).atimeNs, px.stat(file).mtimeNs], [42n, 43n]);
  // Before 1970, and through a directory fd.
  const d = px.open(dir, px.O.O_RDONLY | px.O.O_DIRECTORY);
  try {
    px.utimensat(d, "f", null, -1_500_000_000n);
    assert.equal(px.stat(file).mtimeNs, -1_500_000_000n);
    px.chmod("f", 0o644, { dirFd: d });
    assert.equal(px.stat(file).mode & 0o7777, 0o644);
  } finally {
    px.close(d);
  }
  throwsErrno(() => px.chmod(join(dir, "missing"), 0o600), errno.ENOENT);
  throwsErrno(() => px.chown(join(dir, "missing"), -1, -1), errno.ENOENT);
  throwsErrno(() => px.utime(join(dir, "missing")), errno.ENOENT);
  assert.throws(() => px.chown(file, 1.5, 0), RangeError);
}

function namespace(dir: string, { devices = true } = {}): void {
  const sub = join(dir, "sub");
  px.mkdir(sub, 0o750);
  assert.equal(px.stat(sub).mode & 0o7777, 0o750 & ~currentUmask());
  throwsErrno(() => px.mkdir(sub), errno.EEXIST, "mkdir twice");
  throwsErrno(() => px.mkdir(join(dir, "no", "parent")), errno.ENOENT);
  Deno.writeTextFileSync(join(sub, "a"), "A");
  Deno.writeTextFileSync(join(sub, "b"), "B");
  assert.deepEqual(names(px.listdir(sub)), ["a", "b"]);
  assert.deepEqual(names(px.listdir(enc.encode(sub))), ["a", "b"]);
  throwsErrno(() => px.rmdir(sub), errno.ENOTEMPTY, "rmdir of a full directory");
  throwsErrno(() => px.unlink(sub), errno.EISDIR, "unlink of a directory");
  throwsErrno(() => px.listdir(join(sub, "a")), errno.ENOTDIR, "listdir of a file");
  throwsErrno(() => px.listdir(join(dir, "missing")), errno.ENOENT, "listdir");

  // rename, plain and with renameat2's flags.
  px.rename(join(sub, "a"), join(sub, "c"));
  assert.deepEqual(names(px.listdir(sub)), ["b", "c"]);
  throwsErrno(
    () => px.rename(join(sub, "b"), join(sub, "c"), { flags: px.RENAME_NOREPLACE }),
    errno.EEXIST,
    "RENAME_NOREPLACE",
  );
  px.rename(join(sub, "b"), join(sub, "c"), { flags: px.RENAME_EXCHANGE });
  assert.equal(Deno.readTextFileSync(join(sub, "c")), "B");
  assert.equal(Deno.readTextFileSync(join(sub, "b")), "A");
  px.rename(join(sub, "b"), join(sub, "c")); // replaces, as os.replace does
  assert.deepEqual(names(px.listdir(sub)), ["c"]);
  throwsErrno(() => px.rename(join(sub, "missing"), join(sub, "x")), errno.ENOENT);

  // link follows a symlink by default, as Python's os.link does.
  const target = join(sub, "c");
  px.link(target, join(sub, "hard"));
  assert.equal(px.stat(target).nlink, 2);
  assert.equal(px.stat(join(sub, "hard")).ino, px.stat(target).ino);
  px.symlink("c", join(sub, "sym"));
  assert.equal(dec.decode(px.readlink(join(sub, "sym"))), "c");
  px.link(join(sub, "sym"), join(sub, "via-sym"));
  assert.equal(px.stat(target).nlink, 3, "link followed the symlink");
  px.link(join(sub, "sym"), join(sub, "sym-itself"), { followSymlinks: false });
  assert.equal(px.lstat(join(sub, "sym-itself")).ino, px.lstat(join(sub, "sym")).ino);
  throwsErrno(() => px.link(target, join(sub, "hard")), errno.EEXIST);
  throwsErrno(() => px.link(sub, join(dir, "dirlink")), errno.EPERM, "link of a directory");
  throwsErrno(() => px.readlink(target), errno.EINVAL, "readlink of a file");
  throwsErrno(() => px.symlink("x", target), errno.EEXIST);
  const long = "t".repeat(4000);
  px.symlink(long, join(sub, "long"));
  assert.equal(dec.decode(px.readlink(join(sub, "long"))), long);

  // mknod: a FIFO, a regular file, and (with CAP_MKNOD) a device.
  px.mknod(join(sub, "fifo"), px.S.IFIFO | 0o600);
  assert.equal(px.lstat(join(sub, "fifo")).mode & px.S.IFMT, px.S.IFIFO);
  px.mknod(join(sub, "reg"));
  assert.equal(px.lstat(join(sub, "reg")).mode & px.S.IFMT, px.S.IFREG);
  if (devices) {
    px.mknod(join(sub, "null"), px.S.IFCHR | 0o600, (1 << 8) | 3);
    const st = px.lstat(join(sub, "null"));
    assert.equal(st.mode & px.S.IFMT, px.S.IFCHR);
    assert.equal(st.rdev, (1 << 8) | 3);
    px.unlink(join(sub, "null"));
  }
  throwsErrno(() => px.mknod(join(sub, "fifo"), px.S.IFIFO | 0o600), errno.EEXIST);

  // access: refusals throw, with their errno.
  px.access(target, px.ACCESS.F_OK);
  px.access(target, px.ACCESS.R_OK | px.ACCESS.W_OK);
  px.chmod(target, 0o600);
  throwsErrno(() => px.access(target, px.ACCESS.X_OK), errno.EACCES, "access X_OK");
  px.access(target, px.ACCESS.R_OK, { effectiveIds: true });
  px.access(join(sub, "sym"), px.ACCESS.F_OK, { followSymlinks: false });
  throwsErrno(() => px.access(join(sub, "missing"), px.ACCESS.F_OK), errno.ENOENT);

  // The *at forms, from a directory fd.
  const d = px.open(sub, px.O.O_RDONLY | px.O.O_DIRECTORY);
  try {
    px.mkdir("inner", 0o700, { dirFd: d });
    px.symlink("inner", "to-inner", { dirFd: d });
    assert.equal(dec.decode(px.readlink("to-inner", { dirFd: d })), "inner");
    px.rename("inner", "inner2", { srcDirFd: d, dstDirFd: d });
    px.link("c", "c2", { srcDirFd: d, dstDirFd: d });
    px.mknod("fifo2", px.S.IFIFO | 0o600, 0, { dirFd: d });
    px.access("c2", px.ACCESS.R_OK, { dirFd: d });
    assert.ok(names(px.listdir(".", { dirFd: d })).includes("inner2"));
    px.unlink("c2", { dirFd: d });
    px.unlink("fifo2", { dirFd: d });
    px.unlink("to-inner", { dirFd: d });
    px.rmdir("inner2", { dirFd: d });
  } finally {
    px.close(d);
  }

  for (const name of px.listdir(sub)) px.unlink(join(sub, dec.decode(name)));
  assert.deepEqual(px.listdir(sub), []);
  px.rmdir(sub);
  throwsErrno(() => px.rmdir(sub), errno.ENOENT, "rmdir twice");
  throwsErrno(() => px.unlink(join(dir, "missing")), errno.ENOENT, "unlink");
}

function xattrs(dir: string): void {
  const file = join(dir, "f");
  const link = join(dir, "l");
  Deno.writeTextFileSync(file, "x");
  Deno.symlinkSync("f", link);
  px.setxattr(file, "user.one", enc.encode("1"));
  px.setxattr(enc.encode(file), enc.encode("user.two"), new Uint8Array([0, 0xff, 0]));
  assert.equal(dec.decode(px.getxattr(file, "user.one")), "1");
  assert.deepEqual([...px.getxattr(file, "user.two")], [0, 0xff, 0]);
  assert.deepEqual([...px.getxattr(link, "user.two")], [0, 0xff, 0], "follows the link");
  assert.deepEqual(names(px.listxattr(file)).filter((n) => n.startsWith("user.")), [
    "user.one",
    "user.two",
  ]);
  // A value larger than the first guess (ext4 holds up to a block), and an empty one.
  const big = new Uint8Array(3000).map((_, i) => i & 0xff);
  px.setxattr(file, "user.big", big);
  assert.deepEqual(px.getxattr(file, "user.big"), big);
  px.setxattr(file, "user.empty", new Uint8Array(0));
  assert.equal(px.getxattr(file, "user.empty").length, 0);
  throwsErrno(
    () => px.setxattr(file, "user.one", enc.encode("2"), px.XATTR_CREATE),
    errno.EEXIST,
    "XATTR_CREATE",
  );
  throwsErrno(
    () => px.setxattr(file, "user.none", enc.encode("2"), px.XATTR_REPLACE),
    errno.ENODATA,
    "XATTR_REPLACE",
  );
  px.setxattr(file, "user.one", enc.encode("one"), px.XATTR_REPLACE);
  assert.equal(dec.decode(px.getxattr(file, "user.one")), "one");

  // l*: the symlink itself has none of the target's (and takes no user.*).
  assert.deepEqual(names(px.llistxattr(link)).filter((n) => n.startsWith("user.")), []);
  throwsErrno(() => px.lgetxattr(link, "user.one"), errno.ENODATA, "lgetxattr");
  throwsErrno(() => px.lsetxattr(link, "user.x", enc.encode("x")), errno.EPERM, "lsetxattr");
  throwsErrno(() => px.lremovexattr(link, "user.one"), errno.EPERM, "lremovexattr");
  // ...and on a regular file they are the plain calls.
  px.lsetxattr(file, "user.three", enc.encode("3"));
  assert.equal(dec.decode(px.lgetxattr(file, "user.three")), "3");
  px.lremovexattr(file, "user.three");

  // f*: through a descriptor.
  const fd = px.open(file, px.O.O_RDONLY);
  try {
    px.fsetxattr(fd, "user.four", enc.encode("4"));
    assert.equal(dec.decode(px.fgetxattr(fd, "user.four")), "4");
    assert.ok(names(px.flistxattr(fd)).includes("user.four"));
    px.fremovexattr(fd, "user.four");
    throwsErrno(() => px.fgetxattr(fd, "user.four"), errno.ENODATA, "fgetxattr");
    throwsErrno(() => px.fremovexattr(fd, "user.four"), errno.ENODATA, "fremovexattr");
  } finally {
    px.close(fd);
  }
  throwsErrno(() => px.fgetxattr(BAD_FD, "user.one"), errno.EBADF);

  px.removexattr(file, "user.one");
  throwsErrno(() => px.getxattr(file, "user.one"), errno.ENODATA, "getxattr after remove");
  throwsErrno(() => px.removexattr(file, "user.one"), errno.ENODATA, "removexattr twice");
  throwsErrno(() => px.getxattr(join(dir, "missing"), "user.one"), errno.ENOENT);
  throwsErrno(() => px.listxattr(join(dir, "missing")), errno.ENOENT);
}

/** A name that is not UTF-8 ("caf" + Latin-1 "é" + 0xff) round-trips as bytes. */
function rawNames(dir: string): void {
  const raw = new Uint8Array([0x63, 0x61, 0x66, 0xe9, 0xff]);
  const dirBytes = enc.encode(dir + "/");
  const path = new Uint8Array([...dirBytes, ...raw]);
  px.mkdir(path, 0o755);
  const listed = px.listdir(dir);
  assert.equal(listed.length, 1);
  assert.deepEqual(listed[0], raw);
  // The key of a listed name maps back to the same bytes: the same directory.
  const key = fuse.nameKey(listed[0]);
  assert.deepEqual(fuse.nameBytes(key), raw);
  assert.equal(
    px.stat(new Uint8Array([...dirBytes, ...fuse.nameBytes(key)])).ino,
    px.stat(path).ino,
  );
  assert.equal(px.stat(path).mode & px.S.IFMT, px.S.IFDIR);
  // The key itself, as a string, is UTF-8 encoded: another name.
  throwsErrno(() => px.stat(join(dir, key)), errno.ENOENT, "a key passed as a path");
  // Inside it, through a directory fd, and as a symlink target.
  const d = px.open(path, px.O.O_RDONLY | px.O.O_DIRECTORY);
  try {
    px.symlink(raw, raw, { dirFd: d });
    assert.deepEqual(px.readlink(raw, { dirFd: d }), raw);
    assert.deepEqual(px.listdir(".", { dirFd: d }), [raw]);
    px.unlink(raw, { dirFd: d });
  } finally {
    px.close(d);
  }
  px.rmdir(path);
  assert.deepEqual(px.listdir(dir), []);
}

/** The process's umask, read without changing it (other threads may be creating files). */
function currentUmask(): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  return parseInt(/^Umask:\s*(\d+)/m.exec(status)![1], 8);
}

// ---------------------------------------------------------------------------
// On the host.

Deno.test("posix on the host: open, read, write, pread, pwrite, lseek, fsync, fdatasync, ftruncate, truncate", async () => {
  await inDir(descriptorIo);
});

Deno.test("posix on the host: preadAsync, pwriteAsync, fsyncAsync, fdatasyncAsync, with errno off the JS thread", async () => {
  await inDir(asyncIo);
});

Deno.test("posix on the host: stat, lstat, fstat, fstatat, statvfs, fstatvfs", async () => {
  await inDir(stats);
});

Deno.test("posix on the host: chmod, fchmod, chown, fchown, lchown, utime, futimens, utimensat", async () => {
  await inDir((dir) => attrs(dir, { owner: Deno.uid() === 0 }));
});

Deno.test("posix on the host: mkdir, rmdir, unlink, rename with flags, link, symlink, readlink, mknod, listdir, access", async () => {
  await inDir((dir) => namespace(dir, { devices: Deno.uid() === 0 }));
});

Deno.test("posix on the host: xattrs by path, by symlink (l*) and by descriptor (f*)", async () => {
  // user.* xattrs: ext4 and most disk filesystems; the host's tmp dir here is on one.
  await inDir(xattrs, "/var/tmp");
});

Deno.test("posix on the host: a non-UTF-8 name round-trips through mkdir, listdir, stat, symlink, readlink", async () => {
  await inDir(rawNames);
});

Deno.test("posix: arguments a call cannot take are RangeErrors; paths with NUL are EINVAL; cstr and EMPTY", () => {
  px.acquireLibc();
  try {
    assert.throws(() => px.pread(0, -1, 0), RangeError);
    assert.throws(() => px.pread(0, 1, 1.5), RangeError);
    assert.throws(() => px.lseek(0, 2n ** 63n, px.SEEK_SET), RangeError);
    assert.throws(() => px.ftruncate(0, Number.MAX_SAFE_INTEGER + 1), RangeError);
    throwsErrno(() => px.stat("a\0b"), errno.EINVAL, "NUL inside a string");
    throwsErrno(
      () => px.stat(new Uint8Array([0x61, 0, 0x62, 0])),
      errno.EINVAL,
      "NUL inside bytes",
    );
    // A C string (cstr's output) is taken as it is, EMPTY is the empty path.
    assert.equal(px.stat(px.cstr("/")).ino, px.stat("/").ino);
    throwsErrno(() => px.stat(px.EMPTY), errno.ENOENT, "the empty path");
    assert.deepEqual([...px.cstr(new Uint8Array([0xe9]))], [0xe9, 0]);
    assert.deepEqual([...px.cstr("é")], [0xc3, 0xa9, 0]);
    assert.deepEqual([...px.cstr(fuse.nameBytes(fuse.nameKey(new Uint8Array([0xe9]))))], [
      0xe9,
      0,
    ]);
    assert.throws(() => fuse.nameBytes("\u0100"), TypeError);
  } finally {
    px.releaseLibc();
  }
});

// ---------------------------------------------------------------------------
// Through a real FUSE mount.

Deno.test("posix through a FUSE mount (tmpfs.ts in a Worker): the same checks answer as on the host", async () => {
  const mnt = await Deno.makeTempDir({ prefix: "denofuse-mnt-" });
  try {
    await using fs = await fuse.mountInWorker(
      { module: new URL("../examples/tmpfs.ts", import.meta.url).href, export: "TmpFs" },
      mnt,
      ["default_permissions", "fsname=denofuse-posix"],
    );
    assert.equal(fs.mountpoint, mnt);
    await inDir(descriptorIo, mnt);
    await inDir(asyncIo, mnt);
    await inDir(stats, mnt);
    await inDir((dir) => attrs(dir, { owner: Deno.uid() === 0 }), mnt);
    await inDir((dir) => namespace(dir, { devices: Deno.uid() === 0 }), mnt);
    await inDir(xattrs, mnt);
    await inDir(rawNames, mnt);
    px.acquireLibc();
    try {
      // statvfs answers from the filesystem's statfs handler, not the host's.
      assert.equal(px.statvfs(mnt).bsize, PAGE_SIZE);
      assert.equal(px.stat(mnt).ino, 1n);
    } finally {
      px.releaseLibc();
    }
  } finally {
    await Deno.remove(mnt);
  }
});

Deno.test("a handler that rethrows a posix call's FUSEError answers the kernel its errno", async () => {
  // A read-only mirror of one host directory, in this process: its handlers
  // call posix on the host (never on the mount) and let errors through.
  px.acquireLibc();
  const host = Deno.makeTempDirSync({ prefix: "denofuse-posix-host-" });
  try {
    Deno.writeTextFileSync(join(host, "present"), "here\n");
    const inodes = new Map<number, Uint8Array>([[fuse.ROOT_INODE, enc.encode(host)]]);
    const attrOf = (path: Uint8Array, ino: number) => {
      const st = px.lstat(path); // throws FUSEError(ENOENT) for a missing name
      return new fuse.EntryAttributes({
        stIno: ino,
        stMode: st.mode,
        stNlink: st.nlink,
        stSize: st.size,
        stMtimeNs: st.mtimeNs,
        attrTimeout: 0,
        entryTimeout: 0,
      });
    };
    const ops: fuse.Operations = {
      getattr: (inode) => attrOf(inodes.get(inode)!, inode),
      lookup: (parent, name) => {
        const path = new Uint8Array([...inodes.get(parent)!, 0x2f, ...name]);
        const attr = attrOf(path, 0);
        const ino = inodes.size + 1;
        inodes.set(ino, path);
        attr.stIno = ino;
        return attr;
      },
      open: (inode) => {
        return new fuse.FileInfo({ fh: px.open(inodes.get(inode)!, px.O.O_RDONLY) });
      },
      read: (fh, off, size) => px.pread(fh, size, off),
      release: (fh) => px.close(fh),
      access: (inode, mode) => {
        px.access(inodes.get(inode)!, mode);
        return true;
      },
      // getxattr of a name the host file has no xattr for: ENODATA.
      getxattr: (inode, name) => px.getxattr(inodes.get(inode)!, name),
    };
    await withMount(ops, async (mnt) => {
      const cat = await sh("cat", [join(mnt, "present")]);
      assert.equal(cat.stdout, "here\n", cat.stderr);
      const missing = await sh("stat", [join(mnt, "absent")]);
      assert.notEqual(missing.code, 0);
      assert.match(missing.stderr, /No such file or directory/);
      const xattr = await sh("getfattr", ["-n", "user.none", join(mnt, "present")]);
      assert.match(xattr.stderr, /No such attribute/);
    }, { options: ["fsname=denofuse-posix-rethrow"] });
  } finally {
    Deno.removeSync(host, { recursive: true });
    px.releaseLibc();
  }
});

#!/usr/bin/env python3
"""One worker of a mixed metadata and data load on a mounted filesystem.

    python3 load.py MOUNTPOINT WORKER_ID SECONDS

For SECONDS the worker does random operations in its own subtree
MOUNTPOINT/w<WORKER_ID> — create, write, append, truncate, read-verify,
rename (files and directories, replacing files), hard link, unlink, symlink
and readlink, mkdir, rmdir, readdir, stat, chmod, and extended attributes
(set, get, list, remove) — and checks every result against an in-memory
model of that subtree: any difference is a mismatch, any error the model
does not predict is an error.

About one operation in five goes to MOUNTPOINT/shared, which all workers
use at once: files are published there by writing a private temporary file
and renaming it over a shared name, then read back, hard linked, renamed,
unlinked, listed and given extended attributes by everyone. Those races may
answer ENOENT, EEXIST, ENOTEMPTY or ENODATA, and a listing may show a name
twice if it was renamed over meanwhile (POSIX leaves open whether readdir
shows files added or removed after opendir); these are counted as races,
not errors. But every shared file that can be read must be complete and
intact (its content carries its own length and SHA-256), and a listing may
only hold names the workers use.

Workers also increment two shared counters (shared/counter_flock and
shared/counter_fcntl, 8-byte little-endian integers) under flock(2) and
fcntl(2) exclusive locks, and report how many increments they made: if the
locks exclude each other, the final counters equal the sums (checked by
the caller).

At the end the worker removes its subtree and checks it is empty. Prints one
JSON line (counts per operation, races, errors, mismatches, ops/s) and exits
0, or 1 if there was any error or mismatch.
"""

import collections
import errno
import fcntl
import hashlib
import json
import os
import random
import stat
import struct
import sys
import time

MAGIC = b"DFLD"
SHARED_FILES = 24
SHARED_DIRS = 4
MAX_ENTRIES = 160
MODES = (0o600, 0o640, 0o644, 0o660, 0o700, 0o755)
COUNTERS = ("counter_flock", "counter_fcntl")
RACY = {errno.ENOENT, errno.EEXIST, errno.ENOTEMPTY, errno.ENODATA}


class Obj:
    """A regular file's inode in the model: shared by its hard links."""

    def __init__(self, data, mode):
        self.data = bytearray(data)
        self.mode = mode
        self.xattrs = {}
        self.ino = None


class Worker:
    def __init__(self, mnt, wid, seconds):
        self.mnt = mnt
        self.wid = wid
        self.seconds = seconds
        self.rng = random.Random(1000003 * (wid + 1))
        self.root = os.path.join(mnt, "w%d" % wid)
        self.shared = os.path.join(mnt, "shared")
        # Relative paths: directories, files (to their Obj) and symlinks (to their target).
        self.dirs = {""}
        self.files = {}
        self.links = {}
        self.counts = collections.Counter()
        self.races = collections.Counter()
        self.errors = []
        self.mismatches = []
        self.serial = 0
        self.increments = collections.Counter()

    # ---- bookkeeping ----

    def p(self, rel):
        return os.path.join(self.root, rel) if rel else self.root

    def sp(self, rel):
        return os.path.join(self.shared, rel)

    def new_name(self, prefix):
        self.serial += 1
        return "%s%d" % (prefix, self.serial)

    def mismatch(self, what):
        self.mismatches.append(what)

    def error(self, op, e):
        self.errors.append("%s: %s" % (op, e))

    def entries(self):
        return len(self.dirs) + len(self.files) + len(self.links)

    def children(self, d):
        prefix = d + "/" if d else ""
        names = set()
        for coll in (self.dirs, self.files, self.links):
            for rel in coll:
                if rel and rel.startswith(prefix) and "/" not in rel[len(prefix):]:
                    names.add(rel[len(prefix):])
        return names

    def nlink(self, obj):
        return sum(1 for o in self.files.values() if o is obj)

    def pick(self, coll):
        return self.rng.choice(sorted(coll)) if coll else None

    def payload(self, n):
        return self.rng.randbytes(n)

    def size(self):
        r = self.rng.random()
        return self.rng.randint(0, 512) if r < 0.5 else self.rng.randint(0, 64 * 1024) if r < 0.95 \
            else self.rng.randint(64 * 1024, 512 * 1024)

    def read_all(self, path):
        fd = os.open(path, os.O_RDONLY)
        try:
            chunks = []
            while True:
                b = os.read(fd, 1 << 20)
                if not b:
                    return b"".join(chunks)
                chunks.append(b)
        finally:
            os.close(fd)

    # ---- private subtree ----

    def op_create(self):
        if self.entries() >= MAX_ENTRIES:
            return self.op_unlink()
        rel = os.path.join(self.pick(self.dirs), self.new_name("f")).lstrip("/")
        data = self.payload(self.size())
        mode = self.rng.choice(MODES)
        fd = os.open(self.p(rel), os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode)
        try:
            if os.write(fd, data) != len(data):
                self.mismatch("short write creating %s" % rel)
        finally:
            os.close(fd)
        self.files[rel] = Obj(data, mode)

    def op_write(self):
        rel = self.pick(self.files)
        if rel is None:
            return self.op_create()
        obj = self.files[rel]
        if obj.mode & 0o200 == 0:
            os.chmod(self.p(rel), obj.mode | 0o600)
            obj.mode |= 0o600
        data = self.payload(self.size() // 4 + 1)
        append = self.rng.random() < 0.3
        fd = os.open(self.p(rel), os.O_WRONLY | (os.O_APPEND if append else 0))
        try:
            if append:
                off = len(obj.data)
                n = os.write(fd, data)
            else:
                off = self.rng.randint(0, len(obj.data) + 100)
                n = os.pwrite(fd, data, off)
        finally:
            os.close(fd)
        if n != len(data):
            self.mismatch("short write to %s" % rel)
        end = off + len(data)
        if end > len(obj.data):
            obj.data.extend(bytes(end - len(obj.data)))
        obj.data[off:end] = data

    def op_truncate(self):
        rel = self.pick(self.files)
        if rel is None:
            return
        obj = self.files[rel]
        if obj.mode & 0o200 == 0:
            return
        n = self.rng.randint(0, len(obj.data) + 4096)
        os.truncate(self.p(rel), n)
        if n < len(obj.data):
            del obj.data[n:]
        else:
            obj.data.extend(bytes(n - len(obj.data)))

    def op_read(self):
        rel = self.pick(self.files)
        if rel is None:
            return
        obj = self.files[rel]
        if obj.mode & 0o400 == 0:
            return
        got = self.read_all(self.p(rel))
        if got != bytes(obj.data):
            first = next((i for i in range(min(len(got), len(obj.data))) if got[i] != obj.data[i]),
                         min(len(got), len(obj.data)))
            self.mismatch("content of %s: %d bytes read, %d expected, first difference at %d"
                          % (rel, len(got), len(obj.data), first))

    def op_stat(self):
        kind = self.rng.random()
        if kind < 0.6 and self.files:
            rel = self.pick(self.files)
            obj = self.files[rel]
            st = os.lstat(self.p(rel))
            if not stat.S_ISREG(st.st_mode) or stat.S_IMODE(st.st_mode) != obj.mode:
                self.mismatch("mode of %s: %o, expected %o" % (rel, st.st_mode, obj.mode))
            if st.st_size != len(obj.data):
                self.mismatch("size of %s: %d, expected %d" % (rel, st.st_size, len(obj.data)))
            if st.st_nlink != self.nlink(obj):
                self.mismatch("nlink of %s: %d, expected %d" % (rel, st.st_nlink, self.nlink(obj)))
            if obj.ino is None:
                obj.ino = st.st_ino
            elif obj.ino != st.st_ino:
                self.mismatch("inode of %s changed: %d, was %d" % (rel, st.st_ino, obj.ino))
        elif kind < 0.8 and self.links:
            rel = self.pick(self.links)
            st = os.lstat(self.p(rel))
            target = os.readlink(self.p(rel))
            if not stat.S_ISLNK(st.st_mode) or target != self.links[rel]:
                self.mismatch("symlink %s: %r, expected %r" % (rel, target, self.links[rel]))
        else:
            rel = self.pick(self.dirs)
            st = os.lstat(self.p(rel))
            subdirs = sum(1 for n in self.children(rel) if os.path.join(rel, n).lstrip("/") in self.dirs)
            if not stat.S_ISDIR(st.st_mode) or st.st_nlink != 2 + subdirs:
                self.mismatch("directory %r: mode %o nlink %d, expected nlink %d"
                              % (rel, st.st_mode, st.st_nlink, 2 + subdirs))

    def op_rename_file(self):
        rel = self.pick(self.files) if self.rng.random() < 0.8 or not self.links else self.pick(self.links)
        if rel is None:
            return
        coll = self.files if rel in self.files else self.links
        if self.rng.random() < 0.3 and len(self.files) > 1 and coll is self.files:
            # Over an existing file: the old name's link goes away.
            dst = self.pick(set(self.files) - {rel})
        else:
            dst = os.path.join(self.pick(self.dirs), self.new_name("r")).lstrip("/")
        os.rename(self.p(rel), self.p(dst))
        if self.files.get(dst) is not None and self.files[dst] is self.files.get(rel):
            return  # two links of one inode: rename does nothing
        value = coll.pop(rel)
        self.files.pop(dst, None)
        coll[dst] = value

    def op_rename_dir(self):
        movable = sorted(d for d in self.dirs if d)
        if not movable:
            return self.op_mkdir()
        src = self.rng.choice(movable)
        depth = max(d.count("/") for d in self.dirs if d == src or d.startswith(src + "/"))
        parents = sorted(d for d in self.dirs if d != src and not d.startswith(src + "/")
                         and d.count("/") + depth - src.count("/") < 6)
        if not parents:
            return
        dst = os.path.join(self.rng.choice(parents), self.new_name("D")).lstrip("/")
        os.rename(self.p(src), self.p(dst))

        def moved(rel):
            return dst + rel[len(src):] if rel == src or rel.startswith(src + "/") else rel

        self.dirs = {moved(d) for d in self.dirs}
        self.files = {moved(k): v for k, v in self.files.items()}
        self.links = {moved(k): v for k, v in self.links.items()}

    def op_link(self):
        rel = self.pick(self.files)
        if rel is None or self.entries() >= MAX_ENTRIES:
            return
        dst = os.path.join(self.pick(self.dirs), self.new_name("h")).lstrip("/")
        os.link(self.p(rel), self.p(dst))
        self.files[dst] = self.files[rel]

    def op_symlink(self):
        if self.entries() >= MAX_ENTRIES:
            return
        dst = os.path.join(self.pick(self.dirs), self.new_name("s")).lstrip("/")
        target = self.pick(self.files) or "nowhere"
        target = "../" * dst.count("/") + target + "?" * self.rng.randint(0, 3)
        os.symlink(target, self.p(dst))
        self.links[dst] = target

    def op_unlink(self):
        rel = self.pick(self.files) if self.rng.random() < 0.85 or not self.links else self.pick(self.links)
        if rel is None:
            return
        os.unlink(self.p(rel))
        (self.files if rel in self.files else self.links).pop(rel)

    def op_mkdir(self):
        if self.entries() >= MAX_ENTRIES:
            return self.op_rmdir()
        parent = self.pick(self.dirs)
        if parent.count("/") >= 4:
            parent = ""
        rel = os.path.join(parent, self.new_name("d")).lstrip("/")
        os.mkdir(self.p(rel), 0o755)
        self.dirs.add(rel)

    def op_rmdir(self):
        rel = self.pick(self.dirs - {""})
        if rel is None:
            return
        if self.children(rel):
            try:
                os.rmdir(self.p(rel))
            except OSError as e:
                if e.errno != errno.ENOTEMPTY:
                    raise
                return
            self.mismatch("rmdir of non-empty %s succeeded" % rel)
        else:
            os.rmdir(self.p(rel))
        self.dirs.discard(rel)

    def op_readdir(self):
        rel = self.pick(self.dirs)
        names = os.listdir(self.p(rel))
        if len(names) != len(set(names)):
            self.mismatch("readdir of %r repeats names" % rel)
        if set(names) != self.children(rel):
            self.mismatch("readdir of %r: extra %s, missing %s" % (
                rel, sorted(set(names) - self.children(rel))[:5],
                sorted(self.children(rel) - set(names))[:5]))

    def op_chmod(self):
        rel = self.pick(self.files)
        if rel is None:
            return
        mode = self.rng.choice(MODES)
        os.chmod(self.p(rel), mode)
        self.files[rel].mode = mode
        got = stat.S_IMODE(os.stat(self.p(rel)).st_mode)
        if got != mode:
            self.mismatch("chmod %s %o: mode is %o" % (rel, mode, got))

    def op_xattr(self):
        rel = self.pick(self.files)
        if rel is None:
            return
        obj = self.files[rel]
        path = self.p(rel)
        r = self.rng.random()
        if r < 0.45 or not obj.xattrs:
            name = "user.k%d" % self.rng.randint(0, 5)
            value = self.payload(self.rng.randint(0, 300))
            os.setxattr(path, name, value)
            obj.xattrs[name] = value
        elif r < 0.8:
            name = self.rng.choice(sorted(obj.xattrs))
            got = os.getxattr(path, name)
            if got != obj.xattrs[name]:
                self.mismatch("xattr %s of %s: %d bytes, expected %d" % (name, rel, len(got), len(obj.xattrs[name])))
        elif r < 0.9:
            got = set(os.listxattr(path))
            if got != set(obj.xattrs):
                self.mismatch("listxattr of %s: %s, expected %s" % (rel, sorted(got), sorted(obj.xattrs)))
        else:
            name = self.rng.choice(sorted(obj.xattrs))
            os.removexattr(path, name)
            del obj.xattrs[name]

    # ---- the shared directory ----

    def shared_name(self):
        if self.rng.random() < 0.25:
            return "d%d/s%d" % (self.rng.randrange(SHARED_DIRS), self.rng.randrange(SHARED_FILES))
        return "s%d" % self.rng.randrange(SHARED_FILES)

    def check_shared(self, name, blob):
        if len(blob) < 44 or blob[:4] != MAGIC:
            self.mismatch("shared %s: bad header (%d bytes)" % (name, len(blob)))
            return
        (n,) = struct.unpack("<Q", blob[4:12])
        body = blob[44:]
        if n != len(body) or hashlib.sha256(body).digest() != blob[12:44]:
            self.mismatch("shared %s: torn or corrupt (%d bytes, header says %d)" % (name, len(body), n))

    def op_shared(self):
        r = self.rng.random()
        name = self.shared_name()
        path = self.sp(name)
        try:
            if r < 0.25:
                # Publish: a complete private file renamed over the shared name.
                body = self.payload(self.size())
                blob = MAGIC + struct.pack("<Q", len(body)) + hashlib.sha256(body).digest() + body
                tmp = self.p(self.new_name(".pub"))
                fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                try:
                    os.write(fd, blob)
                    if self.rng.random() < 0.1:
                        os.fsync(fd)
                finally:
                    os.close(fd)
                try:
                    os.rename(tmp, path)
                except OSError:
                    os.unlink(tmp)
                    raise
                self.counts["shared_publish"] += 1
            elif r < 0.5:
                self.check_shared(name, self.read_all(path))
                self.counts["shared_read"] += 1
            elif r < 0.58:
                os.link(path, self.sp(self.shared_name()))
                self.counts["shared_link"] += 1
            elif r < 0.66:
                os.rename(path, self.sp(self.shared_name()))
                self.counts["shared_rename"] += 1
            elif r < 0.72:
                os.unlink(path)
                self.counts["shared_unlink"] += 1
            elif r < 0.78:
                d = self.sp("d%d" % self.rng.randrange(SHARED_DIRS))
                if self.rng.random() < 0.5:
                    os.mkdir(d)
                    self.counts["shared_mkdir"] += 1
                else:
                    os.rmdir(d)
                    self.counts["shared_rmdir"] += 1
            elif r < 0.88:
                names = os.listdir(self.shared)
                # A name replaced (renamed over) while the listing is in
                # progress may be listed twice, once per file: POSIX leaves
                # it unspecified whether readdir returns a file added or
                # removed after opendir. Counted, not an error.
                if len(names) != len(set(names)):
                    self.races["readdir_repeat"] += 1
                for n in names:
                    if not (n[0] in "sd" and n[1:].isdigit()) and n not in COUNTERS:
                        self.mismatch("readdir of shared shows %r" % n)
                for n in self.rng.sample(names, min(3, len(names))):
                    try:
                        os.lstat(self.sp(n))
                    except OSError as e:
                        if e.errno != errno.ENOENT:
                            raise
                        self.races["ENOENT"] += 1
                self.counts["shared_readdir"] += 1
            elif r < 0.94:
                st = os.lstat(path)
                if not stat.S_ISREG(st.st_mode) or st.st_size < 44:
                    self.mismatch("shared %s: mode %o size %d" % (name, st.st_mode, st.st_size))
                self.counts["shared_stat"] += 1
            else:
                key = "user.w%d" % self.wid
                value = ("%d:%s" % (self.wid, name)).encode() * self.rng.randint(1, 20)
                os.setxattr(path, key, value)
                try:
                    got = os.getxattr(path, key)
                except OSError as e:
                    if e.errno not in RACY:
                        raise
                    self.races[errno.errorcode[e.errno]] += 1
                    got = None
                # Another worker may have renamed a different file over the name meanwhile.
                if got is not None and got != value and not got.startswith(b"%d:" % self.wid):
                    self.mismatch("shared xattr %s of %s: %r" % (key, name, got[:40]))
                self.counts["shared_xattr"] += 1
        except OSError as e:
            if e.errno in RACY:
                self.races[errno.errorcode[e.errno]] += 1
            else:
                raise

    def op_counter(self):
        """Increments a shared counter under an exclusive lock: lost updates show at the end."""
        kind = "flock" if self.rng.random() < 0.5 else "fcntl"
        fd = os.open(self.sp("counter_" + kind), os.O_RDWR | os.O_CREAT, 0o666)
        try:
            if kind == "flock":
                fcntl.flock(fd, fcntl.LOCK_EX)
            else:
                fcntl.lockf(fd, fcntl.LOCK_EX, 8, 0)
            raw = os.pread(fd, 8, 0)
            if len(raw) not in (0, 8):
                self.mismatch("counter_%s holds %d bytes" % (kind, len(raw)))
            value = struct.unpack("<Q", raw)[0] if len(raw) == 8 else 0
            os.pwrite(fd, struct.pack("<Q", value + 1), 0)
            self.increments[kind] += 1
            # Now and then leave the unlocking to close(2).
            if self.rng.random() < 0.7:
                if kind == "flock":
                    fcntl.flock(fd, fcntl.LOCK_UN)
                else:
                    fcntl.lockf(fd, fcntl.LOCK_UN, 8, 0)
        finally:
            os.close(fd)

    # ---- driver ----

    OPS = (
        ("create", 10), ("write", 10), ("truncate", 3), ("read", 14), ("stat", 10),
        ("rename_file", 6), ("rename_dir", 2), ("link", 4), ("symlink", 2), ("unlink", 7),
        ("mkdir", 3), ("rmdir", 2), ("readdir", 6), ("chmod", 3), ("xattr", 6),
        ("shared", 22), ("counter", 3),
    )

    def run(self):
        # Modes in the model are exactly what was asked for.
        os.umask(0)
        os.mkdir(self.root, 0o755)
        try:
            os.mkdir(self.shared, 0o777)
        except FileExistsError:
            pass
        names = [n for n, _ in self.OPS]
        weights = [w for _, w in self.OPS]
        started = time.monotonic()
        deadline = started + self.seconds
        ops = 0
        while time.monotonic() < deadline and len(self.errors) < 20 and len(self.mismatches) < 20:
            for _ in range(20):
                name = self.rng.choices(names, weights)[0]
                try:
                    getattr(self, "op_" + name)()
                except OSError as e:
                    self.error(name, e)
                self.counts[name] += 1
                ops += 1
        elapsed = time.monotonic() - started
        self.cleanup()
        return ops, elapsed

    def cleanup(self):
        """Removes the subtree, deepest first, and checks the model agrees it is gone."""
        try:
            for rel in list(self.files) + list(self.links):
                os.unlink(self.p(rel))
            for rel in sorted(self.dirs - {""}, key=lambda d: -d.count("/")):
                os.rmdir(self.p(rel))
            left = os.listdir(self.root)
            if left:
                self.mismatch("after cleanup %s still holds %s" % (self.root, left[:5]))
            os.rmdir(self.root)
        except OSError as e:
            self.error("cleanup", e)


def main():
    if len(sys.argv) != 4:
        print("usage: load.py MOUNTPOINT WORKER_ID SECONDS", file=sys.stderr)
        sys.exit(2)
    w = Worker(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
    ops, elapsed = w.run()
    summary = {
        "worker": w.wid,
        "ops": ops,
        "seconds": round(elapsed, 2),
        "ops_per_s": round(ops / elapsed) if elapsed else 0,
        "errors": len(w.errors),
        "mismatches": len(w.mismatches),
        "races": dict(w.races),
        "increments": {"flock": w.increments["flock"], "fcntl": w.increments["fcntl"]},
        "counts": dict(sorted(w.counts.items())),
        "error_samples": w.errors[:10],
        "mismatch_samples": w.mismatches[:10],
    }
    print(json.dumps(summary))
    sys.exit(1 if w.errors or w.mismatches else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""fsx-style data integrity exerciser for one file.

    python3 fsx.py FILE SEED NUM_OPS [--max-size BYTES] [--check-every N]

Applies NUM_OPS random operations to FILE (created or truncated first) and
mirrors each in an in-memory model of the file's contents (a bytearray):
writes (pwrite and pwritev, small and 1 MiB ones, sparse ones far past the
end), truncates up and down, fallocate (preallocate, KEEP_SIZE, PUNCH_HOLE,
ZERO_RANGE), copy_file_range inside the file, fsync/fdatasync, close and
reopen (sometimes with O_TRUNC), pread and mmap reads. Every read is
compared with the model at once, the size is compared after every operation
that may change it, and the whole file is compared every --check-every
operations and at the end.

The run is a pure function of SEED (and of which optional operations the
filesystem refuses with EOPNOTSUPP: those are skipped from then on, with a
note on stderr).

On success prints one JSON line:
    {"ops": ..., "reads": ..., "writes": ..., "truncates": ..., "punches": ...,
     "fsyncs": ..., "reopens": ..., "mismatches": 0, "bytes_written": ..., ...}
and exits 0. On a mismatch prints the tail of the operation log, the first
differing offset and the bytes around it on stderr, a JSON line with
"mismatches": 1 on stdout, and exits 1. An unexpected error exits 1 too.
"""

import argparse
import collections
import ctypes
import errno
import json
import mmap
import os
import random
import sys
import time

FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_ZERO_RANGE = 0x10

KIB = 1024
MIB = 1024 * KIB

_libc = ctypes.CDLL(None, use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
_libc.fallocate.restype = ctypes.c_int


def fallocate(fd, mode, offset, length):
    """fallocate(2) itself: os.posix_fallocate has no mode argument."""
    if _libc.fallocate(fd, mode, offset, length) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


class Mismatch(Exception):
    pass


class Fsx:
    def __init__(self, path, seed, num_ops, max_size, check_every):
        self.path = path
        self.seed = seed
        self.num_ops = num_ops
        self.max_size = max_size
        self.check_every = check_every
        self.rng = random.Random(seed)
        self.model = bytearray()
        self.log = collections.deque(maxlen=40)
        self.op_no = 0
        self.unsupported = set()
        self.stats = collections.Counter()
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        self.page = mmap.ALLOCATIONGRANULARITY

    # ---- helpers ----

    def note(self, text):
        self.log.append("#%d %s" % (self.op_no, text))

    def data(self, n):
        return self.rng.randbytes(n)

    def length(self):
        """A request length: mostly small, now and then up to 1 MiB."""
        r = self.rng.random()
        if r < 0.35:
            n = self.rng.randint(1, 512)
        elif r < 0.75:
            n = self.rng.randint(1, 8 * KIB)
        elif r < 0.97:
            n = self.rng.randint(1, 128 * KIB)
        else:
            n = self.rng.randint(512 * KIB, 1 * MIB + 4 * KIB)
        return min(n, self.max_size // 2)

    def offset(self, length, beyond=0):
        """An offset, mostly inside or just past the current end."""
        size = len(self.model)
        top = min(self.max_size - length, size + beyond)
        if top <= 0:
            return 0
        if self.rng.random() < 0.2:
            # Unaligned near a 4 KiB or 64 KiB boundary, where chunked
            # implementations split requests.
            edge = self.rng.choice((4 * KIB, 64 * KIB, 128 * KIB))
            at = self.rng.randint(0, top // edge) * edge + self.rng.randint(-3, 3)
            return max(0, min(top, at))
        return self.rng.randint(0, top)

    def set_range(self, off, buf):
        end = off + len(buf)
        if end > len(self.model):
            self.model.extend(bytes(end - len(self.model)))
        self.model[off:end] = buf

    def resize(self, size):
        if size < len(self.model):
            del self.model[size:]
        else:
            self.model.extend(bytes(size - len(self.model)))

    def unsupported_op(self, name, e):
        if e.errno in (errno.EOPNOTSUPP, errno.ENOSYS):
            if name not in self.unsupported:
                self.unsupported.add(name)
                print(
                    "fsx: %s not supported here (%s); skipping it from now on"
                    % (name, errno.errorcode.get(e.errno, e.errno)),
                    file=sys.stderr,
                )
            return True
        return False

    def compare(self, what, off, got, requested):
        """`got` must be exactly the model's bytes: short only at the end of the file."""
        expected = bytes(self.model[off:off + requested])
        if got != expected:
            self.fail(what, off, got, expected)

    def fail(self, what, off, got, expected):
        first = None
        for i in range(min(len(got), len(expected))):
            if got[i] != expected[i]:
                first = i
                break
        if first is None:
            first = min(len(got), len(expected))
        at = off + first
        lines = [
            "fsx: MISMATCH in %s at op #%d (seed %d): %d bytes read at offset %d, "
            "%d expected; file size in model %d"
            % (what, self.op_no, self.seed, len(got), off, len(expected), len(self.model)),
            "fsx: first differing file offset: %d (0x%x)" % (at, at),
            "fsx:   expected %s" % expected[first:first + 32].hex(),
            "fsx:   got      %s" % got[first:first + 32].hex(),
        ]
        bad = [i for i in range(min(len(got), len(expected))) if got[i] != expected[i]]
        if bad:
            lines.append(
                "fsx: %d differing bytes in [%d, %d)" % (len(bad), off + bad[0], off + bad[-1] + 1)
            )
        print("\n".join(lines), file=sys.stderr)
        self.print_log()
        raise Mismatch()

    def print_log(self):
        print("fsx: last operations:", file=sys.stderr)
        for entry in self.log:
            print("fsx:   " + entry, file=sys.stderr)
        print("fsx: reproduce with: fsx.py FILE %d %d --max-size %d --check-every %d"
              % (self.seed, self.num_ops, self.max_size, self.check_every), file=sys.stderr)

    def check_size(self):
        size = os.fstat(self.fd).st_size
        if size != len(self.model):
            print(
                "fsx: SIZE MISMATCH at op #%d (seed %d): fstat says %d, model %d"
                % (self.op_no, self.seed, size, len(self.model)),
                file=sys.stderr,
            )
            self.print_log()
            raise Mismatch()

    def full_check(self):
        self.check_size()
        off = 0
        while True:
            got = os.pread(self.fd, 1 * MIB, off)
            if not got:
                break
            self.compare("full-file read", off, got, 1 * MIB)
            off += len(got)
        if off != len(self.model):
            self.fail("full-file read (ends early)", off, b"", bytes(self.model[off:off + 32]))
        self.stats["full_checks"] += 1

    # ---- operations ----

    def op_read(self):
        size = len(self.model)
        n = self.length()
        off = self.rng.randint(0, size + 64) if self.rng.random() < 0.1 else self.offset(n)
        self.note("read off=%d len=%d (size %d)" % (off, n, size))
        got = os.pread(self.fd, n, off)
        self.stats["reads"] += 1
        self.stats["bytes_read"] += len(got)
        self.compare("read", off, got, n)

    def op_write(self, kind):
        n = self.length()
        if kind == "sparse":
            # Well past the end: leaves a hole that must read as zeros.
            size = len(self.model)
            lo = min(size + 256 * KIB, self.max_size - n)
            off = self.rng.randint(max(0, lo), max(0, self.max_size - n))
        else:
            off = self.offset(n)
        buf = self.data(n)
        if kind == "writev":
            cuts = sorted(self.rng.sample(range(1, n), min(3, n - 1))) if n > 1 else []
            parts = [buf[a:b] for a, b in zip([0] + cuts, cuts + [n])]
            self.note("pwritev off=%d len=%d in %d parts (size %d)" % (off, n, len(parts), len(self.model)))
            done = os.pwritev(self.fd, parts, off)
        else:
            self.note("%s off=%d len=%d (size %d)" % (
                "sparse write" if kind == "sparse" else "write", off, n, len(self.model)))
            done = os.pwrite(self.fd, buf, off)
        if done != n:
            print("fsx: short write at op #%d: %d of %d bytes" % (self.op_no, done, n), file=sys.stderr)
            raise Mismatch()
        self.set_range(off, buf)
        self.stats["writes"] += 1
        self.stats["bytes_written"] += n
        self.check_size()

    def op_truncate(self, up):
        size = len(self.model)
        if up:
            new = self.rng.randint(size, max(size, min(self.max_size, size + 2 * MIB)))
        else:
            # Mostly shortening a little, so that data lives long enough to be read back.
            new = self.rng.randint(0, size) if self.rng.random() < 0.25 else self.rng.randint(
                max(0, size - 64 * KIB), size)
        self.note("truncate %s %d -> %d" % ("up" if up else "down", size, new))
        os.ftruncate(self.fd, new)
        self.resize(new)
        self.stats["truncates"] += 1
        self.check_size()

    def op_fallocate(self, kind):
        if kind in self.unsupported:
            return
        size = len(self.model)
        n = self.rng.randint(1, min(256 * KIB, self.max_size // 2))
        off = self.offset(n, beyond=64 * KIB)
        mode = {
            "punch": FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
            "zero": FALLOC_FL_ZERO_RANGE,
            "zero-keep": FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
            "alloc": 0,
            "alloc-keep": FALLOC_FL_KEEP_SIZE,
        }[kind]
        self.note("fallocate %s off=%d len=%d (size %d)" % (kind, off, n, size))
        try:
            fallocate(self.fd, mode, off, n)
        except OSError as e:
            if self.unsupported_op(kind, e):
                return
            raise
        end = off + n
        if kind == "punch" or kind.startswith("zero"):
            zero_end = min(end, size)
            if off < zero_end:
                self.model[off:zero_end] = bytes(zero_end - off)
        if not kind.endswith("keep") and kind != "punch" and end > size:
            self.resize(end)
        self.stats["punches" if kind == "punch" else "fallocates"] += 1
        self.check_size()

    def op_copy_range(self):
        if "copy_file_range" in self.unsupported:
            return
        size = len(self.model)
        if size < 2:
            return
        n = self.rng.randint(1, min(size, 256 * KIB, self.max_size // 2))
        src = self.rng.randint(0, size - 1)
        avail = min(n, size - src)
        # Destination must not overlap the source inside one file.
        for _ in range(8):
            dst = self.rng.randint(0, min(self.max_size - n, size + 64 * KIB))
            if dst + n <= src or dst >= src + n:
                break
        else:
            return
        self.note("copy_file_range src=%d dst=%d len=%d (size %d)" % (src, dst, n, size))
        try:
            done = os.copy_file_range(self.fd, self.fd, n, src, dst)
        except OSError as e:
            if e.errno == errno.EXDEV:
                e = OSError(errno.EOPNOTSUPP, "EXDEV")
            if self.unsupported_op("copy_file_range", e):
                return
            raise
        if done > avail or done < 0:
            print("fsx: copy_file_range at op #%d copied %d bytes, at most %d possible"
                  % (self.op_no, done, avail), file=sys.stderr)
            raise Mismatch()
        if done < avail:
            self.stats["short_copies"] += 1
        self.set_range(dst, bytes(self.model[src:src + done]))
        self.stats["copies"] += 1
        self.check_size()

    def op_mmap_read(self):
        size = len(self.model)
        if size == 0 or "mmap" in self.unsupported:
            return
        n = min(self.length(), size)
        off = self.rng.randint(0, size - n)
        base = off - off % self.page
        self.note("mmap read off=%d len=%d (size %d)" % (off, n, size))
        try:
            m = mmap.mmap(self.fd, off + n - base, mmap.MAP_SHARED, mmap.PROT_READ, offset=base)
        except OSError as e:
            if e.errno == errno.ENODEV:
                e = OSError(errno.EOPNOTSUPP, "ENODEV")
            if self.unsupported_op("mmap", e):
                return
            raise
        try:
            got = m[off - base:off - base + n]
        finally:
            m.close()
        self.stats["mmap_reads"] += 1
        self.compare("mmap read", off, got, n)

    def op_fsync(self):
        data = self.rng.random() < 0.5
        self.note("fdatasync" if data else "fsync")
        (os.fdatasync if data else os.fsync)(self.fd)
        self.stats["fsyncs"] += 1

    def op_reopen(self):
        trunc = self.rng.random() < 0.05
        self.note("close + reopen%s" % (" O_TRUNC" if trunc else ""))
        os.close(self.fd)
        self.fd = -1
        self.fd = os.open(self.path, os.O_RDWR | (os.O_TRUNC if trunc else 0))
        if trunc:
            self.resize(0)
            self.stats["truncates"] += 1
        self.stats["reopens"] += 1
        self.check_size()

    OPS = (
        ("read", 26),
        ("write", 22),
        ("writev", 4),
        ("sparse", 2),
        ("truncate-down", 4),
        ("truncate-up", 4),
        ("punch", 5),
        ("zero", 2),
        ("zero-keep", 1),
        ("alloc", 1),
        ("alloc-keep", 1),
        ("copy", 3),
        ("mmap", 4),
        ("fsync", 2),
        ("reopen", 2),
    )

    def step(self, name):
        if name == "read":
            self.op_read()
        elif name in ("write", "writev", "sparse"):
            self.op_write(name)
        elif name.startswith("truncate"):
            self.op_truncate(name == "truncate-up")
        elif name in ("punch", "zero", "zero-keep", "alloc", "alloc-keep"):
            self.op_fallocate(name)
        elif name == "copy":
            self.op_copy_range()
        elif name == "mmap":
            self.op_mmap_read()
        elif name == "fsync":
            self.op_fsync()
        elif name == "reopen":
            self.op_reopen()

    def run(self):
        names = [n for n, _ in self.OPS]
        weights = [w for _, w in self.OPS]
        started = time.monotonic()
        for self.op_no in range(1, self.num_ops + 1):
            self.step(self.rng.choices(names, weights)[0])
            self.stats["ops"] += 1
            if self.op_no % self.check_every == 0:
                self.full_check()
        self.op_no += 1
        self.note("final full-file compare, then again through a fresh descriptor")
        self.full_check()
        os.close(self.fd)
        self.fd = os.open(self.path, os.O_RDONLY)
        self.full_check()
        os.close(self.fd)
        self.fd = -1
        return time.monotonic() - started


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("file")
    p.add_argument("seed", type=int)
    p.add_argument("num_ops", type=int)
    p.add_argument("--max-size", type=int, default=16 * MIB)
    p.add_argument("--check-every", type=int, default=500)
    a = p.parse_args()
    fsx = Fsx(a.file, a.seed, a.num_ops, a.max_size, max(1, a.check_every))
    try:
        seconds = fsx.run()
        code = 0
    except Mismatch:
        code = 1
        seconds = None
    except OSError as e:
        print("fsx: unexpected %s at op #%d (seed %d): %s"
              % (errno.errorcode.get(e.errno, e.errno), fsx.op_no, a.seed, e), file=sys.stderr)
        fsx.print_log()
        code = 1
        seconds = None
    s = fsx.stats
    summary = {
        "ops": s["ops"],
        "reads": s["reads"] + s["mmap_reads"],
        "writes": s["writes"],
        "truncates": s["truncates"],
        "punches": s["punches"],
        "fsyncs": s["fsyncs"],
        "reopens": s["reopens"],
        "mismatches": 0 if code == 0 else 1,
        "bytes_written": s["bytes_written"],
        "bytes_read": s["bytes_read"],
        "mmap_reads": s["mmap_reads"],
        "fallocates": s["fallocates"],
        "copies": s["copies"],
        "short_copies": s["short_copies"],
        "full_checks": s["full_checks"],
        "final_size": len(fsx.model),
        "skipped": sorted(fsx.unsupported),
        "seed": a.seed,
        "seconds": None if seconds is None else round(seconds, 2),
    }
    print(json.dumps(summary))
    sys.exit(code)


if __name__ == "__main__":
    main()

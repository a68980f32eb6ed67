"""A pjdfstest-style POSIX conformance run.

Run as root with a directory on the filesystem under test; prints one line
per check: "case: outcome", where an outcome is "ok", an errno name, or
facts (file type, mode, link count, size, owner, and which of
atime/mtime/ctime changed on the object and on its parent). Absolute values
that legitimately differ between filesystems (inode numbers, times) never
appear, so the output of two filesystems can be compared line by line: the
test runs it on the kernel's tmpfs and on the filesystem under test.
"""

import ctypes
import errno
import mmap
import os
import stat
import sys
import time

ROOT = sys.argv[1]
NOBODY = 65534
libc = ctypes.CDLL(None, use_errno=True)
RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2
AT_FDCWD = -100


def renameat2(old, new, flags):
    if libc.renameat2(AT_FDCWD, old.encode(), AT_FDCWD, new.encode(), flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def out(case, value):
    print(f"{case}: {value}", flush=True)


def p(*parts):
    return os.path.join(ROOT, *parts)


def outcome(fn):
    try:
        r = fn()
        return "ok" if r is None else r
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


def as_user(uid, fn, groups=()):
    """Runs fn in a child process as uid (gid = uid) and returns its outcome."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            os.setgroups(list(groups))
            os.setgid(uid)
            os.setuid(uid)
            res = outcome(fn)
        except BaseException as e:  # noqa: BLE001 - report anything
            res = f"exception {e!r}"
        os.write(w, str(res).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 4096):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return data.decode()


def kind(mode):
    for test, name in ((stat.S_ISREG, "file"), (stat.S_ISDIR, "dir"), (stat.S_ISLNK, "symlink"),
                       (stat.S_ISFIFO, "fifo"), (stat.S_ISCHR, "chr"), (stat.S_ISBLK, "blk"),
                       (stat.S_ISSOCK, "sock")):
        if test(mode):
            return name
    return "?"


def facts(path):
    try:
        st = os.lstat(path)
    except OSError as e:
        return errno.errorcode[e.errno]
    size = st.st_size if not stat.S_ISDIR(st.st_mode) else "-"
    return f"{kind(st.st_mode)} {stat.S_IMODE(st.st_mode):04o} nlink={st.st_nlink} size={size} uid={st.st_uid} gid={st.st_gid}"


OLD = 1_000_000_000 * 10**9  # 2001-09-09, far from "now"


def age(*paths):
    """Sets atime/mtime of paths far in the past so changes stand out."""
    for x in paths:
        os.utime(x, ns=(OLD, OLD), follow_symlinks=False)


def times(path):
    st = os.lstat(path)
    return st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns


def changed(before, after):
    names = ("a", "m", "c")
    return "".join(n for n, b, a in zip(names, before, after) if b != a) or "-"


def timed(case, fn, obj, parent=None, obj_after=None):
    """Runs fn and reports its outcome and which times of obj and parent changed."""
    targets = [x for x in (obj, parent) if x]
    age(*targets)
    before = [times(x) for x in targets]
    time.sleep(0.02)  # the kernel's coarse clock ticks every few ms
    res = outcome(fn)
    after = [times(x) if os.path.lexists(x) else None for x in ([obj_after or obj] + ([parent] if parent else []))]
    parts = [res]
    for label, b, a in zip(("obj", "parent"), before, after):
        parts.append(f"{label}={changed(b, a) if a else 'gone'}")
    out(case, " ".join(parts))


def write(path, data=b"x", mode=0o644):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.write(fd, data)
    os.close(fd)


def setid_file(name, mode=0o6755):
    """A fresh file of nobody's with set-id bits, for the set-id clearing checks."""
    path = p("k", name)
    write(path, b"0123456789")
    os.chown(path, NOBODY, NOBODY)
    os.chmod(path, mode)
    return path


def direct_write(path):
    """One page written with O_DIRECT (from page-aligned memory, as O_DIRECT wants)."""
    fd = os.open(path, os.O_WRONLY | os.O_DIRECT)
    try:
        buf = mmap.mmap(-1, mmap.PAGESIZE)
        os.write(fd, buf)
    finally:
        os.close(fd)


def write_at_end(path):
    """Writes without truncating, so only the write itself can clear set-id bits."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, b"x", 10)
    finally:
        os.close(fd)


def copy_in(path):
    """copy_file_range(2) of a few bytes into path, which only the copy writes."""
    src = os.open(p("k", "src"), os.O_RDONLY)
    dst = os.open(path, os.O_WRONLY)
    try:
        os.copy_file_range(src, dst, 3, 0, 10)
    finally:
        os.close(src)
        os.close(dst)


def fallocate(path):
    fd = os.open(path, os.O_WRONLY)
    try:
        os.posix_fallocate(fd, 0, 8192)
    finally:
        os.close(fd)


def ftruncate(path, size):
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, size)
    finally:
        os.close(fd)


def main():
    os.umask(0o022)
    os.chmod(ROOT, 0o777)

    # --- creation ---------------------------------------------------------
    timed("mkdir", lambda: os.mkdir(p("d"), 0o755), ROOT, obj_after=ROOT)
    out("mkdir facts", facts(p("d")))
    out("mkdir parent nlink", os.lstat(ROOT).st_nlink)
    out("mkdir exists", outcome(lambda: os.mkdir(p("d"))))
    out("mkdir long name", outcome(lambda: os.mkdir(p("n" * 256))))
    out("mkdir 255 name", outcome(lambda: os.mkdir(p("n" * 255))))
    out("mkdir in missing dir", outcome(lambda: os.mkdir(p("missing", "x"))))
    timed("create", lambda: write(p("d", "f"), b"hello"), p("d"))
    out("create facts", facts(p("d", "f")))
    out("create umask 077", as_user(0, lambda: (os.umask(0o077), write(p("d", "masked"), b"", 0o666)) and None))
    out("create umask facts", facts(p("d", "masked")))
    out("open excl exists", outcome(lambda: os.open(p("d", "f"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)))
    out("open directory on file", outcome(lambda: os.open(p("d", "f"), os.O_RDONLY | os.O_DIRECTORY)))
    out("open dir for writing", outcome(lambda: os.open(p("d"), os.O_WRONLY)))
    out("open missing", outcome(lambda: os.open(p("d", "nope"), os.O_RDONLY)))
    out("open through file", outcome(lambda: os.open(p("d", "f", "x"), os.O_RDONLY)))
    out("mkfifo", outcome(lambda: os.mkfifo(p("d", "fifo"), 0o600)))
    out("mkfifo facts", facts(p("d", "fifo")))
    out("mkfifo exists", outcome(lambda: os.mkfifo(p("d", "fifo"))))
    out("mknod chr", outcome(lambda: os.mknod(p("d", "null"), 0o600 | stat.S_IFCHR, os.makedev(1, 3))))
    out("mknod chr facts", facts(p("d", "null")) + f" rdev={os.lstat(p('d', 'null')).st_rdev}")
    timed("symlink", lambda: os.symlink("f", p("d", "sl")), p("d"))
    out("symlink facts", facts(p("d", "sl")))
    out("readlink", outcome(lambda: os.readlink(p("d", "sl"))))
    out("symlink exists", outcome(lambda: os.symlink("x", p("d", "sl"))))
    out("readlink of file", outcome(lambda: os.readlink(p("d", "f"))))
    out("symlink follow read", outcome(lambda: open(p("d", "sl"), "rb").read().decode()))

    # --- link -------------------------------------------------------------
    timed("link obj", lambda: os.link(p("d", "f"), p("d", "f2")), p("d", "f"))
    timed("link parent", lambda: os.link(p("d", "f"), p("d", "f3")), p("d"))
    out("link facts", facts(p("d", "f")))
    out("link exists", outcome(lambda: os.link(p("d", "f"), p("d", "f2"))))
    out("link dir", outcome(lambda: os.link(p("d"), p("d2"))))
    out("link missing", outcome(lambda: os.link(p("d", "nope"), p("d", "x"))))

    # --- unlink -----------------------------------------------------------
    timed("unlink link obj", lambda: os.unlink(p("d", "f3")), p("d", "f"))
    timed("unlink parent", lambda: os.unlink(p("d", "f2")), p("d"))
    out("unlink facts", facts(p("d", "f")))
    out("unlink dir", outcome(lambda: os.unlink(p("d"))))
    out("unlink missing", outcome(lambda: os.unlink(p("d", "nope"))))
    fd = os.open(p("d", "f"), os.O_RDONLY)
    os.link(p("d", "f"), p("d", "keep"))
    os.unlink(p("d", "keep"))
    write(p("d", "gone"), b"still here")
    gfd = os.open(p("d", "gone"), os.O_RDWR)
    os.unlink(p("d", "gone"))
    out("unlink while open read", os.pread(gfd, 100, 0).decode())
    os.pwrite(gfd, b"STILL", 0)
    out("unlink while open write", os.pread(gfd, 100, 0).decode())
    out("unlink while open fstat nlink", os.fstat(gfd).st_nlink)
    os.close(gfd)
    os.close(fd)

    # --- rmdir ------------------------------------------------------------
    os.mkdir(p("e"))
    write(p("e", "x"))
    out("rmdir nonempty", outcome(lambda: os.rmdir(p("e"))))
    out("rmdir file", outcome(lambda: os.rmdir(p("e", "x"))))
    out("rmdir missing", outcome(lambda: os.rmdir(p("nope"))))
    out("rmdir dot", outcome(lambda: os.rmdir(p("e", "."))))
    os.unlink(p("e", "x"))
    timed("rmdir", lambda: os.rmdir(p("e")), ROOT)
    out("rmdir parent nlink", os.lstat(ROOT).st_nlink)

    # --- rename -----------------------------------------------------------
    os.mkdir(p("r"))
    write(p("r", "a"), b"a")
    write(p("r", "b"), b"b")
    os.mkdir(p("r", "da"))
    os.mkdir(p("r", "db"))
    write(p("r", "db", "x"))
    os.mkdir(p("r", "empty"))
    timed("rename file obj", lambda: os.rename(p("r", "a"), p("r", "a2")), p("r", "a"), obj_after=p("r", "a2"))
    timed("rename file parent", lambda: os.rename(p("r", "a2"), p("r", "a")), p("r"))
    out("rename over file", outcome(lambda: os.rename(p("r", "a"), p("r", "b"))))
    out("rename over file content", open(p("r", "b"), "rb").read().decode())
    out("rename over file source", facts(p("r", "a")))
    out("rename dir over nonempty", outcome(lambda: os.rename(p("r", "da"), p("r", "db"))))
    out("rename dir over empty", outcome(lambda: os.rename(p("r", "da"), p("r", "empty"))))
    out("rename file over dir", outcome(lambda: os.rename(p("r", "b"), p("r", "db"))))
    out("rename dir over file", outcome(lambda: os.rename(p("r", "empty"), p("r", "b"))))
    out("rename into own subdir", outcome(lambda: os.rename(p("r", "db"), p("r", "db", "sub"))))
    out("rename missing", outcome(lambda: os.rename(p("r", "nope"), p("r", "x"))))
    out("rename to self", outcome(lambda: os.rename(p("r", "b"), p("r", "b"))))
    os.mkdir(p("r2"))
    out("rename dir across", outcome(lambda: os.rename(p("r", "db"), p("r2", "db"))))
    out("rename dir across nlinks", f"{os.lstat(p('r')).st_nlink} {os.lstat(p('r2')).st_nlink}")
    write(p("r", "c"), b"c")
    out("rename noreplace existing", outcome(lambda: renameat2(p("r", "c"), p("r", "b"), RENAME_NOREPLACE)))
    out("rename noreplace new", outcome(lambda: renameat2(p("r", "c"), p("r", "c2"), RENAME_NOREPLACE)))
    out("rename exchange", outcome(lambda: renameat2(p("r", "c2"), p("r", "b"), RENAME_EXCHANGE)))
    out("rename exchange contents", open(p("r", "b"), "rb").read().decode() + open(p("r", "c2"), "rb").read().decode())
    out("rename exchange missing", outcome(lambda: renameat2(p("r", "c2"), p("r", "nope"), RENAME_EXCHANGE)))
    out("rename exchange file and dir", outcome(lambda: renameat2(p("r", "b"), p("r2", "db"), RENAME_EXCHANGE)))
    out("rename exchange facts", facts(p("r", "b")) + " / " + facts(p("r2", "db")))
    out("rename both flags", outcome(lambda: renameat2(p("r", "b"), p("r", "c2"), RENAME_NOREPLACE | RENAME_EXCHANGE)))

    # --- truncate ---------------------------------------------------------
    write(p("t"), b"0123456789")
    timed("truncate down", lambda: os.truncate(p("t"), 4), p("t"))
    out("truncate down content", open(p("t"), "rb").read().decode())
    timed("truncate up", lambda: os.truncate(p("t"), 8), p("t"))
    out("truncate up content", open(p("t"), "rb").read().hex())
    timed("truncate same", lambda: os.truncate(p("t"), 8), p("t"))
    out("truncate negative", outcome(lambda: os.truncate(p("t"), -1)))
    out("truncate dir", outcome(lambda: os.truncate(p("d"), 0)))
    fd = os.open(p("t"), os.O_RDWR)
    out("ftruncate", outcome(lambda: os.ftruncate(fd, 2)))
    out("ftruncate size", os.fstat(fd).st_size)
    os.close(fd)
    timed("open trunc", lambda: os.close(os.open(p("t"), os.O_WRONLY | os.O_TRUNC)), p("t"))
    timed("write", lambda: write(p("t"), b"abc"), p("t"))
    write(p("t"), b"abc")
    timed("read", lambda: open(p("t"), "rb").read() and None, p("t"))
    fd = os.open(p("t"), os.O_WRONLY | os.O_APPEND)
    os.write(fd, b"def")
    os.close(fd)
    out("append", open(p("t"), "rb").read().decode())

    # --- chmod / chown / utimens ------------------------------------------
    write(p("m"), b"m")
    timed("chmod", lambda: os.chmod(p("m"), 0o640), p("m"))
    out("chmod facts", facts(p("m")))
    out("chmod setuid", outcome(lambda: os.chmod(p("m"), 0o4755)))
    out("chmod setuid facts", facts(p("m")))
    timed("chown", lambda: os.chown(p("m"), NOBODY, NOBODY), p("m"))
    out("chown clears setuid", facts(p("m")))
    out("chown missing", outcome(lambda: os.chown(p("nope"), 1, 1)))
    out("lchown symlink", outcome(lambda: os.lchown(p("d", "sl"), 7, 7)))
    out("lchown symlink facts", facts(p("d", "sl")) + " target " + facts(p("d", "f")))
    out("utime ns", outcome(lambda: os.utime(p("m"), ns=(1_234_567_890_123_456_789, 987_654_321_987_654_321))))
    st = os.lstat(p("m"))
    out("utime ns values", f"{st.st_atime_ns} {st.st_mtime_ns}")
    out("utime before epoch", outcome(lambda: os.utime(p("m"), ns=(-1_500_000_000, -1))))
    st = os.lstat(p("m"))
    out("utime before epoch values", f"{st.st_atime_ns} {st.st_mtime_ns}")
    timed("utime now", lambda: os.utime(p("m")), p("m"))
    out("utime symlink nofollow", outcome(lambda: os.utime(p("d", "sl"), ns=(5, 6), follow_symlinks=False)))
    out("utime symlink values", f"{os.lstat(p('d', 'sl')).st_mtime_ns} {os.lstat(p('d', 'f')).st_mtime_ns != 6}")

    # --- as another user ---------------------------------------------------
    os.mkdir(p("u"), 0o755)
    write(p("u", "rootfile"), b"secret", 0o600)
    write(p("u", "public"), b"public", 0o644)
    out("nobody read 0600", as_user(NOBODY, lambda: open(p("u", "rootfile"), "rb").read() and None))
    out("nobody read 0644", as_user(NOBODY, lambda: open(p("u", "public"), "rb").read().decode()))
    out("nobody write 0644", as_user(NOBODY, lambda: os.open(p("u", "public"), os.O_WRONLY) and None))
    out("nobody create in 0755", as_user(NOBODY, lambda: write(p("u", "mine"))))
    out("nobody chmod root file", as_user(NOBODY, lambda: os.chmod(p("u", "public"), 0o777)))
    out("nobody chown root file", as_user(NOBODY, lambda: os.chown(p("u", "public"), NOBODY, NOBODY)))
    out("nobody utime explicit", as_user(NOBODY, lambda: os.utime(p("u", "public"), ns=(1, 1))))
    out("nobody utime now", as_user(NOBODY, lambda: os.utime(p("u", "public"))))
    out("nobody truncate", as_user(NOBODY, lambda: os.truncate(p("u", "public"), 0)))
    out("nobody unlink", as_user(NOBODY, lambda: os.unlink(p("u", "public"))))
    out("nobody access R", as_user(NOBODY, lambda: str(os.access(p("u", "public"), os.R_OK))))
    out("nobody access W", as_user(NOBODY, lambda: str(os.access(p("u", "public"), os.W_OK))))
    os.mkdir(p("w"))
    os.chmod(p("w"), 0o777)  # mkdir's mode is masked by the umask
    out("nobody create in 0777", as_user(NOBODY, lambda: write(p("w", "theirs"), b"t", 0o644)))
    out("nobody create facts", facts(p("w", "theirs")))
    out("nobody mkdir facts", as_user(NOBODY, lambda: os.mkdir(p("w", "theirdir"), 0o777)) + " " + facts(p("w", "theirdir")))
    out("nobody chown to root", as_user(NOBODY, lambda: os.chown(p("w", "theirs"), 0, 0)))
    out("nobody chgrp other", as_user(NOBODY, lambda: os.chown(p("w", "theirs"), -1, 0)))
    out("nobody chmod own", as_user(NOBODY, lambda: os.chmod(p("w", "theirs"), 0o2755)))
    out("nobody chmod setgid facts", facts(p("w", "theirs")))
    out("nobody chgrp member", as_user(NOBODY, lambda: os.chown(p("w", "theirs"), -1, 100), groups=(100,)))
    out("nobody chgrp member facts", facts(p("w", "theirs")))
    os.chmod(p("w", "theirs"), 0o6755)
    out("nobody write clears setuid", as_user(NOBODY, lambda: write(p("w", "theirs"), b"new", 0o644)))
    out("nobody write clears setuid facts", facts(p("w", "theirs")))

    # --- set-id bits on write, truncate, open(O_TRUNC) and chown -------------
    # A caller without CAP_FSETID (nobody) loses set-user-ID, and
    # set-group-ID of a group-executable file; root keeps them, except on
    # chown. Each check starts from a fresh file.
    os.mkdir(p("k"), 0o755)
    write(p("k", "src"), b"abc")
    setid = (
        ("nobody write", NOBODY, write_at_end),
        ("nobody O_DIRECT write", NOBODY, direct_write),
        ("nobody truncate", NOBODY, lambda f: os.truncate(f, 3)),
        ("nobody ftruncate", NOBODY, lambda f: ftruncate(f, 3)),
        ("nobody open O_TRUNC", NOBODY, lambda f: os.close(os.open(f, os.O_WRONLY | os.O_TRUNC))),
        ("nobody open O_CREAT O_TRUNC", NOBODY,
         lambda f: os.close(os.open(f, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))),
        ("nobody copy_file_range", NOBODY, copy_in),
        ("nobody fallocate", NOBODY, fallocate),
        ("nobody chgrp own", NOBODY, lambda f: os.chown(f, -1, NOBODY)),
        ("root write", 0, write_at_end),
        ("root O_DIRECT write", 0, direct_write),
        ("root truncate", 0, lambda f: os.truncate(f, 3)),
        ("root copy_file_range", 0, copy_in),
        ("root open O_TRUNC", 0, lambda f: os.close(os.open(f, os.O_WRONLY | os.O_TRUNC))),
        ("root chown", 0, lambda f: os.chown(f, NOBODY, 0)),
    )
    for i, (case, uid, act) in enumerate(setid):
        f = setid_file(f"s{i}")
        res = outcome(lambda: act(f)) if uid == 0 else as_user(uid, lambda: act(f))
        out(f"setid {case}", f"{res} {facts(f)}")
    # set-group-ID without group execute marks mandatory locking, not a
    # privilege: a writer in the file's group keeps it.
    f = setid_file("nx", 0o6745)
    out("setid nobody write no group exec", as_user(NOBODY, lambda: write_at_end(f)) + " " + facts(f))
    f = setid_file("rc", 0o2745)
    out("setid root chown no group exec", outcome(lambda: os.chown(f, 0, 0)) + " " + facts(f))

    # --- setgid and sticky directories ---------------------------------------
    os.mkdir(p("g"))
    os.chown(p("g"), 0, 100)
    os.chmod(p("g"), 0o2777)
    out("setgid dir file", as_user(NOBODY, lambda: write(p("g", "f"))) + " " + facts(p("g", "f")))
    out("setgid dir subdir", as_user(NOBODY, lambda: os.mkdir(p("g", "sub"))) + " " + facts(p("g", "sub")))
    os.mkdir(p("s"))
    os.chmod(p("s"), 0o1777)
    write(p("s", "rootfile"))
    os.chmod(p("s", "rootfile"), 0o666)
    out("sticky unlink others", as_user(NOBODY, lambda: os.unlink(p("s", "rootfile"))))
    out("sticky rename others", as_user(NOBODY, lambda: os.rename(p("s", "rootfile"), p("s", "x"))))
    out("sticky create own", as_user(NOBODY, lambda: write(p("s", "own"))))
    out("sticky unlink own", as_user(NOBODY, lambda: os.unlink(p("s", "own"))))
    out("sticky root unlink", outcome(lambda: os.unlink(p("s", "rootfile"))))

    # --- readdir, statvfs ----------------------------------------------------
    os.mkdir(p("ls"))
    for i in range(50):
        write(p("ls", f"e{i:02d}"))
    out("readdir", " ".join(sorted(os.listdir(p("ls")))))
    out("readdir dots", " ".join(sorted(e for e in os.listdir(p("ls")) if e.startswith("."))))
    vfs = os.statvfs(ROOT)
    out("statvfs namemax", vfs.f_namemax)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""The benchmark's passthrough filesystem for pyfuse3.

The counterpart of examples/passthrough.ts for the operations the
benchmark uses, built the same way: every inode the kernel knows is an
O_PATH descriptor on the backing object, every call is an *at() call
relative to one with a single name component, lookup counts close the
descriptor on the last forget, readdir lists the backing directory and
looks every entry up (readdirplus), timeouts are 0, open goes through
/proc/self/fd/N, flush is close(dup(fd)), default_permissions.

    python3 bench/servers/py_passthrough.py [-o opt,...] SOURCE MOUNTPOINT
"""

import errno
import os
import stat as S
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pyfuse3  # noqa: E402

from py_common import serve  # noqa: E402

ALLOC_BASE = 1 << 52
O_PATH_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC


class Node:
    __slots__ = ("id", "fd", "key", "nlookup")

    def __init__(self, id_, fd, key):
        self.id = id_
        self.fd = fd
        self.key = key
        self.nlookup = 0


def errors(fn):
    """Turns OSError into FUSEError, as the denofuse passthrough's check() does."""
    async def wrapper(*args):
        try:
            return await fn(*args)
        except OSError as e:
            raise pyfuse3.FUSEError(e.errno)
    wrapper.__name__ = fn.__name__
    return wrapper


def component(name):
    if not name or b"/" in name or name in (b".", b".."):
        raise pyfuse3.FUSEError(errno.EINVAL)
    return name


class PassthroughFs(pyfuse3.Operations):
    def __init__(self, source):
        super().__init__()
        fd = os.open(source, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        st = os.fstat(fd)
        self.root = Node(pyfuse3.ROOT_INODE, fd, (st.st_dev, st.st_ino))
        self.root.nlookup = 1
        self.root_dev = st.st_dev
        self.nodes = {self.root.id: self.root}
        self.by_key = {self.root.key: self.root}
        self.files = {}
        self.dirs = {}
        self.next_fh = 1
        self.next_id = ALLOC_BASE

    # ---- inode table ----

    def node(self, inode):
        try:
            return self.nodes[inode]
        except KeyError:
            raise pyfuse3.FUSEError(errno.ESTALE)

    def attr(self, node, st):
        a = pyfuse3.EntryAttributes()
        a.st_ino = node.id
        a.entry_timeout = 0
        a.attr_timeout = 0
        a.st_mode = st.st_mode
        a.st_nlink = st.st_nlink
        a.st_uid = st.st_uid
        a.st_gid = st.st_gid
        a.st_rdev = st.st_rdev
        a.st_size = st.st_size
        a.st_blksize = st.st_blksize
        a.st_blocks = st.st_blocks
        a.st_atime_ns = st.st_atime_ns
        a.st_mtime_ns = st.st_mtime_ns
        a.st_ctime_ns = st.st_ctime_ns
        return a

    def adopt(self, fd):
        try:
            st = os.fstat(fd)
        except OSError:
            os.close(fd)
            raise
        key = (st.st_dev, st.st_ino)
        known = self.by_key.get(key)
        if known is not None:
            os.close(fd)
            return known, st
        if st.st_dev == self.root_dev and 1 < st.st_ino < ALLOC_BASE:
            id_ = st.st_ino
        else:
            id_ = self.next_id
            self.next_id += 1
        node = Node(id_, fd, key)
        self.nodes[id_] = node
        self.by_key[key] = node
        return node, st

    def find(self, parent, name):
        return self.adopt(os.open(name, O_PATH_FLAGS, dir_fd=parent.fd))

    def drop_if_unused(self, node):
        if node.nlookup > 0 or node is self.root or self.nodes.get(node.id) is not node:
            return
        del self.nodes[node.id]
        del self.by_key[node.key]
        os.close(node.fd)

    def created(self, parent, name):
        node, st = self.find(parent, name)
        node.nlookup += 1
        return self.attr(node, st)

    # ---- handlers ----

    @errors
    async def lookup(self, parent_inode, name, ctx=None):
        parent = self.node(parent_inode)
        if name == b".":
            node, st = parent, os.fstat(parent.fd)
        else:
            node, st = self.find(parent, component(name))
        node.nlookup += 1
        return self.attr(node, st)

    async def forget(self, inode_list):
        for inode, count in inode_list:
            node = self.nodes.get(inode)
            if node is not None:
                node.nlookup -= count
                self.drop_if_unused(node)

    @errors
    async def getattr(self, inode, ctx=None):
        node = self.node(inode)
        return self.attr(node, os.fstat(node.fd))

    @errors
    async def setattr(self, inode, attr, fields, fh, ctx):
        node = self.node(inode)
        proc = f"/proc/self/fd/{node.fd}"
        fd = self.files[fh] if fh is not None else None
        if fields.update_mode:
            if fd is not None:
                os.fchmod(fd, attr.st_mode & 0o7777)
            else:
                os.chmod(proc, attr.st_mode & 0o7777)
        if fields.update_uid or fields.update_gid:
            os.chown(proc, attr.st_uid if fields.update_uid else -1,
                     attr.st_gid if fields.update_gid else -1, follow_symlinks=False)
        if fields.update_size:
            if fd is not None:
                os.ftruncate(fd, attr.st_size)
            else:
                os.truncate(proc, attr.st_size)
        if fields.update_atime or fields.update_mtime:
            st = os.fstat(node.fd)
            os.utime(proc, ns=(attr.st_atime_ns if fields.update_atime else st.st_atime_ns,
                               attr.st_mtime_ns if fields.update_mtime else st.st_mtime_ns))
        return self.attr(node, os.fstat(node.fd))

    @errors
    async def mknod(self, parent_inode, name, mode, rdev, ctx):
        parent = self.node(parent_inode)
        n = component(name)
        os.mknod(n, mode, rdev, dir_fd=parent.fd)
        return self.created(parent, n)

    @errors
    async def mkdir(self, parent_inode, name, mode, ctx):
        parent = self.node(parent_inode)
        n = component(name)
        os.mkdir(n, mode, dir_fd=parent.fd)
        return self.created(parent, n)

    @errors
    async def unlink(self, parent_inode, name, ctx):
        os.unlink(component(name), dir_fd=self.node(parent_inode).fd)

    @errors
    async def rmdir(self, parent_inode, name, ctx):
        os.rmdir(component(name), dir_fd=self.node(parent_inode).fd)

    @errors
    async def rename(self, parent_inode_old, name_old, parent_inode_new, name_new, flags, ctx):
        if flags:
            raise pyfuse3.FUSEError(errno.EINVAL)
        os.rename(component(name_old), component(name_new),
                  src_dir_fd=self.node(parent_inode_old).fd,
                  dst_dir_fd=self.node(parent_inode_new).fd)

    @errors
    async def open(self, inode, flags, ctx):
        node = self.node(inode)
        # O_DIRECT needs aligned buffers; the kernel bypasses its cache for us (direct_io).
        backing = flags & ~(os.O_CREAT | os.O_EXCL | os.O_NOCTTY | os.O_DIRECT | os.O_NOFOLLOW)
        fd = os.open(f"/proc/self/fd/{node.fd}", backing | os.O_CLOEXEC)
        fh = self.next_fh
        self.next_fh += 1
        self.files[fh] = fd
        return pyfuse3.FileInfo(fh=fh, direct_io=bool(flags & os.O_DIRECT))

    @errors
    async def create(self, parent_inode, name, mode, flags, ctx):
        parent = self.node(parent_inode)
        n = component(name)
        base = (flags & ~(os.O_CREAT | os.O_EXCL | os.O_NOCTTY | os.O_DIRECT)) | os.O_CLOEXEC \
            | os.O_NOFOLLOW
        fd = os.open(n, base | os.O_CREAT | os.O_EXCL, mode, dir_fd=parent.fd)
        node, st = self.adopt(os.open(f"/proc/self/fd/{fd}", os.O_PATH | os.O_CLOEXEC))
        node.nlookup += 1
        fh = self.next_fh
        self.next_fh += 1
        self.files[fh] = fd
        return pyfuse3.FileInfo(fh=fh, direct_io=bool(flags & os.O_DIRECT)), self.attr(node, st)

    @errors
    async def read(self, fh, off, size):
        fd = self.files[fh]
        out = []
        got = 0
        while got < size:
            part = os.pread(fd, size - got, off + got)
            if not part:
                break
            out.append(part)
            got += len(part)
        return out[0] if len(out) == 1 else b"".join(out)

    @errors
    async def write(self, fh, off, buf):
        return os.pwrite(self.files[fh], buf, off)

    @errors
    async def flush(self, fh):
        os.close(os.dup(self.files[fh]))

    @errors
    async def release(self, fh):
        os.close(self.files.pop(fh))

    @errors
    async def fsync(self, fh, datasync):
        if datasync:
            os.fdatasync(self.files[fh])
        else:
            os.fsync(self.files[fh])

    @errors
    async def opendir(self, inode, ctx):
        node = self.node(inode)
        fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=node.fd)
        fh = self.next_fh
        self.next_fh += 1
        self.dirs[fh] = [fd, node, None]
        return fh

    @errors
    async def readdir(self, fh, start_id, token):
        d = self.dirs[fh]
        fd, node = d[0], d[1]
        if start_id == 0 or d[2] is None:
            d[2] = [b".", b".."] + [os.fsencode(n) for n in os.listdir(fd)]
        names = d[2]
        for i in range(start_id, len(names)):
            name = names[i]
            if name in (b".", b".."):
                a = pyfuse3.EntryAttributes()
                a.st_ino = node.id
                a.st_mode = S.S_IFDIR
                if not pyfuse3.readdir_reply(token, name, a, i + 1):
                    return
                continue
            try:
                child, st = self.find(node, name)
            except OSError as e:
                if e.errno == errno.ENOENT:
                    continue
                raise
            if pyfuse3.readdir_reply(token, name, self.attr(child, st), i + 1):
                child.nlookup += 1
            else:
                self.drop_if_unused(child)
                return

    @errors
    async def releasedir(self, fh):
        os.close(self.dirs.pop(fh)[0])

    @errors
    async def statfs(self, ctx):
        v = os.statvfs(self.root.fd)
        s = pyfuse3.StatvfsData()
        for attr in ("f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail", "f_files",
                     "f_ffree", "f_favail", "f_namemax"):
            setattr(s, attr, getattr(v, attr))
        return s


if __name__ == "__main__":
    os.umask(0)
    serve(lambda args: PassthroughFs(args[0]), "py_passthrough", positional=["SOURCE", "MOUNTPOINT"])

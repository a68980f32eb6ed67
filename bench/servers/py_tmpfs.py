#!/usr/bin/python3
"""The benchmark's in-memory filesystem for pyfuse3.

The counterpart of examples/tmpfs.ts for the operations the benchmark
uses, with the same caching behaviour: entry and attribute timeouts 0,
lookup counting with inodes freed after the last unlink, forget and
release, readdir cookies that are per-directory increasing ids, no flush
handler (pyfuse3's default answers ENOSYS once and the kernel stops
sending FLUSH), default_permissions.

    python3 bench/servers/py_tmpfs.py [-o opt,...] MOUNTPOINT
"""

import errno
import os
import stat as S
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pyfuse3  # noqa: E402

from py_common import serve  # noqa: E402

BLOCK = 4096
FIRST_ENTRY_ID = 3


class Node:
    __slots__ = ("ino", "mode", "uid", "gid", "nlink", "atime", "mtime", "ctime", "lookups",
                 "opens", "data", "entries", "order", "next_id", "parent", "rdev")

    def __init__(self, ino, mode, uid, gid, now):
        self.ino = ino
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.rdev = 0
        self.nlink = 1
        self.atime = self.mtime = self.ctime = now
        self.lookups = 0
        self.opens = 0
        self.data = None
        self.entries = None  # name -> (id, ino) for directories
        self.order = None  # [(id, name)] in creation order
        self.next_id = FIRST_ENTRY_ID
        self.parent = None

    def size(self):
        if self.data is not None:
            return len(self.data)
        if self.entries is not None:
            return 20 * (len(self.entries) + 2)
        return 0


class TmpFs(pyfuse3.Operations):
    def __init__(self):
        super().__init__()
        now = time.time_ns()
        root = Node(pyfuse3.ROOT_INODE, S.S_IFDIR | 0o1777, os.getuid(), os.getgid(), now)
        root.nlink = 2
        root.entries = {}
        root.order = []
        root.parent = root.ino
        self.nodes = {root.ino: root}
        self.files = {}
        self.dirs = {}
        self.next_ino = pyfuse3.ROOT_INODE + 1
        self.next_fh = 1

    # ---- helpers ----

    def node(self, ino):
        try:
            return self.nodes[ino]
        except KeyError:
            raise pyfuse3.FUSEError(errno.ENOENT)

    def attr(self, node):
        a = pyfuse3.EntryAttributes()
        a.st_ino = node.ino
        a.generation = 0
        a.entry_timeout = 0
        a.attr_timeout = 0
        a.st_mode = node.mode
        a.st_nlink = node.nlink
        a.st_uid = node.uid
        a.st_gid = node.gid
        a.st_rdev = node.rdev
        a.st_size = node.size()
        a.st_blksize = BLOCK
        a.st_blocks = (len(node.data) + 511) // 512 if node.data is not None else 0
        a.st_atime_ns = node.atime
        a.st_mtime_ns = node.mtime
        a.st_ctime_ns = node.ctime
        return a

    def maybe_free(self, node):
        if node.nlink > 0 or node.lookups > 0 or node.opens > 0 or node.ino == pyfuse3.ROOT_INODE:
            return
        del self.nodes[node.ino]

    def add_entry(self, parent, name, ino):
        eid = parent.next_id
        parent.next_id += 1
        parent.entries[name] = (eid, ino)
        parent.order.append((eid, name))

    def remove_entry(self, parent, name):
        eid, _ = parent.entries.pop(name)
        # Tombstones are skipped by readdir; compact when they dominate.
        if len(parent.order) > 64 and len(parent.order) > 2 * len(parent.entries):
            parent.order = [(i, n) for (i, n) in parent.order
                            if parent.entries.get(n, (None,))[0] == i]

    def new_node(self, parent_inode, name, mode, ctx):
        parent = self.node(parent_inode)
        if parent.entries is None:
            raise pyfuse3.FUSEError(errno.ENOTDIR)
        if name in parent.entries:
            raise pyfuse3.FUSEError(errno.EEXIST)
        if len(name) > 255:
            raise pyfuse3.FUSEError(errno.ENAMETOOLONG)
        now = time.time_ns()
        node = Node(self.next_ino, mode & ~(ctx.umask & 0o777), ctx.uid, ctx.gid, now)
        self.next_ino += 1
        if S.S_ISDIR(mode):
            node.entries = {}
            node.order = []
            node.parent = parent.ino
            node.nlink = 2
            parent.nlink += 1
        elif S.S_ISREG(mode):
            node.data = bytearray()
        self.nodes[node.ino] = node
        self.add_entry(parent, bytes(name), node.ino)
        parent.mtime = parent.ctime = now
        node.lookups += 1
        return node

    # ---- handlers ----

    async def lookup(self, parent_inode, name, ctx=None):
        parent = self.node(parent_inode)
        if parent.entries is None:
            raise pyfuse3.FUSEError(errno.ENOTDIR)
        entry = parent.entries.get(name)
        if entry is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        node = self.node(entry[1])
        node.lookups += 1
        return self.attr(node)

    async def forget(self, inode_list):
        for ino, count in inode_list:
            node = self.nodes.get(ino)
            if node is None:
                continue
            node.lookups = max(0, node.lookups - count)
            self.maybe_free(node)

    async def getattr(self, inode, ctx=None):
        return self.attr(self.node(inode))

    async def setattr(self, inode, attr, fields, fh, ctx):
        node = self.node(inode)
        now = time.time_ns()
        if fields.update_size:
            if node.data is None:
                raise pyfuse3.FUSEError(errno.EINVAL)
            size = attr.st_size
            if size < len(node.data):
                del node.data[size:]
            else:
                node.data.extend(bytes(size - len(node.data)))
            node.mtime = now
        if fields.update_mode:
            node.mode = (node.mode & S.S_IFMT) | (attr.st_mode & 0o7777)
        if fields.update_uid:
            node.uid = attr.st_uid
        if fields.update_gid:
            node.gid = attr.st_gid
        if fields.update_atime:
            node.atime = attr.st_atime_ns
        if fields.update_mtime:
            node.mtime = attr.st_mtime_ns
        node.ctime = now
        return self.attr(node)

    async def mknod(self, parent_inode, name, mode, rdev, ctx):
        node = self.new_node(parent_inode, name, mode, ctx)
        node.rdev = rdev
        return self.attr(node)

    async def mkdir(self, parent_inode, name, mode, ctx):
        return self.attr(self.new_node(parent_inode, name, S.S_IFDIR | mode, ctx))

    async def create(self, parent_inode, name, mode, flags, ctx):
        node = self.new_node(parent_inode, name, mode, ctx)
        return self.open_file(node, flags), self.attr(node)

    def unlink_common(self, parent_inode, name, want_dir):
        parent = self.node(parent_inode)
        if parent.entries is None:
            raise pyfuse3.FUSEError(errno.ENOTDIR)
        entry = parent.entries.get(name)
        if entry is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        node = self.node(entry[1])
        is_dir = node.entries is not None
        if want_dir and not is_dir:
            raise pyfuse3.FUSEError(errno.ENOTDIR)
        if not want_dir and is_dir:
            raise pyfuse3.FUSEError(errno.EISDIR)
        if is_dir and node.entries:
            raise pyfuse3.FUSEError(errno.ENOTEMPTY)
        self.remove_entry(parent, name)
        now = time.time_ns()
        parent.mtime = parent.ctime = now
        node.ctime = now
        if is_dir:
            node.nlink = 0
            parent.nlink -= 1
        else:
            node.nlink -= 1
        self.maybe_free(node)

    async def unlink(self, parent_inode, name, ctx):
        self.unlink_common(parent_inode, name, False)

    async def rmdir(self, parent_inode, name, ctx):
        self.unlink_common(parent_inode, name, True)

    async def rename(self, parent_inode_old, name_old, parent_inode_new, name_new, flags, ctx):
        old = self.node(parent_inode_old)
        new = self.node(parent_inode_new)
        entry = old.entries.get(name_old)
        if entry is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        if flags:
            raise pyfuse3.FUSEError(errno.EINVAL)
        if name_new in new.entries:
            self.unlink_common(parent_inode_new, name_new,
                               self.node(new.entries[name_new][1]).entries is not None)
        self.remove_entry(old, name_old)
        self.add_entry(new, bytes(name_new), entry[1])
        now = time.time_ns()
        old.mtime = old.ctime = new.mtime = new.ctime = now

    def open_file(self, node, flags):
        fh = self.next_fh
        self.next_fh += 1
        self.files[fh] = (node, flags)
        node.opens += 1
        return pyfuse3.FileInfo(fh=fh)

    async def open(self, inode, flags, ctx):
        node = self.node(inode)
        if node.data is None:
            raise pyfuse3.FUSEError(errno.EISDIR if node.entries is not None else errno.EINVAL)
        if flags & os.O_TRUNC:
            del node.data[:]
            node.mtime = node.ctime = time.time_ns()
        return self.open_file(node, flags)

    async def read(self, fh, off, size):
        node, _ = self.files[fh]
        node.atime = time.time_ns()
        return bytes(node.data[off:off + size])

    async def write(self, fh, off, buf):
        node, flags = self.files[fh]
        if flags & os.O_ACCMODE == os.O_RDONLY:
            raise pyfuse3.FUSEError(errno.EBADF)
        data = node.data
        end = off + len(buf)
        if off > len(data):
            data.extend(bytes(off - len(data)))
        data[off:end] = buf
        node.mtime = node.ctime = time.time_ns()
        return len(buf)

    async def fsync(self, fh, datasync):
        pass

    async def release(self, fh):
        node, _ = self.files.pop(fh)
        node.opens -= 1
        self.maybe_free(node)

    async def opendir(self, inode, ctx):
        node = self.node(inode)
        if node.entries is None:
            raise pyfuse3.FUSEError(errno.ENOTDIR)
        fh = self.next_fh
        self.next_fh += 1
        self.dirs[fh] = node
        node.opens += 1
        return fh

    async def readdir(self, fh, start_id, token):
        node = self.dirs[fh]
        node.atime = time.time_ns()
        if start_id < 1 and not pyfuse3.readdir_reply(token, b".", self.attr(node), 1):
            return
        if start_id < 2 and not pyfuse3.readdir_reply(
                token, b"..", self.attr(self.node(node.parent)), 2):
            return
        order = node.order
        # Binary search for the first id after start_id.
        lo, hi = 0, len(order)
        while lo < hi:
            mid = (lo + hi) // 2
            if order[mid][0] <= start_id:
                lo = mid + 1
            else:
                hi = mid
        entries = node.entries
        for i in range(lo, len(order)):
            eid, name = order[i]
            entry = entries.get(name)
            if entry is None or entry[0] != eid:
                continue
            child = self.nodes[entry[1]]
            if not pyfuse3.readdir_reply(token, name, self.attr(child), eid):
                return
            child.lookups += 1

    async def releasedir(self, fh):
        node = self.dirs.pop(fh)
        node.opens -= 1
        self.maybe_free(node)

    async def statfs(self, ctx):
        s = pyfuse3.StatvfsData()
        s.f_bsize = s.f_frsize = BLOCK
        s.f_blocks = s.f_bfree = s.f_bavail = 1 << 20
        s.f_files = s.f_ffree = s.f_favail = 1 << 20
        s.f_namemax = 255
        return s


if __name__ == "__main__":
    serve(lambda _args: TmpFs(), "py_tmpfs", positional=["MOUNTPOINT"])

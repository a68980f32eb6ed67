#!/usr/bin/python3
"""The benchmark's hello filesystem for pyfuse3.

The same file tree and answers as libfuse's hello_ll.c with its timeouts
patched to 0 and as bench/servers/deno_hello.ts: `/hello` reads
"Hello World!\\n", and every stat is a round trip to this process.

    python3 bench/servers/py_hello.py [-o opt,...] MOUNTPOINT
"""

import errno
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pyfuse3  # noqa: E402

from py_common import serve  # noqa: E402

NAME = b"hello"
CONTENT = b"Hello World!\n"
FILE_INODE = pyfuse3.ROOT_INODE + 1


def attrs(inode):
    attr = pyfuse3.EntryAttributes()
    attr.st_ino = inode
    attr.entry_timeout = 0
    attr.attr_timeout = 0
    if inode == pyfuse3.ROOT_INODE:
        attr.st_mode = 0o040755
        attr.st_nlink = 2
    elif inode == FILE_INODE:
        attr.st_mode = 0o100444
        attr.st_nlink = 1
        attr.st_size = len(CONTENT)
    else:
        raise pyfuse3.FUSEError(errno.ENOENT)
    return attr


class HelloFs(pyfuse3.Operations):
    """hello_ll's operations: lookup, getattr, readdir, open, read."""

    async def lookup(self, parent_inode, name, ctx=None):
        if parent_inode != pyfuse3.ROOT_INODE or name != NAME:
            raise pyfuse3.FUSEError(errno.ENOENT)
        return attrs(FILE_INODE)

    async def getattr(self, inode, ctx=None):
        return attrs(inode)

    async def opendir(self, inode, ctx):
        return inode

    async def readdir(self, fh, start_id, token):
        if fh != pyfuse3.ROOT_INODE:
            raise pyfuse3.FUSEError(errno.ENOTDIR)
        if start_id == 0:
            pyfuse3.readdir_reply(token, NAME, attrs(FILE_INODE), 1)

    async def open(self, inode, flags, ctx):
        if inode != FILE_INODE:
            raise pyfuse3.FUSEError(errno.EISDIR)
        if flags & os.O_ACCMODE != os.O_RDONLY:
            raise pyfuse3.FUSEError(errno.EACCES)
        return pyfuse3.FileInfo(fh=inode)

    async def read(self, fh, off, size):
        return CONTENT[off:off + size]


if __name__ == "__main__":
    serve(lambda _args: HelloFs(), "py_hello", positional=["MOUNTPOINT"])

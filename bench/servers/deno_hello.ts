/**
 * The benchmark's hello filesystem for denofuse: the same file tree and
 * answers as libfuse's hello_ll.c with its timeouts patched to 0 (and as
 * bench/servers/py_hello.py), so that every stat is a round trip to this
 * process.
 *
 *     deno run --allow-ffi --allow-read bench/servers/deno_hello.ts [-o opt,...] MOUNTPOINT
 *
 * `/hello` reads "Hello World!\n". Written the way a user would write it
 * (fresh EntryAttributes per reply, synchronous handlers).
 *
 * @module
 */

import * as fuse from "../../mod.ts";
import { parseMountArgs } from "../../examples/lib/cli.ts";

const NAME = new TextEncoder().encode("hello");
const CONTENT = new TextEncoder().encode("Hello World!\n");
const FILE_INODE = fuse.ROOT_INODE + 1;

function attrs(inode: fuse.Inode): fuse.EntryAttributes {
  const attr = new fuse.EntryAttributes({ stIno: inode, entryTimeout: 0, attrTimeout: 0 });
  if (inode === fuse.ROOT_INODE) {
    attr.stMode = 0o040755;
    attr.stNlink = 2;
  } else if (inode === FILE_INODE) {
    attr.stMode = 0o100444;
    attr.stNlink = 1;
    attr.stSize = CONTENT.length;
  } else {
    throw new fuse.FUSEError(fuse.errno.ENOENT);
  }
  return attr;
}

function isName(name: Uint8Array): boolean {
  return name.length === NAME.length && name.every((b, i) => b === NAME[i]);
}

/** hello_ll's operations: lookup, getattr, readdir, open, read. */
export const helloOps: fuse.Operations = {
  lookup(parent, name) {
    if (parent !== fuse.ROOT_INODE || !isName(name)) throw new fuse.FUSEError(fuse.errno.ENOENT);
    return attrs(FILE_INODE);
  },
  getattr(inode) {
    return attrs(inode);
  },
  readdir(fh, startId, token) {
    if (fh !== fuse.ROOT_INODE) throw new fuse.FUSEError(fuse.errno.ENOTDIR);
    if (startId === 0) fuse.readdirReply(token, NAME, attrs(FILE_INODE), 1);
  },
  opendir(inode) {
    return inode;
  },
  open(inode, flags) {
    if (inode !== FILE_INODE) throw new fuse.FUSEError(fuse.errno.EISDIR);
    if ((flags & 3) !== 0) throw new fuse.FUSEError(fuse.errno.EACCES);
    return new fuse.FileInfo({ fh: inode });
  },
  read(_fh, off, size) {
    return CONTENT.subarray(off, off + size);
  },
};

/**
 * Mounts `ops` from the command line and serves until unmounted.
 *
 * @param ops the filesystem
 * @param fsname the fsname mount option
 */
export async function serveFromArgs(ops: fuse.Operations, fsname: string): Promise<void> {
  let args;
  try {
    args = parseMountArgs(Deno.args, ["MOUNTPOINT"]);
  } catch (error) {
    console.error((error as Error).message);
    Deno.exit(2);
  }
  const options = new Set([...fuse.defaultOptions, `fsname=${fsname}`, ...args.options]);
  fuse.init(ops, args.positional[0], options);
  try {
    await fuse.main();
  } finally {
    fuse.close();
  }
}

if (import.meta.main) await serveFromArgs(helloOps, "deno_hello");

/**
 * hello: a read-only filesystem with one file, the counterpart of pyfuse3's
 * hello.py.
 *
 *     deno run --allow-ffi --allow-read examples/hello.ts [-o opt,...] MOUNTPOINT
 *
 * Stays in the foreground; Ctrl-C (SIGINT) or SIGTERM unmounts.
 *
 * @module
 */

import * as fuse from "../mod.ts";
import { runFromCommandLine } from "./lib/cli.ts";

const FILE_NAME = new TextEncoder().encode("message");
const FILE_INODE = fuse.ROOT_INODE + 1;
const FILE_CONTENT = new TextEncoder().encode("hello world\n");

/** The hello filesystem: `/message` reads "hello world\n". */
export class HelloFs implements fuse.Operations {
  readonly #stamp = BigInt(Date.now()) * 1_000_000n;
  readonly #owner = fuse.processIds();

  getattr(inode: fuse.Inode): fuse.EntryAttributes {
    const entry = new fuse.EntryAttributes({
      stIno: inode,
      stAtimeNs: this.#stamp,
      stMtimeNs: this.#stamp,
      stCtimeNs: this.#stamp,
      stUid: this.#owner.uid,
      stGid: this.#owner.gid,
    });
    if (inode === fuse.ROOT_INODE) {
      entry.stMode = 0o040755;
      entry.stNlink = 2;
    } else if (inode === FILE_INODE) {
      entry.stMode = 0o100644;
      entry.stNlink = 1;
      entry.stSize = FILE_CONTENT.length;
    } else {
      throw new fuse.FUSEError(fuse.errno.ENOENT);
    }
    return entry;
  }

  lookup(parentInode: fuse.Inode, name: Uint8Array): fuse.EntryAttributes {
    if (parentInode !== fuse.ROOT_INODE || !sameBytes(name, FILE_NAME)) {
      throw new fuse.FUSEError(fuse.errno.ENOENT);
    }
    return this.getattr(FILE_INODE);
  }

  opendir(inode: fuse.Inode): fuse.FileHandle {
    if (inode !== fuse.ROOT_INODE) throw new fuse.FUSEError(fuse.errno.ENOENT);
    return inode;
  }

  readdir(fh: fuse.FileHandle, startId: number, token: fuse.ReaddirToken): void {
    if (fh !== fuse.ROOT_INODE) throw new fuse.FUSEError(fuse.errno.ENOENT);
    // Only one entry: if startId is past it, the listing is done.
    if (startId === 0) fuse.readdirReply(token, FILE_NAME, this.getattr(FILE_INODE), 1);
  }

  open(inode: fuse.Inode, flags: number): fuse.FileInfo {
    if (inode !== FILE_INODE) throw new fuse.FUSEError(fuse.errno.ENOENT);
    if ((flags & 3) !== 0 /* O_RDONLY */) throw new fuse.FUSEError(fuse.errno.EACCES);
    return new fuse.FileInfo({ fh: inode });
  }

  read(fh: fuse.FileHandle, off: number, size: number): Uint8Array {
    if (fh !== FILE_INODE) throw new fuse.FUSEError(fuse.errno.EBADF);
    return FILE_CONTENT.subarray(off, off + size);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

if (import.meta.main) {
  await runFromCommandLine({
    name: "hello",
    positional: ["MOUNTPOINT"],
    create: (_args, options) => ({
      ops: new HelloFs(),
      options: [...fuse.defaultOptions, "fsname=hello", ...options],
    }),
  });
}

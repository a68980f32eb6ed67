/**
 * counter: one file, `/counter`, demonstrating ioctl(2) and poll(2) on a
 * FUSE filesystem (neither is in pyfuse3).
 *
 * - `ioctl(fd, COUNTER_GET, u64)` reads the counter, `ioctl(fd, COUNTER_ADD, u64)`
 *   adds to it (both restricted ioctls: the kernel copies the 8-byte argument).
 * - Reading the file returns the counter as decimal text and marks it seen.
 * - poll/select/epoll report the file readable once the counter changed
 *   since this open file last read it; COUNTER_ADD wakes the pollers.
 *
 *     deno run --allow-ffi --allow-read examples/counter.ts [-o opt,...] MOUNTPOINT
 *
 * @module
 */

import * as fuse from "../mod.ts";
import { runFromCommandLine } from "./lib/cli.ts";

const IOC_WRITE = 1, IOC_READ = 2;
const ioc = (dir: number, type: string, nr: number, size: number) =>
  ((dir << 30) | (size << 16) | (type.charCodeAt(0) << 8) | nr) >>> 0;

/** `_IOR('C', 1, uint64_t)`: read the counter. */
export const COUNTER_GET = ioc(IOC_READ, "C", 1, 8);
/** `_IOW('C', 2, uint64_t)`: add to the counter. */
export const COUNTER_ADD = ioc(IOC_WRITE, "C", 2, 8);

const POLLIN = 0x1, POLLRDNORM = 0x40;
const FILE_INODE = 2;
const NAME = new TextEncoder().encode("counter");

/** The counter filesystem. */
export class CounterFs implements fuse.Operations {
  #value = 0n;
  #nextFh = 1;
  /** Per open file: the value it last read. */
  readonly #seen = new Map<number, bigint>();
  /** Per open file: the poller waiting for a change (the kernel's latest handle). */
  readonly #waiting = new Map<number, fuse.PollHandle>();
  readonly #owner = fuse.processIds();

  /** The current value. */
  get value(): bigint {
    return this.#value;
  }

  getattr(inode: fuse.Inode): fuse.EntryAttributes {
    if (inode !== fuse.ROOT_INODE && inode !== FILE_INODE) {
      throw new fuse.FUSEError(fuse.errno.ENOENT);
    }
    const dir = inode === fuse.ROOT_INODE;
    return new fuse.EntryAttributes({
      stIno: inode,
      stMode: dir ? 0o40755 : 0o100644,
      stNlink: dir ? 2 : 1,
      stSize: dir ? 0 : String(this.#value).length + 1,
      stUid: this.#owner.uid,
      stGid: this.#owner.gid,
      attrTimeout: 0,
      entryTimeout: 0,
    });
  }

  lookup(parent: fuse.Inode, name: Uint8Array): fuse.EntryAttributes {
    if (
      parent !== fuse.ROOT_INODE || name.length !== NAME.length ||
      !name.every((b, i) => b === NAME[i])
    ) {
      throw new fuse.FUSEError(fuse.errno.ENOENT);
    }
    return this.getattr(FILE_INODE);
  }

  readdir(_fh: fuse.FileHandle, startId: number, token: fuse.ReaddirToken): void {
    if (startId === 0) fuse.readdirReply(token, NAME, this.getattr(FILE_INODE), 1);
  }

  open(inode: fuse.Inode): fuse.FileInfo {
    if (inode !== FILE_INODE) throw new fuse.FUSEError(fuse.errno.EISDIR);
    const fh = this.#nextFh++;
    this.#seen.set(fh, this.#value);
    // The content changes without writes: never serve it from the page cache.
    return new fuse.FileInfo({ fh, directIo: true });
  }

  read(fh: fuse.FileHandle, off: number, size: number): Uint8Array {
    this.#seen.set(fh, this.#value);
    return new TextEncoder().encode(`${this.#value}\n`).subarray(off, off + size);
  }

  release(fh: fuse.FileHandle): void {
    this.#seen.delete(fh);
    this.#waiting.get(fh)?.release();
    this.#waiting.delete(fh);
  }

  ioctl(_fh: fuse.FileHandle, cmd: number, inBuf: Uint8Array, outSize: number): fuse.IoctlReply {
    if (cmd === COUNTER_GET && outSize >= 8) {
      const out = new Uint8Array(8);
      new DataView(out.buffer).setBigUint64(0, this.#value, true);
      return { data: out };
    }
    if (cmd === COUNTER_ADD && inBuf.length === 8) {
      this.#value += new DataView(inBuf.buffer, inBuf.byteOffset, 8).getBigUint64(0, true);
      for (const handle of this.#waiting.values()) fuse.notifyPoll(handle);
      this.#waiting.clear();
      return { result: 0 };
    }
    throw new fuse.FUSEError(fuse.errno.ENOTTY);
  }

  poll(fh: fuse.FileHandle, handle: fuse.PollHandle | null, events: number): number {
    if (handle) {
      // The kernel's newest handle replaces the one it gave before.
      this.#waiting.get(fh)?.release();
      this.#waiting.set(fh, handle);
    }
    return this.#seen.get(fh) !== this.#value ? events & (POLLIN | POLLRDNORM) : 0;
  }
}

if (import.meta.main) {
  await runFromCommandLine({
    name: "counter",
    positional: ["MOUNTPOINT"],
    create: (_args, options) => ({
      ops: new CounterFs(),
      options: [...fuse.defaultOptions, "fsname=counter", ...options],
    }),
  });
}

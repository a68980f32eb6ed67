/**
 * READDIRPLUS and plain READDIR through the kernel: which one the kernel
 * sends with and without `enableReaddirplusAuto`, what a plain entry
 * carries, and that only READDIRPLUS entries count as lookups.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import * as fuse from "../mod.ts";
import { sh, withMount } from "./support/mount.ts";
import { eventually } from "./support/passthrough_helpers.ts";

const FILES = 3000;
const FIRST_FILE = fuse.ROOT_INODE + 1;
const name = (ino: number) => `file-${ino}`;

/**
 * A flat directory of FILES empty files that keeps the kernel's lookup
 * count of every inode (lookup and READDIRPLUS entries add, forget
 * subtracts) and records which kind of readdir each request was.
 */
class ListingFs implements fuse.Operations {
  readonly lookups = new Map<number, number>();
  plusRequests = 0;
  plainRequests = 0;
  constructor(readonly enableReaddirplusAuto: boolean) {}

  #attr(ino: number): fuse.EntryAttributes {
    return new fuse.EntryAttributes({
      stIno: ino,
      stMode: ino === fuse.ROOT_INODE ? 0o40755 : 0o100644,
      stNlink: ino === fuse.ROOT_INODE ? 2 : 1,
      entryTimeout: 0,
      attrTimeout: 0,
    });
  }
  #count(ino: number, by: number): void {
    const n = (this.lookups.get(ino) ?? 0) + by;
    if (n === 0) this.lookups.delete(ino);
    else this.lookups.set(ino, n);
  }
  /** Lookup references the kernel holds, summed over all inodes. */
  get held(): number {
    let sum = 0;
    for (const n of this.lookups.values()) sum += n;
    return sum;
  }

  lookup(parent: fuse.Inode, raw: Uint8Array): fuse.EntryAttributes {
    const m = /^file-(\d+)$/.exec(new TextDecoder().decode(raw));
    const ino = m ? Number(m[1]) : 0;
    if (parent !== fuse.ROOT_INODE || ino < FIRST_FILE || ino >= FIRST_FILE + FILES) {
      throw new fuse.FUSEError(fuse.errno.ENOENT);
    }
    this.#count(ino, 1);
    return this.#attr(ino);
  }
  forget(list: Array<[fuse.Inode, number]>): void {
    for (const [ino, n] of list) this.#count(ino, -n);
  }
  getattr(ino: fuse.Inode): fuse.EntryAttributes {
    return this.#attr(ino);
  }
  opendir(ino: fuse.Inode): fuse.FileHandle {
    return ino;
  }
  readdir(_fh: fuse.FileHandle, startId: number, token: fuse.ReaddirToken): void {
    if (token.plus) this.plusRequests++;
    else this.plainRequests++;
    for (let i = startId; i < FILES; i++) {
      const ino = FIRST_FILE + i;
      if (!fuse.readdirReply(token, name(ino), this.#attr(ino), i + 1)) return;
      if (token.plus) this.#count(ino, 1);
    }
  }
}

/** `ls -f -i` of the mount: inode number and name of every entry, unsorted. */
async function listWithInodes(dir: string): Promise<Map<string, number>> {
  const r = await sh("ls", ["-f", "-i", "-1", dir]);
  assert.equal(r.code, 0, r.stderr);
  const out = new Map<string, number>();
  for (const line of r.stdout.trim().split("\n")) {
    const [ino, entry] = line.trim().split(/\s+/, 2);
    out.set(entry, Number(ino));
  }
  return out;
}

async function dropCaches(): Promise<void> {
  const r = await sh("sh", ["-c", "sync; echo 2 > /proc/sys/vm/drop_caches"]);
  assert.equal(r.code, 0, r.stderr);
}

Deno.test("readdir: with enableReaddirplusAuto the kernel also sends plain READDIR, which takes no lookup references", async () => {
  const fs = new ListingFs(true);
  await withMount(fs, async (mnt) => {
    for (let pass = 0; pass < 2; pass++) {
      const listed = await listWithInodes(mnt);
      assert.equal(listed.size, FILES);
      for (let ino = FIRST_FILE; ino < FIRST_FILE + FILES; ino += 97) {
        assert.equal(listed.get(name(ino)), ino, `inode number of ${name(ino)}`);
      }
    }
    // The kernel asks for attributes when a listing starts, names only after.
    assert.ok(fs.plusRequests >= 2, `READDIRPLUS requests: ${fs.plusRequests}`);
    assert.ok(fs.plainRequests >= 2, `plain READDIR requests: ${fs.plainRequests}`);
    // A plain entry is shown with the type from stMode.
    const r = await sh("find", [mnt, "-maxdepth", "1", "-type", "f", "-name", "file-2*"]);
    assert.equal(r.stdout.trim().split("\n").length, 1 + 10 + 100 + 1000);
    // Every reference the kernel took is given back: plain entries took none.
    await dropCaches();
    assert.ok(await eventually(() => fs.held === 0, 10_000), `still held: ${fs.held}`);
    // A looked-up entry after all that is found again.
    assert.equal((await Deno.stat(join(mnt, name(FIRST_FILE + 5)))).isFile, true);
  });
});

Deno.test("readdir: without enableReaddirplusAuto every request is READDIRPLUS, as in pyfuse3", async () => {
  const fs = new ListingFs(false);
  await withMount(fs, async (mnt) => {
    assert.equal((await listWithInodes(mnt)).size, FILES);
    assert.ok(fs.plusRequests >= 2, `READDIRPLUS requests: ${fs.plusRequests}`);
    assert.equal(fs.plainRequests, 0);
    assert.ok(fs.held >= FILES, `references after a listing: ${fs.held}`);
    await dropCaches();
    assert.ok(await eventually(() => fs.held === 0, 10_000), `still held: ${fs.held}`);
  });
});

/**
 * The exported Linux constants against the C headers: a small program
 * compiled with cc prints each macro, and the values must match.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import * as fuse from "../mod.ts";

const HEADERS = [
  "#define _GNU_SOURCE",
  "#include <stdio.h>",
  "#include <errno.h>",
  "#include <fcntl.h>",
  "#include <unistd.h>",
  "#include <sys/stat.h>",
  "#include <sys/xattr.h>",
  "#include <linux/falloc.h>",
  "#include <linux/fs.h>",
];

const NAMES = [
  "RENAME_NOREPLACE",
  "RENAME_EXCHANGE",
  "RENAME_WHITEOUT",
  "XATTR_CREATE",
  "XATTR_REPLACE",
  "FALLOC_FL_KEEP_SIZE",
  "FALLOC_FL_PUNCH_HOLE",
  "FALLOC_FL_COLLAPSE_RANGE",
  "FALLOC_FL_ZERO_RANGE",
  "FALLOC_FL_INSERT_RANGE",
  "FALLOC_FL_UNSHARE_RANGE",
  "SEEK_SET",
  "SEEK_CUR",
  "SEEK_END",
  "SEEK_DATA",
  "SEEK_HOLE",
  "S_IFMT",
  "S_IFSOCK",
  "S_IFLNK",
  "S_IFREG",
  "S_IFBLK",
  "S_IFDIR",
  "S_IFCHR",
  "S_IFIFO",
  "STATX_TYPE",
  "STATX_MODE",
  "STATX_NLINK",
  "STATX_UID",
  "STATX_GID",
  "STATX_ATIME",
  "STATX_MTIME",
  "STATX_CTIME",
  "STATX_INO",
  "STATX_SIZE",
  "STATX_BLOCKS",
  "STATX_BASIC_STATS",
  "STATX_BTIME",
  "STATX_ATTR_COMPRESSED",
  "STATX_ATTR_IMMUTABLE",
  "STATX_ATTR_APPEND",
  "STATX_ATTR_NODUMP",
  "AT_STATX_SYNC_AS_STAT",
  "AT_STATX_FORCE_SYNC",
  "AT_STATX_DONT_SYNC",
] as const;

Deno.test("exported constants match the C headers (compiled with cc)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "denofuse-constants-" });
  try {
    const src = join(dir, "constants.c"), exe = join(dir, "constants");
    const prints = NAMES.map((n) => `  printf("${n} %ld\\n", (long)(${n}));`);
    // pyfuse3's ENOATTR is ENODATA on Linux.
    prints.push(`  printf("ENOATTR %ld\\n", (long)ENODATA);`);
    await Deno.writeTextFile(src, [...HEADERS, "int main(void) {", ...prints, "}"].join("\n"));
    const cc = await new Deno.Command("cc", { args: ["-o", exe, src], stderr: "piped" }).output();
    assert.equal(cc.code, 0, new TextDecoder().decode(cc.stderr));
    const out = new TextDecoder().decode((await new Deno.Command(exe).output()).stdout);
    const fromC = Object.fromEntries(
      out.trim().split("\n").map((l) => {
        const [name, value] = l.split(" ");
        return [name, Number(value)];
      }),
    );
    const ours = Object.fromEntries(
      Object.keys(fromC).map((n) => [n, (fuse as unknown as Record<string, number>)[n]]),
    );
    assert.deepEqual(ours, fromC);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("nameKey() makes equal bytes equal keys, keeps different bytes apart, and takes strings as UTF-8", () => {
  const enc = new TextEncoder();
  assert.equal(fuse.nameKey(enc.encode("message")), fuse.nameKey("message"));
  assert.equal(fuse.nameKey(enc.encode("café")), fuse.nameKey("café"));
  assert.notEqual(fuse.nameKey(new Uint8Array([0xc3, 0xa9])), fuse.nameKey(new Uint8Array([0xe9])));
  const map = new Map([[fuse.nameKey("a"), 1]]);
  assert.equal(map.get(fuse.nameKey(new Uint8Array([0x61]))), 1);
  const long = new Uint8Array(20_000).map((_, i) => i % 256);
  assert.equal(fuse.nameKey(long).length, 20_000);
  assert.equal(fuse.nameKey(long).charCodeAt(19_999), 19_999 % 256);
});

/**
 * The JS directory-entry encoder (ffi/dirent.ts) against the kernel's
 * header and libfuse: the wire offsets are checked by a compiled
 * `offsetof` probe of `<linux/fuse.h>`, and the encoded bytes must equal
 * what libfuse's own `fuse_add_direntry` / `fuse_add_direntry_plus` write
 * for the same entries (no mount: the functions only fill a buffer).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import * as fuse from "../mod.ts";
import { direntName, encodeDirent, FUSE_ATTR, FUSE_DIRENT, FUSE_ENTRY_OUT } from "../ffi/dirent.ts";
import { EntryParamBuffer } from "../ffi/codec.ts";
import { acquireLibraries, releaseLibraries } from "../ffi/library.ts";

Deno.test("dirent: the wire offsets match <linux/fuse.h> (compiled with cc)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "denofuse-dirent-" });
  try {
    const checks = [
      ...Object.entries(FUSE_ATTR).map(([f, v]) => [`offsetof(struct fuse_attr, ${f})`, v]),
      ["sizeof(struct fuse_attr)", 88],
      ...Object.entries(FUSE_ENTRY_OUT).filter(([f]) => f !== "size").map((
        [f, v],
      ) => [`offsetof(struct fuse_entry_out, ${f})`, v]),
      ["sizeof(struct fuse_entry_out)", FUSE_ENTRY_OUT.size],
      ...Object.entries(FUSE_DIRENT).map(([f, v]) => [`offsetof(struct fuse_dirent, ${f})`, v]),
      ["offsetof(struct fuse_direntplus, dirent)", FUSE_ENTRY_OUT.size],
      ["FUSE_NAME_OFFSET", FUSE_DIRENT.name],
    ] as Array<[string, number]>;
    const src = join(dir, "probe.c"), exe = join(dir, "probe");
    const lines = checks.map(([expr]) => `  printf("%ld\\n", (long)(${expr}));`);
    await Deno.writeTextFile(
      src,
      ["#include <stdio.h>", "#include <stddef.h>", "#include <linux/fuse.h>", "int main(void) {"]
        .concat(lines, ["}"]).join("\n"),
    );
    const cc = await new Deno.Command("cc", { args: ["-o", exe, src], stderr: "piped" }).output();
    assert.equal(cc.code, 0, new TextDecoder().decode(cc.stderr));
    const out = new TextDecoder().decode((await new Deno.Command(exe).output()).stdout);
    const actual = out.trim().split("\n").map(Number);
    assert.deepEqual(
      Object.fromEntries(checks.map(([expr], i) => [expr, actual[i]])),
      Object.fromEntries(checks),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const ENTRIES: Array<[string, fuse.EntryAttributes]> = [
  ["a", new fuse.EntryAttributes({ stIno: 2, stMode: fuse.S_IFREG | 0o644, stNlink: 1 })],
  ["dir", new fuse.EntryAttributes({ stIno: 3, stMode: fuse.S_IFDIR | 0o755, stNlink: 2 })],
  ["n".repeat(255), new fuse.EntryAttributes({ stIno: 2 ** 40, stMode: fuse.S_IFLNK | 0o777 })],
  [
    "timeouts",
    new fuse.EntryAttributes({
      stIno: 9,
      generation: 77,
      entryTimeout: 1.25,
      attrTimeout: 0.3333333,
      stMode: fuse.S_IFCHR | 0o600,
      stNlink: 3,
      stUid: 1000,
      stGid: 100,
      stRdev: 0x0103,
      stSize: 2 ** 50 + 3,
      stBlksize: 4096,
      stBlocks: 12,
      stAtimeNs: 1_700_000_000_123_456_789n,
      stMtimeNs: -1_500_000_001n,
      stCtimeNs: 5n,
    }),
  ],
];

Deno.test("dirent: the JS encoder writes exactly libfuse's fuse_add_direntry(_plus) bytes", () => {
  const libs = acquireLibraries();
  try {
    const param = new EntryParamBuffer();
    for (const plus of [false, true]) {
      const ours = new Uint8Array(4096), theirs = new Uint8Array(4096);
      const view = new DataView(ours.buffer);
      let at = 0, theirAt = 0;
      ENTRIES.forEach(([name, attr], i) => {
        const bytes = direntName(name);
        at += encodeDirent(ours, view, at, ours.length, bytes, attr, i + 1, plus);
        const cname = new Uint8Array([...bytes, 0]);
        const rest = theirs.subarray(theirAt);
        const size = plus
          ? libs.fuse.fuse_add_direntry_plus(
            null,
            rest,
            BigInt(rest.length),
            cname,
            param.encode(attr),
            BigInt(i + 1),
          )
          : libs.fuse.fuse_add_direntry(
            null,
            rest,
            BigInt(rest.length),
            cname,
            param.encodeStatOnly(attr),
            BigInt(i + 1),
          );
        theirAt += Number(size);
      });
      assert.equal(at, theirAt, `${plus ? "READDIRPLUS" : "READDIR"} sizes`);
      assert.deepEqual(ours.subarray(0, at), theirs.subarray(0, theirAt));
    }
  } finally {
    releaseLibraries();
  }
});

Deno.test("dirent: an entry that does not fit is not written, and bad entries are named", () => {
  const buf = new Uint8Array(64).fill(0xaa);
  const view = new DataView(buf.buffer);
  const attr = ENTRIES[0][1];
  assert.equal(encodeDirent(buf, view, 0, 64, direntName("x".repeat(41)), attr, 1, false), 72);
  assert.ok(buf.every((b) => b === 0xaa), "nothing written when it does not fit");
  assert.equal(encodeDirent(buf, view, 0, 64, direntName("x".repeat(40)), attr, 1, false), 64);
  assert.equal(view.getBigUint64(0, true), 2n, "the entry that fits is written");
  assert.equal(encodeDirent(buf, view, 0, 64, direntName("y"), attr, 1, true), 160);
  assert.throws(() => direntName("a/b"), /contains '\/' or NUL/);
  assert.throws(
    () => encodeDirent(buf, view, 0, 64, direntName("p"), { stIno: 2 } as never, 1, false),
    /expected EntryAttributes, got an object with keys stIno/,
  );
  assert.throws(() => direntName("z".repeat(256)), /1 to 255 bytes \(NAME_MAX\), got 256/);
  assert.throws(
    () => encodeDirent(buf, view, 0, 64, direntName("q"), new fuse.EntryAttributes(), 1, false),
    /stIno must be at least 1/,
  );
});

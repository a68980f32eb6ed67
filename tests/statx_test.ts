/**
 * statx (libfuse 3.18's statx op and fuse_reply_statx): the struct encoder
 * against the declared layout (which the layout probe checks against
 * <sys/stat.h>), the request row through a fake host, the version gate of
 * the op table, and birth times through a real mount with `stat -c %W`:
 * the tmpfs example's under 3.18, none (and nothing broken) before.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import * as fuse from "../mod.ts";
import { encodeStatx, splitDev } from "../ffi/statx.ts";
import { InvalidReplyError } from "../ffi/codec.ts";
import { LAYOUT } from "../ffi/layout.ts";
import { buildLowLevelOps, hasLowLevelOp, lowLevelOpsSlots } from "../ffi/lowlevel_ops.ts";
import { buildDispatch } from "../ops/dispatch.ts";
import { acquireLibraries, releaseLibraries } from "../ffi/library.ts";
import { TmpFs } from "../examples/tmpfs.ts";
import { FakeHost, fakeReq } from "./support/fake_host.ts";
import { sh, withMount } from "./support/mount.ts";

const SX = LAYOUT.statx.fields;

function attrs(): fuse.EntryAttributes {
  return new fuse.EntryAttributes({
    stIno: 42,
    stMode: 0o100640,
    stNlink: 3,
    stUid: 1000,
    stGid: 100,
    stRdev: 0,
    stSize: 12345,
    stBlksize: 4096,
    stBlocks: 32,
    stAtimeNs: 1_700_000_001_000_000_001n,
    stMtimeNs: 1_700_000_002_000_000_002n,
    stCtimeNs: 1_700_000_003_000_000_003n,
    attrTimeout: 5,
  });
}

Deno.test("encodeStatx writes struct statx at the probed offsets; the mask follows the birth time", () => {
  const sx = new fuse.StatxAttributes(attrs(), {
    btimeNs: -1n, // one nanosecond before the epoch
    attributes: fuse.STATX_ATTR_APPEND,
    attributesMask: fuse.STATX_ATTR_APPEND | fuse.STATX_ATTR_IMMUTABLE,
  });
  const bytes = encodeStatx(sx);
  assert.equal(bytes.length, 256);
  const v = new DataView(bytes.buffer);
  const u32 = (f: { offset: number }) => v.getUint32(f.offset, true);
  const u64 = (f: { offset: number }) => v.getBigUint64(f.offset, true);
  const i64 = (f: { offset: number }) => v.getBigInt64(f.offset, true);
  assert.equal(u32(SX.stx_mask), fuse.STATX_BASIC_STATS | fuse.STATX_BTIME);
  assert.equal(u32(SX.stx_blksize), 4096);
  assert.equal(u64(SX.stx_attributes), BigInt(fuse.STATX_ATTR_APPEND));
  assert.equal(u64(SX.stx_attributes_mask), 0x30n);
  assert.equal(u32(SX.stx_nlink), 3);
  assert.equal(u32(SX.stx_uid), 1000);
  assert.equal(u32(SX.stx_gid), 100);
  assert.equal(v.getUint16(SX.stx_mode.offset, true), 0o100640);
  assert.equal(u64(SX.stx_ino), 42n);
  assert.equal(u64(SX.stx_size), 12345n);
  assert.equal(u64(SX.stx_blocks), 32n);
  assert.deepEqual([i64(SX.stx_atime), u32(SX.stx_atime_nsec)], [1_700_000_001n, 1]);
  assert.deepEqual([i64(SX.stx_mtime), u32(SX.stx_mtime_nsec)], [1_700_000_002n, 2]);
  assert.deepEqual([i64(SX.stx_ctime), u32(SX.stx_ctime_nsec)], [1_700_000_003n, 3]);
  assert.deepEqual([i64(SX.stx_btime), u32(SX.stx_btime_nsec)], [-1n, 999_999_999]);

  // Without a birth time: STATX_BTIME is left out and stx_btime stays 0.
  const none = new DataView(encodeStatx(new fuse.StatxAttributes(attrs())).buffer);
  assert.equal(none.getUint32(SX.stx_mask.offset, true), fuse.STATX_BASIC_STATS);
  assert.equal(none.getBigInt64(SX.stx_btime.offset, true), 0n);
  // An explicit mask wins.
  const masked = encodeStatx(new fuse.StatxAttributes(attrs(), { mask: fuse.STATX_BTIME }));
  assert.equal(new DataView(masked.buffer).getUint32(SX.stx_mask.offset, true), fuse.STATX_BTIME);
});

Deno.test("encodeStatx splits st_rdev as glibc does and names invalid members", () => {
  // glibc's makedev (Python's os.makedev): (259, 70000) and (0x1234, 0x56789).
  assert.deepEqual(splitDev(0x1111_0370), [259, 70000]);
  assert.deepEqual(splitDev(0x1000_5672_3489), [0x1234, 0x56789]);
  assert.deepEqual(splitDev(0x0801), [8, 1]);
  const chr = attrs();
  chr.stMode = 0o20644;
  chr.stRdev = 0x0801;
  const v = new DataView(encodeStatx(new fuse.StatxAttributes(chr)).buffer);
  assert.deepEqual(
    [v.getUint32(SX.stx_rdev_major.offset, true), v.getUint32(SX.stx_rdev_minor.offset, true)],
    [8, 1],
  );
  assert.throws(
    () => encodeStatx(attrs() as unknown as fuse.StatxAttributes),
    (e: Error) => e instanceof InvalidReplyError && /expected StatxAttributes/.test(e.message),
  );
  assert.throws(
    () => encodeStatx(new fuse.StatxAttributes(attrs(), { btimeNs: 1.5 as unknown as bigint })),
    /btimeNs must be a bigint/,
  );
  const bad = attrs();
  bad.stMode = 0o1000000;
  assert.throws(() => encodeStatx(new fuse.StatxAttributes(bad)), /stMode must be an integer/);
});

Deno.test("the statx op is registered from libfuse 3.18 only (46 slots), and its row calls the handler", async () => {
  assert.equal(hasLowLevelOp("statx", 317), false);
  assert.equal(hasLowLevelOp("statx", 318), true);
  assert.equal(lowLevelOpsSlots(317), 45);
  assert.equal(lowLevelOpsSlots(318), 46);
  const noop = () => {};
  const old = buildLowLevelOps({ statx: noop }, 317);
  const v318 = buildLowLevelOps({ statx: noop }, 318);
  try {
    assert.equal(old.size, 45 * 8, "3.17's struct has no statx member");
    const slot = new DataView(v318.struct.buffer).getBigUint64(45 * 8, true);
    assert.notEqual(slot, 0n, "3.18's statx member points to the callback");
  } finally {
    old.close();
    v318.close();
  }

  const host = new FakeHost(318);
  const seen: unknown[] = [];
  const impls = buildDispatch({
    statx: (inode, mask, flags, fh) => {
      seen.push([inode, mask, flags, fh]);
      return Promise.resolve(new fuse.StatxAttributes(attrs(), { btimeNs: 7n }));
    },
  }, host) as Record<string, (...a: unknown[]) => void>;
  const req = fakeReq();
  impls.statx(req, 42n, fuse.AT_STATX_FORCE_SYNC, fuse.STATX_BASIC_STATS | fuse.STATX_BTIME, null);
  await host.settled();
  assert.deepEqual(seen, [[42, 0x7ff | 0x800, 0x2000, null]]);
  assert.deepEqual(host.sent.map((s) => [s.req, s.kind]), [[req, "statx"]]);
  assert.equal((host.sent[0].args[0] as fuse.StatxAttributes).btimeNs, 7n);
});

Deno.test("stat -c %W shows tmpfs's birth time under libfuse 3.18; older libfuse falls back to getattr", async () => {
  const libs = acquireLibraries();
  const version = libs.version;
  releaseLibraries();
  const fs = new TmpFs();
  let statxCalls = 0;
  const statx = fs.statx.bind(fs);
  fs.statx = (inode) => {
    statxCalls++;
    return statx(inode);
  };
  await withMount(fs, async (mnt) => {
    const file = join(mnt, "f");
    const before = BigInt(Math.floor(Date.now() / 1000));
    await Deno.writeTextFile(file, "hello");
    const after = BigInt(Math.ceil(Date.now() / 1000));
    const stat = async (format: string) => {
      const r = await sh("stat", ["-c", format, file]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim();
    };
    const birth = BigInt(await stat("%W"));
    // Later changes move mtime and ctime, never the birth time.
    await new Promise((r) => setTimeout(r, 1100));
    await Deno.writeTextFile(file, "hello, world");
    const [birth2, mtime, size] = (await stat("%W %Y %s")).split(" ").map(BigInt);
    assert.equal(size, 12n, "the basic attributes come through statx too");
    if (version >= 318) {
      assert.ok(birth >= before && birth <= after, `birth ${birth} in [${before}, ${after}]`);
      assert.equal(birth2, birth);
      assert.ok(mtime > birth, `mtime ${mtime} after birth ${birth}`);
      assert.ok(statxCalls >= 2, `statx called ${statxCalls} times`);
    } else {
      assert.equal(birth, 0n, "no birth time without statx");
      assert.equal(birth2, 0n);
      assert.equal(statxCalls, 0);
      assert.ok(mtime >= before);
    }
    // Plain stat(2) (getattr) is unaffected either way.
    assert.equal((await Deno.stat(file)).size, 12);
  });
});

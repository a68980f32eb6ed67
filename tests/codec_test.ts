/**
 * The struct codecs byte by byte, without a mount: every field lands at
 * the offset the layout (checked against the C headers by the probe in
 * layout_test.ts) gives, and what is encoded decodes back unchanged.
 */

import assert from "node:assert/strict";
import * as fuse from "../mod.ts";
import {
  decodeFileInfo,
  decodeFlock,
  decodeStat,
  encodeFh,
  encodeFileInfo,
  encodeFlock,
  encodeOpenOut,
  encodeStatvfs,
  EntryParamBuffer,
  InvalidReplyError,
} from "../ffi/codec.ts";
import { fileInfoBits, LAYOUT } from "../ffi/layout.ts";
import { ReceiveBuffer, receiveBytes } from "../ffi/receive_buffer.ts";
import { acquireLibc, releaseLibc } from "../ffi/libc.ts";

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
const ptr = (b: Uint8Array) => Deno.UnsafePointer.of(b as Uint8Array<ArrayBuffer>)!;

Deno.test("codec: an EntryAttributes becomes a fuse_entry_param field by field", () => {
  const attr = new fuse.EntryAttributes({
    stIno: 42,
    generation: 7,
    entryTimeout: 1.5,
    attrTimeout: 2.5,
    stMode: 0o100640,
    stNlink: 3,
    stUid: 1000,
    stGid: 100,
    stRdev: 0x0803,
    stSize: 2 ** 40 + 5,
    stBlksize: 4096,
    stBlocks: 9,
    stAtimeNs: 1_700_000_000_123_456_789n,
    stMtimeNs: -1_500_000_001n,
    stCtimeNs: 0n,
  });
  const bytes = new EntryParamBuffer().encode(attr);
  const v = view(bytes);
  const E = LAYOUT.fuse_entry_param.fields;
  const S = LAYOUT.stat.fields, base = E.attr.offset;
  assert.equal(v.getBigUint64(E.ino.offset, true), 42n);
  assert.equal(v.getBigUint64(E.generation.offset, true), 7n);
  assert.equal(v.getFloat64(E.entry_timeout.offset, true), 1.5);
  assert.equal(v.getFloat64(E.attr_timeout.offset, true), 2.5);
  assert.equal(v.getBigUint64(base + S.st_ino.offset, true), 42n);
  assert.equal(v.getUint32(base + S.st_mode.offset, true), 0o100640);
  assert.equal(v.getUint32(base + S.st_uid.offset, true), 1000);
  assert.equal(v.getBigInt64(base + S.st_size.offset, true), BigInt(2 ** 40 + 5));
  assert.equal(v.getBigInt64(base + S.st_atime.offset, true), 1_700_000_000n);
  assert.equal(v.getBigInt64(base + S.st_atime_nsec.offset, true), 123_456_789n);
  // Before the epoch: seconds round down, nanoseconds stay positive (timespec).
  assert.equal(v.getBigInt64(base + S.st_mtime.offset, true), -2n);
  assert.equal(v.getBigInt64(base + S.st_mtime_nsec.offset, true), 499_999_999n);
  // decodeStat reads the embedded struct stat back.
  const back = decodeStat(ptr(bytes.subarray(base)));
  assert.equal(back.stIno, 42);
  assert.equal(back.stMode, 0o100640);
  assert.equal(back.stSize, 2 ** 40 + 5);
  assert.equal(back.stAtimeNs, attr.stAtimeNs);
  assert.equal(back.stMtimeNs, attr.stMtimeNs);
});

Deno.test("codec: bad entries are refused naming the field", () => {
  const enc = new EntryParamBuffer();
  const bad = (init: Record<string, unknown>, allowNegative = false) =>
    assert.throws(
      () => enc.encode(new fuse.EntryAttributes(init as never), allowNegative),
      InvalidReplyError,
    );
  bad({ stIno: 0 });
  bad({ stIno: 2 ** 53 });
  bad({ stIno: 1, stSize: -1 });
  bad({ stIno: 1, attrTimeout: Number.NaN });
  assert.doesNotThrow(() => enc.encode(new fuse.EntryAttributes({ stIno: 0 }), true));
  assert.throws(() => enc.encode(undefined as never), /expected EntryAttributes, got undefined/);
  assert.throws(
    () => enc.encodeStatOnly(new fuse.FileInfo({ fh: 1 }) as never),
    /expected EntryAttributes, got a FileInfo/,
  );
});

Deno.test("codec: fuse_file_info flags, noflush by default and by choice, raw fuse_open_out", () => {
  for (const version of [310, 314, 315, 317]) {
    const bits = fileInfoBits(version);
    const word = (b: Uint8Array) =>
      view(b).getUint32(LAYOUT.fuse_file_info.fields.bits.offset, true);
    const plain = encodeFileInfo(new fuse.FileInfo({ fh: 9, keepCache: false }), 0o2, bits, false);
    assert.equal(word(plain), 0, `${version}: no flags`);
    const byDefault = encodeFileInfo(new fuse.FileInfo({ fh: 9 }), 0o2, bits, false);
    assert.equal(word(byDefault), 1 << bits.keep_cache, `${version}: keep_cache, as in pyfuse3`);
    const all = encodeFileInfo(
      new fuse.FileInfo({ fh: 9, directIo: true, keepCache: true, nonseekable: true }),
      0,
      bits,
      true,
    );
    const expected = (1 << bits.direct_io) | (1 << bits.keep_cache) | (1 << bits.nonseekable) |
      (1 << bits.noflush);
    assert.equal(word(all), expected >>> 0, `${version}: every flag, noflush by default`);
    const chosen = encodeFileInfo(
      new fuse.FileInfo({ fh: 9, noflush: false, keepCache: false }),
      0,
      bits,
      true,
    );
    assert.equal(word(chosen), 0, `${version}: the handler's noflush: false wins`);
    const decoded = decodeFileInfo(ptr(all))!;
    assert.equal(decoded.fh, 9);
    assert.equal(decoded.bits, expected >>> 0);
  }
  const dir = encodeFh(77, 0o200000);
  assert.equal(decodeFileInfo(ptr(dir))!.fh, 77);
  // FOPEN_DIRECT_IO = 1, FOPEN_KEEP_CACHE = 2, FOPEN_NOFLUSH = 32 (<linux/fuse.h>)
  const out = encodeOpenOut(new fuse.FileInfo({ fh: 5, directIo: true }), true);
  assert.equal(view(out).getBigUint64(0, true), 5n);
  assert.equal(view(out).getUint32(8, true), 1 | 2 | 32);
});

Deno.test("codec: struct flock and struct statvfs round-trip", () => {
  const lock = new fuse.FileLock({ type: fuse.F_WRLCK, whence: 0, start: 10, len: 20, pid: 1234 });
  const back = decodeFlock(ptr(encodeFlock(lock)));
  assert.deepEqual(
    [back.type, back.start, back.len, back.pid],
    [fuse.F_WRLCK, 10, 20, 1234],
  );
  const data = new fuse.StatvfsData({
    fBsize: 4096,
    fFrsize: 4096,
    fBlocks: 1000,
    fBfree: 500,
    fBavail: 400,
    fFiles: 100,
    fFfree: 50,
    fFavail: 40,
    fNamemax: 255,
  });
  const bytes = encodeStatvfs(data);
  const F = LAYOUT.statvfs.fields;
  assert.equal(view(bytes).getBigUint64(F.f_blocks.offset, true), 1000n);
  assert.equal(view(bytes).getBigUint64(F.f_favail.offset, true), 40n);
  assert.equal(view(bytes).getBigUint64(F.f_namemax.offset, true), 255n);
});

Deno.test("ReceiveBuffer: pointers into the receive memory read as views, others as null", () => {
  const libc = acquireLibc();
  const buffer = new ReceiveBuffer(receiveBytes(4096), libc);
  const mem = LAYOUT.fuse_buf.fields.mem.offset;
  const base = new DataView(buffer.struct.buffer).getBigUint64(mem, true);
  assert.notEqual(base, 0n, "fuse_buf.mem points at the buffer, so libfuse allocates nothing");
  const at = (offset: number) => Deno.UnsafePointer.create(base + BigInt(offset));
  // What libfuse's read(2) would leave there: a name and data.
  const name = new TextEncoder().encode("file.txt\0");
  const view = buffer.view(at(0), 16)!;
  view.set(name, 4);
  assert.deepEqual(buffer.cString(at(4)), name.subarray(0, 8));
  const data = buffer.view(at(4), 3)!;
  assert.deepEqual([...data], [...name.subarray(0, 3)]);
  data[0] = 0x46;
  assert.equal(buffer.view(at(4), 1)![0], 0x46, "a view, not a copy");
  const copy = buffer.cString(at(4))!;
  data[0] = 0x66;
  assert.equal(copy[0], 0x46, "names are copies");
  const size = receiveBytes(4096);
  assert.equal(buffer.view(at(size - 2), 2)?.length, 2);
  assert.equal(buffer.view(at(size - 2), 3), null, "past the end");
  assert.equal(buffer.view(at(-1), 1), null, "before the start");
  assert.equal(buffer.view(null, 0), null);
  buffer.view(at(size - 1), 1)![0] = 0x41;
  assert.equal(buffer.cString(at(size - 1)), null, "a string without its NUL in the buffer");
  const elsewhere = new Uint8Array(8);
  assert.equal(buffer.cString(Deno.UnsafePointer.of(elsewhere)), null);
  // A handler that detaches what it was given frees nothing libfuse reads into.
  const moved = buffer.view(at(4), 3)!.buffer.transfer();
  assert.equal(buffer.view(at(4), 1)![0], 0x66, "the memory is wrapped again");
  assert.equal(new Uint8Array(moved)[4], 0x66, "the moved buffer is the same memory");
  buffer.free();
  assert.equal(buffer.view(at(4), 1), null, "nothing after free()");
  releaseLibc();
});

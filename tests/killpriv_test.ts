/**
 * `Operations.handleKillprivV2` (FUSE_HANDLE_KILLPRIV_V2): the kill flags
 * denofuse reads from the kernel's requests (libfuse passes none on), the
 * negotiation (libfuse 3.17+, never with kernel passthrough), and through
 * real mounts: the kernel stops asking for `security.capability` before
 * every write, and the examples clear set-id bits as the kernel's tmpfs
 * does. Where libfuse cannot negotiate it (3.10, 3.14) the same tests check
 * that the mount works as before and the flag stays undefined.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import * as fuse from "../mod.ts";
import { PassthroughFs } from "../examples/passthrough.ts";
import { PathMemFs } from "../examples/paths_memfs.ts";
import { TmpFs } from "../examples/tmpfs.ts";
import { pathOperations } from "../paths.ts";
import { connInfoNegotiate, FUSE_CAP, type NegotiatedConn } from "../ffi/conn.ts";
import { KILL_SUIDGID, LAYOUT } from "../ffi/layout.ts";
import { acquireLibraries, releaseLibraries } from "../ffi/library.ts";
import { buildDispatch } from "../ops/dispatch.ts";
import { bytesAt, cString, FakeHost, fakeReq, fileInfo } from "./support/fake_host.ts";
import { py } from "./support/fs_checks.ts";
import { sh, withMount } from "./support/mount.ts";

const NOBODY = 65534;
/** Other users reach the mount (the writers run as nobody). */
const OPTIONS = { options: ["default_permissions", "allow_other", "fsname=denofuse-killpriv"] };

/** The loaded libfuse's `fuse_version()`. */
function libfuseVersion(): number {
  const version = acquireLibraries().version;
  releaseLibraries();
  return version;
}

Deno.test("dispatch: ctx.killSuidgid comes from the kernel's request, true/false with V2 in force, else undefined unless set", () => {
  const seen: Array<[string, boolean | undefined]> = [];
  const note = (op: string, ctx: fuse.RequestContext) => seen.push([op, ctx.killSuidgid]);
  const attr = new fuse.EntryAttributes({ stIno: 3 });
  const host = new FakeHost(317);
  const impls = buildDispatch({
    write: (_fh, _off, buf, ctx) => (note("write", ctx), buf.length),
    open: (_inode, _flags, ctx) => (note("open", ctx), new fuse.FileInfo({ fh: 1 })),
    create: (_parent, _name, _mode, _flags, ctx) => (
      note("create", ctx), [new fuse.FileInfo({ fh: 2 }), attr]
    ),
    setattr: (_inode, _attr, _fields, _fh, ctx) => (note("setattr", ctx), attr),
    getattr: (_inode, ctx) => (note("getattr", ctx), attr),
  }, host) as Record<string, (...a: unknown[]) => void>;
  const call = (op: keyof typeof KILL_SUIDGID, flags: number | null) => {
    const kill = KILL_SUIDGID[op];
    const offset = LAYOUT[kill.arg].fields[kill.field].offset;
    host.kernelRequest = flags === null
      ? null
      : { opcode: kill.opcode, words: { [offset]: flags } };
    const raw: Record<typeof op, unknown[]> = {
      write: [2n, cString("data"), 4n, 0n, fileInfo({ fh: 1 })],
      open: [2n, fileInfo({ flags: 0o1001 })],
      create: [1n, cString("f"), 0o100644, fileInfo({ flags: 0o1101 })],
      setattr: [2n, bytesAt(new Uint8Array(LAYOUT.stat.size)), 1 << 3, null],
    };
    impls[op](fakeReq(), ...raw[op]);
  };
  const ops = Object.keys(KILL_SUIDGID) as (keyof typeof KILL_SUIDGID)[];
  const flagged = (op: keyof typeof KILL_SUIDGID) => KILL_SUIDGID[op].bit | 0x100;

  // Not in force (no connection yet, or V2 not negotiated): a set flag
  // still says "clear" (the kernel sets it on direct-I/O writes anyway).
  for (const op of ops) call(op, flagged(op));
  for (const op of ops) call(op, 0x100);
  host.connection = { handleKillprivV2: false } as NegotiatedConn;
  call("write", 0);
  assert.deepEqual(seen.splice(0), [
    ...ops.map((op) => [op, true]),
    ...ops.map((op) => [op, undefined]),
    ["write", undefined],
  ]);

  host.connection = { handleKillprivV2: true } as NegotiatedConn;
  for (const op of ops) call(op, flagged(op));
  for (const op of ops) call(op, ~KILL_SUIDGID[op].bit >>> 0);
  // A request that is not in a receive buffer (or not the opcode
  // expected) cannot say: with V2 in force, clear rather than keep.
  call("write", null);
  host.kernelRequest = { opcode: KILL_SUIDGID.open.opcode, words: {} };
  impls.write(fakeReq(), 2n, cString("x"), 1n, 0n, fileInfo({ fh: 1 }));
  // Requests that carry no kill flag leave it undefined.
  impls.getattr(fakeReq(), 2n, null);
  assert.deepEqual(seen, [
    ...ops.map((op) => [op, true]),
    ...ops.map((op) => [op, false]),
    ["write", true],
    ["write", true],
    ["getattr", undefined],
  ]);
  assert.deepEqual(host.logs, []);
});

/** A `fuse_conn_info` as libfuse hands it to init, offering `capable`. */
function connInfo(version: number, capable: number): Deno.PointerObject {
  const F = LAYOUT.fuse_conn_info.fields;
  const bytes = new Uint8Array(LAYOUT.fuse_conn_info.size);
  const v = new DataView(bytes.buffer);
  v.setUint32(F.capable.offset, capable, true);
  if (version >= 317) v.setBigUint64(F.capable_ext.offset, BigInt(capable), true);
  return Deno.UnsafePointer.of(bytes)!;
}

Deno.test("connInfoNegotiate(): HANDLE_KILLPRIV_V2 when asked for and offered, never with kernel passthrough", () => {
  const ask = {
    exportSupport: false,
    writebackCache: false,
    posixAcl: false,
    handleKillpriv: false,
    readdirplusAuto: false,
    handleKillprivV2: true,
  };
  const offer = FUSE_CAP.HANDLE_KILLPRIV_V2 | FUSE_CAP.PASSTHROUGH;
  const on = connInfoNegotiate(connInfo(317, offer), ask, 317);
  assert.equal(on.handleKillprivV2, true);
  assert.equal(on.want & FUSE_CAP.HANDLE_KILLPRIV_V2, FUSE_CAP.HANDLE_KILLPRIV_V2);
  const notAsked = connInfoNegotiate(
    connInfo(317, offer),
    { ...ask, handleKillprivV2: false },
    317,
  );
  assert.equal(notAsked.handleKillprivV2, false);
  const notOffered = connInfoNegotiate(connInfo(317, FUSE_CAP.PASSTHROUGH), ask, 317);
  assert.equal(notOffered.handleKillprivV2, false);
  // libfuse before 3.17 never offers it: the kernel's flag has no FUSE_CAP bit there.
  const old = connInfoNegotiate(connInfo(314, 0), ask, 314);
  assert.equal(old.handleKillprivV2, false);
  const both = connInfoNegotiate(connInfo(317, offer), { ...ask, passthrough: true }, 317);
  assert.equal(both.passthrough, true);
  assert.equal(both.handleKillprivV2, false, "a passthrough write never reaches the server");
});

/**
 * Python that writes `n` blocks of 4 KiB into an existing file (one open,
 * no truncation) and prints its mode in octal.
 */
const WRITE_BLOCKS = `
import os, stat, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
for i in range(int(sys.argv[2])):
    os.pwrite(fd, b"x" * 4096, i * 4096)
os.close(fd)
print(oct(stat.S_IMODE(os.stat(sys.argv[1]).st_mode)))
`;

/** A tmpfs that counts GETXATTRs of `security.capability` and records each kill flag. */
function recordingTmpfs(handleKillprivV2: boolean) {
  const fs = new TmpFs();
  const record = { capabilityAsks: 0, flags: [] as Array<[string, boolean | undefined]> };
  const getxattr = fs.getxattr.bind(fs);
  const write = fs.write.bind(fs);
  const setattr = fs.setattr.bind(fs);
  const open = fs.open.bind(fs);
  Object.assign(fs, {
    handleKillprivV2,
    getxattr(inode: fuse.Inode, name: Uint8Array) {
      if (new TextDecoder().decode(name) === "security.capability") record.capabilityAsks++;
      return getxattr(inode, name);
    },
    write(fh: fuse.FileHandle, off: number, buf: Uint8Array, ctx: fuse.RequestContext) {
      record.flags.push(["write", ctx.killSuidgid]);
      return write(fh, off, buf, ctx);
    },
    setattr(...args: Parameters<TmpFs["setattr"]>) {
      record.flags.push(["setattr", args[4].killSuidgid]);
      return setattr(...args);
    },
    open(inode: fuse.Inode, flags: number, ctx: fuse.RequestContext) {
      record.flags.push(["open", ctx.killSuidgid]);
      return open(inode, flags, ctx);
    },
  });
  return { fs, record };
}

Deno.test("tmpfs: with handleKillprivV2 the kernel stops asking for security.capability per write and sends kill flags; libfuse < 3.17 works as before", async () => {
  const version = libfuseVersion();
  const counts: Record<string, number> = {};
  const BLOCKS = 200;
  for (const v2 of [false, true]) {
    const { fs, record } = recordingTmpfs(v2);
    await withMount(fs, async (mnt, handle) => {
      await Deno.chmod(mnt, 0o755);
      const plain = join(mnt, "plain"), setid = join(mnt, "setid");
      for (const file of [plain, setid]) {
        await Deno.writeFile(file, new Uint8Array(0), { mode: 0o644 });
        await Deno.chown(file, NOBODY, NOBODY);
      }
      await Deno.chmod(setid, 0o6755);
      const inForce = handle.connection?.handleKillprivV2;
      assert.equal(inForce, v2 && version >= 317, `V2 ${v2} on libfuse ${version}`);
      // The kernel asks before each write to a file it cannot remember as
      // "no capability": without V2 any file, with V2 a set-id one.
      for (const [who, uid] of [["root", 0], ["nobody", NOBODY]] as const) {
        record.capabilityAsks = 0;
        assert.equal(await py(WRITE_BLOCKS, [plain, String(BLOCKS)], { uid }), "0o644");
        counts[`${who} ${v2}`] = record.capabilityAsks;
      }
      // Root (CAP_FSETID) keeps the bits; nobody loses them.
      record.flags.length = 0;
      assert.equal(await py(WRITE_BLOCKS, [setid, "1"]), "0o6755");
      const rootFlags = record.flags.splice(0);
      assert.equal(await py(WRITE_BLOCKS, [setid, "1"], { uid: NOBODY }), "0o755");
      const nobodyFlags = record.flags.splice(0);
      if (inForce) {
        assert.deepEqual(rootFlags, [["open", false], ["write", false]]);
        // The kernel's file_remove_privs still sends a setattr, with
        // nothing to change (ATTR_FORCE alone) and no kill flag; the
        // write's flag is what clears.
        assert.deepEqual(nobodyFlags, [["open", false], ["setattr", false], ["write", true]]);
      } else {
        // The kernel clears the bits itself, with a setattr of the mode.
        assert.deepEqual(rootFlags, [["open", undefined], ["write", undefined]]);
        assert.deepEqual(nobodyFlags, [["open", undefined], ["setattr", undefined], [
          "write",
          undefined,
        ]]);
      }
    }, OPTIONS);
  }
  // Without V2 every write(2) asks; with it the kernel asks once per inode
  // and remembers "no capability" (S_NOSEC) until attributes change.
  assert.ok(counts["root false"] >= BLOCKS, `root without V2: ${counts["root false"]} asks`);
  assert.ok(counts["nobody false"] >= BLOCKS, `nobody without V2: ${counts["nobody false"]}`);
  if (version >= 317) {
    assert.ok(counts["root true"] <= 2, `root with V2: ${counts["root true"]} asks`);
    assert.ok(counts["nobody true"] <= 2, `nobody with V2: ${counts["nobody true"]} asks`);
  } else {
    assert.ok(counts["root true"] >= BLOCKS, "libfuse < 3.17: as without V2");
  }
});

Deno.test("with handleKillprivV2 a write still removes security.capability, as on the kernel's tmpfs", async () => {
  // VFS_CAP_REVISION_2 with CAP_NET_RAW (13) permitted and effective.
  const caps = "struct.pack('<IIIII', 0x02000001, 1 << 13, 0, 0, 0)";
  const code = `
import os, struct, sys
f = sys.argv[1]
with open(f, "wb") as fh: fh.write(b"x")
os.setxattr(f, "security.capability", ${caps})
before = "security.capability" in os.listxattr(f)
fd = os.open(f, os.O_WRONLY)
os.pwrite(fd, b"y", 1)
os.close(fd)
print(before, "security.capability" in os.listxattr(f))
`;
  const dir = await Deno.makeTempDir({ prefix: "denofuse-ktmpfs-" });
  let expected = "";
  try {
    assert.equal((await sh("mount", ["-t", "tmpfs", "kp", dir])).code, 0);
    try {
      expected = await py(code, [join(dir, "f")]);
    } finally {
      await sh("umount", [dir]);
    }
  } finally {
    await Deno.remove(dir);
  }
  assert.equal(expected, "True False");
  const { fs } = recordingTmpfs(true);
  await withMount(fs, async (mnt) => {
    assert.equal(await py(code, [join(mnt, "f")]), expected);
  });
});

Deno.test("passthrough: handleKillprivV2 where its writes reach the server; dropped while kernel passthrough is on", async () => {
  const version = libfuseVersion();
  for (const kernelPassthrough of [true, false]) {
    const src = await Deno.makeTempDir({ prefix: "denofuse-src-" });
    await Deno.chmod(src, 0o755);
    const fs = new PassthroughFs(src, { kernelPassthrough });
    try {
      await withMount(fs, async (mnt, handle) => {
        const file = join(mnt, "f");
        await Deno.writeTextFile(file, "data");
        await Deno.chown(file, NOBODY, NOBODY);
        await Deno.chmod(file, 0o6755);
        const conn = handle.connection!;
        assert.equal(conn.handleKillprivV2, version >= 317 && !conn.passthrough);
        // Whichever side clears them, nobody's write does; root's does not.
        assert.equal(await py(WRITE_BLOCKS, [file, "2"]), "0o6755");
        assert.equal(await py(WRITE_BLOCKS, [file, "2"], { uid: NOBODY }), "0o755");
        const backing = await Deno.stat(join(src, "f"));
        assert.equal(backing.mode! & 0o7777, 0o755, "the backing file's bits are cleared");
      }, OPTIONS);
    } finally {
      fs.close();
      await Deno.remove(src, { recursive: true });
    }
  }
});

Deno.test("paths layer: handleKillprivV2 passes through, and PathMemFs clears set-id bits under it", async () => {
  const version = libfuseVersion();
  const fs = pathOperations(new PathMemFs());
  assert.equal(fs.handleKillprivV2, true);
  await withMount(fs, async (mnt, handle) => {
    await Deno.chmod(mnt, 0o777);
    const file = join(mnt, "f");
    await Deno.writeTextFile(file, "data");
    await Deno.chown(file, NOBODY, NOBODY);
    await Deno.chmod(file, 0o6755);
    assert.equal(handle.connection?.handleKillprivV2, version >= 317);
    assert.equal(await py(WRITE_BLOCKS, [file, "1"]), "0o6755");
    // truncate, then write: both as nobody, each must clear on its own.
    await Deno.chmod(file, 0o6755);
    assert.equal(
      await py(
        "import os, sys; os.truncate(sys.argv[1], 1); print(oct(os.stat(sys.argv[1]).st_mode & 0o7777))",
        [file],
        { uid: NOBODY },
      ),
      "0o755",
    );
    await Deno.chmod(file, 0o6755);
    assert.equal(await py(WRITE_BLOCKS, [file, "1"], { uid: NOBODY }), "0o755");
  }, OPTIONS);
});

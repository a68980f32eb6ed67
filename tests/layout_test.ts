import assert from "node:assert/strict";
import { join } from "node:path";
import {
  FILE_INFO_BIT_SINCE,
  fileInfoBits,
  fileInfoHasBit,
  LAYOUT,
  layoutsFor,
  NEWEST_VERIFIED_LIBFUSE,
} from "../ffi/layout.ts";
import { connInfoNegotiate, FUSE_CAP, type Negotiation } from "../ffi/conn.ts";
import { abiVersionFor, encodeLibfuseVersion } from "../ffi/session.ts";
import { probeSource } from "./support/layout_probe.ts";
import { acquireLibraries, releaseLibraries } from "../ffi/library.ts";

/** The libfuse headers to check against; DENOFUSE_FUSE_INCLUDE points elsewhere (e.g. a chroot's). */
const INCLUDE = Deno.env.get("DENOFUSE_FUSE_INCLUDE") || "/usr/include/fuse3";

async function run(
  cmd: string,
  args: string[],
): Promise<{ code: number; out: string; err: string }> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: out.code, out: dec.decode(out.stdout), err: dec.decode(out.stderr) };
}

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "denofuse-probe-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Compiles a static-form probe to an object file; resolves to the compiler's result. */
function compileStatic(compiler: string, source: string) {
  return withDir(async (dir) => {
    const src = join(dir, "probe.c");
    await Deno.writeTextFile(src, source);
    return await run(compiler, ["-O2", "-c", "-I", INCLUDE, "-o", join(dir, "probe.o"), src]);
  });
}

/**
 * The compiler that targets aarch64 here with its C library headers, or why
 * there is none.
 */
function findAarch64Compiler(): { cc: string } | { missing: string } {
  const cc = Deno.build.arch === "aarch64" ? "cc" : "aarch64-linux-gnu-gcc";
  const src = Deno.makeTempFileSync({ prefix: "denofuse-cc-", suffix: ".c" });
  try {
    Deno.writeTextFileSync(src, "#include <sys/stat.h>\nint x;\n");
    const r = new Deno.Command(cc, { args: ["-c", "-o", "/dev/null", src], stderr: "null" })
      .outputSync();
    return r.success ? { cc } : {
      missing: `${cc} has no aarch64 C library headers (apt-get install libc6-dev-arm64-cross)`,
    };
  } catch {
    return { missing: `no ${cc} (apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross)` };
  } finally {
    Deno.removeSync(src);
  }
}

Deno.test("layouts match the C headers (offsetof probe compiled with cc)", async () => {
  await withDir(async (dir) => {
    const src = join(dir, "probe.c");
    const exe = join(dir, "probe");
    await Deno.writeTextFile(src, probeSource(LAYOUT));
    const cc = await run("cc", ["-I", INCLUDE, "-o", exe, src]);
    assert.equal(cc.code, 0, `cc failed:\n${cc.err}`);
    const probe = await run(exe, []);
    const [versionLine, ...lines] = probe.out.trim().split("\n");
    const rows = lines.map((l) => {
      const parts = l.split(" ");
      const actual = Number(parts.pop());
      const expected = Number(parts.pop());
      return { name: parts.join(" "), expected, actual };
    });
    assert.ok(rows.length > 80, `the probe checked only ${rows.length} values`);
    const wrong = rows.filter((r) => r.expected !== r.actual);
    assert.deepEqual(wrong, [], `layout mismatches against ${INCLUDE} (${versionLine})`);
    assert.equal(probe.code, 0);
  });
});

Deno.test("the static probe form compiles against the host headers", async () => {
  const r = await compileStatic("cc", probeSource(LAYOUT, { mode: "static" }));
  assert.equal(r.code, 0, `static probe failed:\n${r.err}`);
});

Deno.test("the static probe fails to compile on a wrong offset or a wrong bit", async () => {
  const other = Deno.build.arch === "aarch64" ? "x86_64" : "aarch64";
  // The two ABIs' struct stat differ, so the other one's layouts must not compile here.
  const wrongStat = await compileStatic("cc", probeSource(layoutsFor(other), { mode: "static" }));
  assert.notEqual(wrongStat.code, 0);
  assert.match(wrongStat.err, /stat\.st_nlink differs from ffi\/layout\.ts/);
  const swapped = (v: number) => ({ ...fileInfoBits(v), direct_io: 2, keep_cache: 1 });
  const wrongBits = await compileStatic(
    "cc",
    probeSource(LAYOUT, { mode: "static", bits: swapped }),
  );
  assert.notEqual(wrongBits.code, 0);
  assert.match(wrongBits.err, /fuse_file_info\.direct_io is not at the bit/);
  assert.match(wrongBits.err, /fuse_file_info\.keep_cache is not at the bit/);
});

const aarch64 = Deno.build.arch === "x86_64" || Deno.build.arch === "aarch64"
  ? findAarch64Compiler()
  : { missing: `no aarch64 cross compiler is looked for on ${Deno.build.arch}` };

Deno.test({
  name: "cc" in aarch64
    ? `aarch64 layouts match the C headers (static probe compiled with ${aarch64.cc})`
    : `aarch64 layouts match the C headers — SKIPPED: ${aarch64.missing}; ` +
      "scripts/install_deps.sh installs it",
  ignore: !("cc" in aarch64),
  async fn() {
    const cc = (aarch64 as { cc: string }).cc;
    const source = `#ifndef __aarch64__\n#error "${cc} does not target aarch64"\n#endif\n` +
      probeSource(layoutsFor("aarch64"), { mode: "static" });
    const r = await compileStatic(cc, source);
    assert.equal(r.code, 0, `aarch64 static probe against ${INCLUDE} failed:\n${r.err}`);
  },
});

Deno.test("fileInfoBits() shifts flags for libfuse 3.15 and 3.16 only", () => {
  assert.equal(fileInfoBits(314).flush, 3);
  assert.equal(fileInfoBits(315).flush, 4);
  assert.equal(fileInfoBits(316).noflush, 8);
  assert.equal(fileInfoBits(317).flush, 3);
  assert.equal(fileInfoBits(310).direct_io, 1);
});

Deno.test("fileInfoHasBit(): noflush exists from libfuse 3.11 on", () => {
  assert.equal(FILE_INFO_BIT_SINCE.noflush, 311);
  assert.equal(fileInfoHasBit(310, "noflush"), false);
  assert.equal(fileInfoHasBit(311, "noflush"), true);
  assert.equal(fileInfoHasBit(310, "direct_io"), true);
});

Deno.test("layoutsFor() declares aarch64's stat and refuses unknown architectures", () => {
  const arm = layoutsFor("aarch64");
  assert.equal(arm.stat.size, 128);
  assert.equal(arm.fuse_entry_param.size, 16 + 128 + 16);
  assert.throws(() => layoutsFor("riscv64"), /no struct layouts/);
});

Deno.test("abiVersionFor() reports the loaded libfuse, but no newer ABI than was verified", () => {
  assert.deepEqual(abiVersionFor({ version: 317, pkgVersion: "3.17.1" }), {
    major: 3,
    minor: 17,
    hotfix: 1,
  });
  assert.deepEqual(abiVersionFor({ version: 318, pkgVersion: "3.18.0" }), {
    major: 3,
    minor: 18,
    hotfix: 0,
  });
  assert.deepEqual(abiVersionFor({ version: 318, pkgVersion: "3.18.9" }), NEWEST_VERIFIED_LIBFUSE);
  assert.deepEqual(abiVersionFor({ version: 319, pkgVersion: "3.19.0" }), NEWEST_VERIFIED_LIBFUSE);
  assert.deepEqual(abiVersionFor({ version: 317, pkgVersion: "3.17" }), {
    major: 3,
    minor: 17,
    hotfix: 0,
  });
  const bytes = new DataView(encodeLibfuseVersion({ major: 3, minor: 17, hotfix: 2 }).buffer);
  const F = LAYOUT.libfuse_version.fields;
  assert.deepEqual(
    [F.major, F.minor, F.hotfix, F.padding].map((f) => bytes.getUint32(f.offset, true)),
    [3, 17, 2, 0],
  );
});

Deno.test("connInfoNegotiate(): want and 3.17's want_ext never disagree", () => {
  const F = LAYOUT.fuse_conn_info.fields;
  const request: Negotiation = {
    exportSupport: true,
    writebackCache: false,
    posixAcl: false,
    handleKillpriv: false,
    readdirplusAuto: false,
  };
  const HIGH = 1n << 40n; // a capability beyond 32 bits that libfuse chose itself
  const defaults = BigInt(FUSE_CAP.ASYNC_READ | FUSE_CAP.SPLICE_READ | FUSE_CAP.HANDLE_KILLPRIV);
  const capable = defaults | BigInt(FUSE_CAP.EXPORT_SUPPORT) | HIGH;
  const conn = (version: number) => {
    const bytes = new Uint8Array(LAYOUT.fuse_conn_info.size);
    const v = new DataView(bytes.buffer);
    v.setUint32(F.capable.offset, Number(capable & 0xffffffffn), true);
    v.setUint32(F.want.offset, Number(defaults), true);
    if (version >= 317) {
      v.setBigUint64(F.capable_ext.offset, capable, true);
      v.setBigUint64(F.want_ext.offset, defaults | HIGH, true);
    }
    v.setUint32(F.max_write.offset, 1 << 17, true);
    return { bytes, v };
  };
  const expectedLow = FUSE_CAP.ASYNC_READ | FUSE_CAP.EXPORT_SUPPORT;

  // 3.17: both written; libfuse's check (want == low half of want_ext) holds,
  // so it converts nothing, and the bit libfuse set above 32 survives.
  const c317 = conn(317);
  const got317 = connInfoNegotiate(Deno.UnsafePointer.of(c317.bytes), request, 317);
  const wantExt = c317.v.getBigUint64(F.want_ext.offset, true);
  assert.equal(c317.v.getUint32(F.want.offset, true), Number(wantExt & 0xffffffffn));
  assert.equal(wantExt, BigInt(expectedLow) | HIGH);
  assert.equal(got317.want, expectedLow);

  // 3.17 when `want` was not filled in before init() (3.17.0): want_ext is the authority.
  const c3170 = conn(317);
  c3170.v.setUint32(F.want.offset, 0, true);
  connInfoNegotiate(Deno.UnsafePointer.of(c3170.bytes), request, 317);
  assert.equal(c3170.v.getUint32(F.want.offset, true), expectedLow);

  // Before 3.17 the words at want_ext are reserved: untouched.
  const c314 = conn(314);
  const got314 = connInfoNegotiate(Deno.UnsafePointer.of(c314.bytes), request, 314);
  assert.equal(c314.v.getUint32(F.want.offset, true), expectedLow);
  assert.equal(c314.v.getBigUint64(F.want_ext.offset, true), 0n);
  assert.equal(c314.v.getBigUint64(F.capable_ext.offset, true), 0n);
  assert.equal(got314.want, expectedLow);
  assert.equal(c314.v.getUint32(F.time_gran.offset, true), 1);
});

Deno.test("optional libfuse symbols are bound exactly from the release that added them", () => {
  // A misspelt optional symbol would be null everywhere and silently turn
  // a feature off: each one must be there from its release on.
  const since: Record<string, number> = {
    fuse_session_new_versioned: 317,
    fuse_passthrough_open: 317,
    fuse_passthrough_close: 317,
    fuse_reply_statx: 318,
    fuse_lowlevel_notify_increment_epoch_exists: 318,
  };
  const libs = acquireLibraries();
  try {
    const bound = libs.fuse as unknown as Record<string, unknown>;
    const wrong = Object.entries(since).filter(([name, v]) =>
      (bound[name] !== null) !== (libs.version >= v)
    );
    assert.deepEqual(wrong, [], `libfuse ${libs.pkgVersion} (${libs.path})`);
  } finally {
    releaseLibraries();
  }
});

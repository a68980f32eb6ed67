import assert from "node:assert/strict";
import { join } from "node:path";
import { fileInfoBits, LAYOUT, layoutsFor } from "../ffi/layout.ts";
import { probeSource } from "./support/layout_probe.ts";

const INCLUDE = "/usr/include/fuse3";

async function run(
  cmd: string,
  args: string[],
): Promise<{ code: number; out: string; err: string }> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: out.code, out: dec.decode(out.stdout), err: dec.decode(out.stderr) };
}

Deno.test("layouts match the C headers (offsetof probe compiled with cc)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "denofuse-probe-" });
  try {
    const src = join(dir, "probe.c");
    const exe = join(dir, "probe");
    await Deno.writeTextFile(src, probeSource(LAYOUT));
    const cc = await run("cc", ["-I", INCLUDE, "-o", exe, src]);
    assert.equal(cc.code, 0, `cc failed:\n${cc.err}`);
    const probe = await run(exe, []);
    const rows = probe.out.trim().split("\n").slice(1).map((l) => {
      const parts = l.split(" ");
      const actual = Number(parts.pop());
      const expected = Number(parts.pop());
      return { name: parts.join(" "), expected, actual };
    });
    assert.ok(rows.length > 80, `the probe checked only ${rows.length} values`);
    const wrong = rows.filter((r) => r.expected !== r.actual);
    assert.deepEqual(wrong, [], "layout mismatches (name, declared, actual)");
    assert.equal(probe.code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fileInfoBits() shifts flags for libfuse 3.15 and 3.16 only", () => {
  assert.equal(fileInfoBits(314).flush, 3);
  assert.equal(fileInfoBits(315).flush, 4);
  assert.equal(fileInfoBits(316).noflush, 8);
  assert.equal(fileInfoBits(317).flush, 3);
  assert.equal(fileInfoBits(310).direct_io, 1);
});

Deno.test("layoutsFor() declares aarch64's stat and refuses unknown architectures", () => {
  const arm = layoutsFor("aarch64");
  assert.equal(arm.stat.size, 128);
  assert.equal(arm.fuse_entry_param.size, 16 + 128 + 16);
  assert.throws(() => layoutsFor("riscv64"), /no struct layouts/);
});

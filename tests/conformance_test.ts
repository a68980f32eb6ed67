/**
 * POSIX conformance, differentially: tests/conformance/posix.py (a
 * pjdfstest-style run of errno, ownership, permission and timestamp checks,
 * as root and as uid 65534) runs on the kernel's own tmpfs and on our
 * filesystems, and the outputs must match line by line.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { PassthroughFs } from "../examples/passthrough.ts";
import { PathMemFs } from "../examples/paths_memfs.ts";
import { PgFs } from "../examples/pgfs.ts";
import { pathOperations } from "../paths.ts";
import { SqliteFs } from "../examples/sqlitefs.ts";
import { TmpFs } from "../examples/tmpfs.ts";
import type { Operations } from "../mod.ts";
import { sh, withMount } from "./support/mount.ts";
import { withPostgres } from "./support/postgres.ts";
import { EMULATION } from "./support/emulation.ts";

const SCRIPT = new URL("./conformance/posix.py", import.meta.url).pathname;

async function runSuite(dir: string): Promise<string[]> {
  const r = await sh("python3", [SCRIPT, dir], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, `posix.py failed on ${dir}:\n${r.stderr}`);
  return r.stdout.trimEnd().split("\n");
}

/** Mounts a fresh kernel tmpfs, runs `fn` on it, unmounts. */
async function withKernelTmpfs<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "denofuse-ktmpfs-" });
  try {
    const m = await sh("mount", ["-t", "tmpfs", "-o", "size=64m", "denofuse-ktmpfs", dir]);
    assert.equal(m.code, 0, m.stderr);
    try {
      return await fn(dir);
    } finally {
      await sh("umount", [dir]);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

let reference: string[] | undefined;
async function kernelReference(): Promise<string[]> {
  reference ??= await withKernelTmpfs(runSuite);
  return reference;
}

function compare(expected: string[], actual: string[], allowed: Record<string, string>) {
  const exp = new Map(expected.map((l) => [l.slice(0, l.indexOf(":")), l]));
  const act = new Map(actual.map((l) => [l.slice(0, l.indexOf(":")), l]));
  assert.deepEqual([...act.keys()], [...exp.keys()], "the same checks ran");
  const diffs: string[] = [];
  for (const [key, line] of exp) {
    if (act.get(key) !== line && !(key in allowed)) {
      diffs.push(`kernel tmpfs  ${line}\n  ours         ${act.get(key)}`);
    }
  }
  assert.equal(diffs.length, 0, `differences from the kernel's tmpfs:\n  ${diffs.join("\n  ")}`);
  assert.ok(expected.length > 120, `only ${expected.length} checks ran`);
}

const OPTIONS = ["default_permissions", "allow_other", "fsname=denofuse-conformance"];

async function conform(ops: Operations, allowed: Record<string, string> = {}) {
  const expected = await kernelReference();
  await withMount(ops, async (mnt) => compare(expected, await runSuite(mnt), allowed), {
    options: OPTIONS,
    timeoutMs: 120_000,
  });
}

Deno.test("tmpfs example matches the kernel's tmpfs on the POSIX conformance run", async () => {
  await conform(new TmpFs());
});

/**
 * Under qemu-user the open flags in FUSE requests are the host kernel's
 * (x86_64: O_DIRECT 0o40000) while the emulated server reads them with the
 * guest's values (aarch64: 0o40000 is O_DIRECTORY), so passthrough.ts
 * reopens an O_DIRECT file as a directory. Native arm64 has no such split.
 */
const QEMU_OPEN_FLAGS: Record<string, string> = {
  "setid nobody O_DIRECT write": "qemu-user: host open flags read as the guest's",
  "setid root O_DIRECT write": "qemu-user: host open flags read as the guest's",
};

for (const kernelPassthrough of [true, false]) {
  // Without kernel passthrough (and with libfuse 3.17+) the example clears
  // set-id bits itself, under handleKillprivV2.
  const how = kernelPassthrough ? "" : ", kernel passthrough off,";
  Deno.test(`passthrough example over a tmpfs${how} matches the kernel's tmpfs on the conformance run`, async () => {
    await withKernelTmpfs(async (backing) => {
      const src = join(backing, "src");
      await Deno.mkdir(src);
      const fs = new PassthroughFs(src, { kernelPassthrough });
      try {
        await conform(fs, EMULATION ? QEMU_OPEN_FLAGS : {});
      } finally {
        fs.close();
      }
    });
  });
}

Deno.test("sqlitefs example matches the kernel's tmpfs on the conformance run", async () => {
  const dir = await Deno.makeTempDir({ prefix: "denofuse-sqlitefs-" });
  const fs = new SqliteFs(join(dir, "fs.db"));
  try {
    await conform(fs);
  } finally {
    fs.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("paths_memfs example (path API) matches the kernel's tmpfs on the conformance run", async () => {
  await conform(pathOperations(new PathMemFs()));
});

Deno.test("pgfs example matches the kernel's tmpfs on the conformance run", async () => {
  await withPostgres(async (pg) => {
    const fs = await PgFs.open(await pg.createDatabase("conformance"));
    try {
      await conform(fs);
    } finally {
      await fs.close();
    }
  });
});

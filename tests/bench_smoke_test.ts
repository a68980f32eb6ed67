/**
 * Smoke test of the benchmark harness (bench/run.ts): one --quick run with
 * tiny sizes against the hello servers only (denofuse and libfuse's C
 * hello_ll), checking that the results have the expected shape and that no
 * mount is left behind. It asserts nothing about speed: the benchmark is
 * never a timed test.
 */

import assert from "node:assert/strict";
import { join } from "node:path";

const REPO = new URL("../", import.meta.url).pathname;
const SERVERS = ["deno-hello", "c-hello"];
const CASES = ["stat", "fstat", "p4-stat", "p4-fstat"];

async function benchMounts(): Promise<string[]> {
  const mounts = await Deno.readTextFile("/proc/mounts");
  return mounts.split("\n").filter((l) => l.includes("denofuse-bench-"));
}

Deno.test("bench/run.ts --quick produces results of the expected shape", async () => {
  const out = await Deno.makeTempDir({ prefix: "denofuse-bench-smoke-" });
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        join(REPO, "bench/run.ts"),
        "--quick",
        `--servers=${SERVERS.join(",")}`,
        "--secs=0.1",
        "--lookups=400",
        "--lookups-ref=400",
        "--drop-every=100",
        `--out=${out}`,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        try {
          child.kill("SIGINT");
        } catch { /* exited */ }
        reject(new Error("bench/run.ts --quick took more than 90 s"));
      }, 90_000);
    });
    let result: Deno.CommandOutput;
    try {
      result = await Promise.race([child.output(), timeout]);
    } catch (error) {
      await child.status;
      throw error;
    } finally {
      clearTimeout(timer);
    }
    const stderr = new TextDecoder().decode(result.stderr);
    assert.equal(result.code, 0, stderr);

    const res = JSON.parse(await Deno.readTextFile(join(out, "latest.json")));
    assert.equal(res.schema, "denofuse-bench/1");
    assert.equal(res.quick, true);
    assert.ok(!Number.isNaN(Date.parse(res.date)));
    assert.ok(res.machine.nproc >= 1);
    assert.equal(typeof res.machine.cpuModel, "string");
    assert.equal(typeof res.machine.kernel, "string");
    assert.ok(res.machine.pipeRoundTrip.sameCpuUs > 0);
    assert.deepEqual(res.config.servers, SERVERS);
    assert.deepEqual(res.config.modes, ["pinned", "unpinned"]);
    for (const mode of ["pinned", "unpinned"]) {
      for (const server of SERVERS) {
        const byCase = res.results[mode][server];
        assert.deepEqual(Object.keys(byCase).sort(), [...CASES].sort(), `${mode} ${server}`);
        for (const c of CASES) {
          assert.equal(byCase[c].unit, "ops/s");
          assert.equal(byCase[c].runs.length, 1);
          assert.ok(byCase[c].median > 0, `${mode} ${server} ${c}: ${byCase[c].median}`);
        }
      }
      const r = res.ratios[mode]["hello/c"];
      for (const c of CASES) assert.ok(r[c] > 0, `ratio ${mode} ${c}`);
    }
    for (const server of SERVERS) {
      const m = res.memory[server];
      assert.ok(m.idleKiB > 0 && m.peakKiB >= m.idleKiB, `${server} memory ${JSON.stringify(m)}`);
      assert.equal(m.lookups, 400);
      assert.ok(m.drops >= 3);
    }
    assert.ok(Array.isArray(res.targets) && res.targets.length > 0);

    const md = await Deno.readTextFile(join(out, "latest.md"));
    assert.match(md, /^# denofuse benchmark results/);
    assert.match(md, /\| `deno-hello` \|/);
    const svg = await Deno.readTextFile(join(out, "latest.svg"));
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.match(svg, /<\/svg>\n$/);
    assert.deepEqual(await benchMounts(), [], "the benchmark left mounts behind");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

/**
 * Where a server's time goes for one benchmark case: per-request CPU cost
 * of every server thread (from /proc), how long the CPU sat idle, and
 * optionally a V8 CPU profile (`--cpu-prof`, self time per JS function)
 * and a `perf record` split by shared object / symbol.
 *
 *     deno run -A bench/profile.ts --server=deno-hello --case=stat
 *     deno run -A bench/profile.ts --server=deno-passthrough --case=write-1m --cpu-prof --perf
 *     deno run -A bench/profile.ts --server=c-passthrough --case=read-1m
 *
 * Options: --server=ID (see bench/lib/servers.ts), --case=stat|fstat|read-1m|write-1m|
 * read-4k|write-4k|readdir (per-entry figures)|create|unlink|mkdir|coldstat (per-operation
 * figures), --secs=S (default 5), --unpinned (default: server and client pinned to CPU 0),
 * --strace (syscalls of the server per unit, counted by `strace -c -f` over the timed run;
 * slows the server, so its rate is not the real one), --cpu-prof, --perf. Needs root
 * (perf, strace, mounts).
 *
 * create: open(O_CREAT|O_EXCL)+close of new files; unlink: unlink of the files a create run
 * (untimed) left; mkdir: mkdir+rmdir; coldstat: stat() of the 10,000 files of a directory in
 * turn, the kernel's caches dropped after each pass, so every stat is a lookup of an inode
 * neither the kernel nor the server holds.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { buildAll } from "./lib/build.ts";
import { buildGoServers } from "./lib/build_go.ts";
import { fsbench, statTarget } from "./lib/cases.ts";
import { run, sleep, withServer } from "./lib/proc.ts";
import { serverDefs } from "./lib/servers.ts";

const REPO = join(dirname(new URL(import.meta.url).pathname), "..");
const CLK_TCK = 100;

interface Opts {
  server: string;
  caseId: string;
  secs: number;
  pinned: boolean;
  cpuProf: boolean;
  perf: boolean;
  strace: boolean;
}

function parse(args: string[]): Opts {
  const o: Opts = {
    server: "deno-hello",
    caseId: "stat",
    secs: 5,
    pinned: true,
    cpuProf: false,
    perf: false,
    strace: false,
  };
  for (const a of args) {
    const [k, v] = a.split("=", 2);
    if (k === "--server") o.server = v;
    else if (k === "--case") o.caseId = v;
    else if (k === "--secs") o.secs = Number(v);
    else if (k === "--unpinned") o.pinned = false;
    else if (k === "--cpu-prof") o.cpuProf = true;
    else if (k === "--perf") o.perf = true;
    else if (k === "--strace") o.strace = true;
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

/** utime+stime per thread (ticks), keyed by "tid name". */
async function threadTimes(pid: number): Promise<Map<string, { user: number; sys: number }>> {
  const out = new Map<string, { user: number; sys: number }>();
  for await (const e of Deno.readDir(`/proc/${pid}/task`)) {
    try {
      const stat = await Deno.readTextFile(`/proc/${pid}/task/${e.name}/stat`);
      const comm = (await Deno.readTextFile(`/proc/${pid}/task/${e.name}/comm`)).trim();
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out.set(`${e.name} ${comm}`, { user: Number(f[11]), sys: Number(f[12]) });
    } catch { /* thread ended */ }
  }
  return out;
}

/** Idle and total ticks of one CPU (or all, cpu = ""). */
async function cpuTicks(cpu: string): Promise<{ idle: number; total: number }> {
  const line = (await Deno.readTextFile("/proc/stat")).split("\n").find((l) =>
    l.startsWith(`cpu${cpu} `)
  )!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  return { idle: v[3] + v[4], total: v.reduce((a, b) => a + b, 0) };
}

/**
 * FUSE requests per client operation, for the per-request figures:
 * stat(path) with entry/attribute timeouts 0 and default_permissions is a
 * GETATTR of the root (permission check), a LOOKUP and a GETATTR; fstat,
 * and each O_DIRECT read or write, is one request.
 */
function requestsPerOp(caseId: string): number {
  return caseId === "stat" ? 3 : 1;
}

/** Cases measured per client operation (several FUSE requests each), not per request. */
const PER_OP = new Set(["create", "unlink", "mkdir", "coldstat"]);

/** Files of the readdir and coldstat directory. */
const BIG = 10_000;

function summarizeCpuProfile(path: string, requests: number, top = 30): string {
  const p = JSON.parse(Deno.readTextFileSync(path)) as {
    nodes: Array<
      { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }
    >;
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const d = p.timeDeltas[i] ?? 0;
    total += d;
    const cf = byId.get(id)!.callFrame;
    const url = cf.url.replace(`file://${REPO}/`, "");
    const key = `${cf.functionName || "(anonymous)"} ${url}${url ? `:${cf.lineNumber + 1}` : ""}`;
    self.set(key, (self.get(key) ?? 0) + d);
  });
  const lines = [
    `V8 CPU profile of the JS thread (wall-clock samples; time inside a synchronous FFI ` +
    `call, including being preempted in it, counts for the JS function that made the call):`,
    `   share   µs/request  function`,
  ];
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    lines.push(
      `  ${(v / total * 100).toFixed(1).padStart(5)}%  ${
        (v / requests).toFixed(3).padStart(10)
      }  ${k}`,
    );
  }
  // The same by source file (functions without one, e.g. (idle) and ops, under their name).
  const byFile = new Map<string, number>();
  for (const [k, v] of self) {
    const at = k.lastIndexOf(" ");
    const file = k.startsWith("(") || at < 0 || at === k.length - 1
      ? k.trim()
      : k.slice(at + 1).replace(/:\d+$/, "");
    byFile.set(file, (byFile.get(file) ?? 0) + v);
  }
  lines.push(`   share   µs/request  source file`);
  for (const [k, v] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 16)) {
    lines.push(
      `  ${(v / total * 100).toFixed(1).padStart(5)}%  ${
        (v / requests).toFixed(3).padStart(10)
      }  ${k}`,
    );
  }
  return lines.join("\n");
}

async function main(): Promise<void> {
  const o = parse(Deno.args);
  const built = await buildAll(REPO, join(REPO, "bench/.build"));
  const def = serverDefs(REPO, built).find((d) => d.id === o.server);
  if (!def || def.impl === "kernel") throw new Error(`unknown server ${o.server}`);
  if (def.impl === "go-fuse") await buildGoServers(REPO, join(REPO, "bench/.build"));
  const work = await Deno.makeTempDir({ prefix: "denofuse-profile-" });
  const mnt = join(work, "mnt");
  // Sources and state on a tmpfs of its own, as in bench/run.ts (O_DIRECT
  // must work there; not /dev/shm, where Deno wants --allow-all for a
  // database file).
  const src = join(work, "src");
  await Deno.mkdir(src);
  const tmpfs = await run(
    "mount",
    ["-t", "tmpfs", "-o", "size=4g", "denofuse-profile", src],
    20_000,
  );
  if (tmpfs.code !== 0) throw new Error(`mount -t tmpfs on ${src}: ${tmpfs.stderr.trim()}`);
  await Deno.mkdir(mnt);
  const profDir = join(work, "cpuprof");
  let argv = def.argv(mnt, src)!;
  if (def.impl === "denofuse") {
    const flags: string[] = [];
    if (o.cpuProf) flags.push("--cpu-prof", `--cpu-prof-dir=${profDir}`);
    if (o.perf) flags.push("--v8-flags=--perf-basic-prof");
    argv = [argv[0], argv[1], ...flags, ...argv.slice(2)];
  }
  if (o.pinned) argv = ["taskset", "-c", "0", ...argv];
  const client = { fsbench: built.fsbench, pinned: o.pinned };
  const report: string[] = [];
  try {
    if (def.needsSource) await Deno.writeFile(join(src, "f"), new Uint8Array(0));
    const { value: allRequests } = await withServer(argv, mnt, async (server) => {
      if (def.kind === "tmpfs") await Deno.writeFile(join(mnt, "f"), new Uint8Array(0));
      const op = o.caseId.replace(/-(1m|4k)$/, "");
      const bs = o.caseId.endsWith("1m") ? 1 << 20 : 4096;
      const args = (secs: number): Record<string, string | number> =>
        op === "stat" || op === "fstat"
          ? { path: join(mnt, statTarget(def.kind)), secs }
          : op === "readdir"
          ? { path: join(mnt, "big"), secs }
          : op === "create" || op === "unlink"
          ? { path: join(mnt, "cr"), secs }
          : op === "mkdir"
          ? { path: join(mnt, "md"), secs }
          : op === "coldstat"
          // lookups has no time limit: one pass over the directory per second asked.
          ? { path: join(mnt, "big"), files: BIG, every: BIG, max: BIG * Math.max(1, secs) }
          : { path: join(mnt, "data"), bs, size: 32 << 20, secs };
      if (op === "create" || op === "unlink" || op === "mkdir") {
        for (const d of ["cr", "cr-warm", "md"]) {
          await Deno.mkdir(join(def.needsSource ? src : mnt, d));
        }
      }
      if (op === "readdir" || op === "coldstat") {
        // A 10,000-entry directory, filled on the source for passthroughs.
        const dir = join(def.needsSource ? src : mnt, "big");
        await Deno.mkdir(dir);
        await fsbench({ fsbench: built.fsbench, pinned: false }, "populate", {
          path: dir,
          max: BIG,
        }, 300_000);
      }
      // Warm up (and, for reads, create the file).
      let warm = 0;
      const verb = op === "coldstat" ? "lookups" : op;
      let toUnlink = 0;
      if (op === "read") warm += (await fsbench(client, "write", args(1), 60_000)).ops;
      if (op === "unlink") {
        // Create, remove, then create what the timed run removes (not timed).
        const made = await fsbench(client, "create", args(1), 60_000);
        await fsbench(client, "unlink", { path: join(mnt, "cr"), max: made.ops }, 60_000);
        const again = await fsbench(client, "create", args(o.secs), o.secs * 1000 + 60_000);
        warm += 2 * made.ops + again.ops;
        toUnlink = again.ops;
      } else if (op === "create") {
        // Into another directory: create leaves its files, named from c0 on.
        // Briefly: C passthrough_ll holds a descriptor per inode it was told
        // of and runs out of them (EMFILE) near RLIMIT_NOFILE files.
        warm += (await fsbench(client, "create", { path: join(mnt, "cr-warm"), secs: 0.3 }, 60_000))
          .ops;
      } else {
        const w = await fsbench(client, verb, args(1), 60_000);
        warm += op === "readdir" ? w.extra : w.ops * requestsPerOp(o.caseId);
      }
      const timedArgs = op === "unlink" ? { path: join(mnt, "cr"), max: toUnlink } : args(o.secs);
      let straceProc: Deno.ChildProcess | null = null;
      const straceOut = join(work, "strace.txt");
      if (o.strace) {
        straceProc = new Deno.Command("strace", {
          args: ["-c", "-f", "-o", straceOut, "-p", String(server.pid)],
          stdout: "null",
          stderr: "null",
        }).spawn();
        await sleep(500);
      }
      const t0 = await threadTimes(server.pid);
      const c0 = await cpuTicks(o.pinned ? "0" : "");
      let perfProc: Deno.ChildProcess | null = null;
      const perfData = join(work, "perf.data");
      if (o.perf) {
        perfProc = new Deno.Command("perf", {
          args: [
            "record",
            "-F",
            "2999",
            "-g",
            "-p",
            String(server.pid),
            "-o",
            perfData,
            "--",
            "sleep",
            String(o.secs),
          ],
          stdout: "null",
          stderr: "null",
        }).spawn();
        await sleep(200);
      }
      const res = await fsbench(client, verb, timedArgs, o.secs * 1000 + 120_000);
      const t1 = await threadTimes(server.pid);
      const c1 = await cpuTicks(o.pinned ? "0" : "");
      if (perfProc) await perfProc.status;
      if (straceProc) {
        straceProc.kill("SIGINT");
        await straceProc.status;
      }
      // For readdir the unit is one directory entry, not one request.
      const reqs = op === "readdir" ? res.extra : res.ops * requestsPerOp(o.caseId);
      const unit = op === "readdir" ? "entry" : PER_OP.has(op) ? "operation" : "FUSE request";
      report.push(
        `${def.id} ${o.caseId} ${o.pinned ? "pinned (CPU 0)" : "unpinned"}: ` +
          (op === "readdir"
            ? `${Math.round(res.extra / res.secs).toLocaleString("en-US")} entries/s = ` +
              `${(res.secs * 1e6 / reqs).toFixed(2)} µs wall per entry (figures below: per entry)`
            : `${Math.round(res.ops / res.secs).toLocaleString("en-US")} ops/s` +
              (res.bytes ? `, ${(res.bytes / (1 << 20) / res.secs).toFixed(0)} MiB/s` : "") +
              ` = ${(res.secs * 1e6 / reqs).toFixed(2)} µs wall per ${unit}` +
              (PER_OP.has(op) ? "" : ` (${requestsPerOp(o.caseId)} request(s) per op)`)),
      );
      const idle = c1.idle - c0.idle, total = c1.total - c0.total;
      report.push(
        `${o.pinned ? "CPU 0" : "all CPUs"} idle during the run: ${
          (idle / total * 100).toFixed(1)
        }%`,
      );
      report.push(`server CPU time per ${unit}, by thread:`);
      let sumU = 0, sumS = 0;
      for (const [k, v] of t1) {
        const b = t0.get(k) ?? { user: 0, sys: 0 };
        const u = (v.user - b.user) / CLK_TCK, s = (v.sys - b.sys) / CLK_TCK;
        if (u + s === 0) continue;
        sumU += u;
        sumS += s;
        report.push(
          `  ${k.padEnd(28)} user ${(u * 1e6 / reqs).toFixed(2).padStart(7)} µs  sys ${
            (s * 1e6 / reqs).toFixed(2).padStart(7)
          } µs`,
        );
      }
      report.push(
        `  ${"total".padEnd(28)} user ${(sumU * 1e6 / reqs).toFixed(2).padStart(7)} µs  sys ${
          (sumS * 1e6 / reqs).toFixed(2).padStart(7)
        } µs`,
      );
      if (o.strace) {
        report.push(`server system calls per ${unit} (strace -c -f over the timed run):`);
        for (const line of (await Deno.readTextFile(straceOut)).split("\n")) {
          const f = line.trim().split(/\s+/);
          // % time, seconds, usecs/call, calls, [errors,] syscall
          if (f.length < 5 || !/^\d/.test(f[0]) || f[f.length - 1] === "total") continue;
          const calls = Number(f[3]);
          const errors = f.length === 6 ? Number(f[4]) : 0;
          report.push(
            `  ${f[f.length - 1].padEnd(20)} ${(calls / reqs).toFixed(3).padStart(9)}` +
              (errors ? `  (errors ${(errors / reqs).toFixed(3)})` : ""),
          );
        }
      }
      if (o.perf) {
        const dso = await run("perf", [
          "report",
          "-i",
          perfData,
          "--no-children",
          "--sort",
          "dso",
          "-g",
          "none",
          "--stdio",
        ], 120_000);
        report.push("perf (samples of the server process while running):");
        report.push(
          dso.stdout.split("\n").filter((l) => l && !l.startsWith("#")).slice(0, 12).join("\n"),
        );
        const sym = await run("perf", [
          "report",
          "-i",
          perfData,
          "--no-children",
          "--sort",
          "dso,sym",
          "-g",
          "none",
          "--stdio",
        ], 120_000);
        report.push(
          sym.stdout.split("\n").filter((l) => l && !l.startsWith("#")).slice(0, 40).join("\n"),
        );
      }
      return warm + reqs;
    }, o.secs * 1000 + 300_000);
    if (o.cpuProf) {
      // The profile is written when the server exits (after the unmount above).
      const files = [...Deno.readDirSync(profDir)].map((e) => e.name).filter((n) =>
        n.endsWith(".cpuprofile") && !n.includes("worker")
      );
      // The profile spans the whole process: divide by every request it served.
      for (const f of files) report.push(summarizeCpuProfile(join(profDir, f), allRequests));
    }
  } finally {
    await run("umount", ["-l", src], 20_000).catch(() => null);
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
  console.log(report.join("\n"));
}

if (import.meta.main) await main();

/**
 * The denofuse benchmark: denofuse against libfuse's C low-level examples,
 * pyfuse3 and go-fuse, in one run, over the same backing tmpfs. See
 * bench/README.md.
 *
 *     deno task bench                 # full run (3 runs per case, ~15 min)
 *     deno task bench --quick         # smoke run (1 run, small sizes)
 *     deno task bench:passthrough     # kernel passthrough, inside Debian 13 (libfuse 3.17)
 *     deno run -A bench/run.ts --help
 *
 * Writes bench/results/latest.{json,md,svg} (or --out=DIR); another set
 * (`--set=`, bench/lib/sets.ts) writes its own files there instead.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { buildAll } from "./lib/build.ts";
import { buildGoServers } from "./lib/build_go.ts";
import { stopDatabases, withDatabase } from "./lib/database.ts";
import {
  type CaseDef,
  CASES,
  fsbench,
  measure,
  prepare,
  type SessionContext,
  statTarget,
  warmUp,
} from "./lib/cases.ts";
import { fuseUnmount, isMounted, run, runOk, sleep, withServer } from "./lib/proc.ts";
import { COMPARISONS, PYTHON, serverDefs } from "./lib/servers.ts";
import { type BenchSet, serversOf, SETS } from "./lib/sets.ts";
import { median, ratio } from "./lib/stats.ts";
import type {
  BenchResults,
  CaseResult,
  MemoryResult,
  Mode,
  ServerDef,
  SetId,
} from "./lib/types.ts";
import { renderMarkdown } from "./lib/report.ts";
import { renderSvg } from "./lib/svg.ts";

const REPO = join(dirname(new URL(import.meta.url).pathname), "..");

const USAGE = `usage: deno run --allow-all bench/run.ts [options]

  --set=ID           main (default), kernel-passthrough, paths or pgfs: which servers and cases
                     run, which targets are checked and which results files are written
                     (bench/lib/sets.ts; kernel-passthrough needs libfuse 3.17+, pgfs PostgreSQL)
  --quick            1 run, short cases, small sizes (a smoke test)
  --runs=N           runs per case; the median is reported (default 3)
  --secs=S           seconds per timed case (default 0.5; quick 0.15)
  --servers=a,b      only these servers (ids: see bench/README.md)
  --modes=m,m        pinned and/or unpinned (default both)
  --entries=N        entries in the readdir directory (default 10000; quick 1000)
  --lookups=N        lookup/forget cycles for the denofuse memory check (default 1000000; quick 4000)
  --lookups-ref=N    the same for the libfuse C, pyfuse3 and go-fuse servers
                     (default 200000; quick 4000)
  --drop-every=N     drop the kernel's caches every N lookups; tmpfs and passthrough
                     servers look up N distinct files in turn (default 1000; quick 500)
  --wait-quiet=S     before each session wait up to S seconds for other processes to leave
                     the CPUs idle (>= 90%); default 20, quick 0
  --parallel=N       client processes in the p4-* cases (default 4)
  --file-cap=BYTES   size at which the sequential writes wrap (default 32 MiB; quick 4 MiB)
  --no-memory        skip the memory / lookup-cycle sessions
  --out=DIR          where the results files go (default bench/results)
`;

interface Config {
  set: BenchSet;
  quick: boolean;
  runs: number;
  secs: number;
  servers: string[] | null;
  modes: Mode[];
  entries: number;
  lookups: number;
  lookupsRef: number;
  dropEvery: number;
  waitQuiet: number;
  parallel: number;
  fileCap: number;
  memory: boolean;
  out: string;
}

function parseArgs(args: string[]): Config {
  const quick = args.includes("--quick");
  const cfg: Config = {
    set: SETS.main,
    quick,
    runs: quick ? 1 : 3,
    secs: quick ? 0.15 : 0.5,
    servers: null,
    modes: ["pinned", "unpinned"],
    entries: quick ? 1000 : 10_000,
    lookups: quick ? 4000 : 1_000_000,
    lookupsRef: quick ? 4000 : 200_000,
    dropEvery: quick ? 500 : 1000,
    waitQuiet: quick ? 0 : 20,
    parallel: 4,
    fileCap: quick ? 4 << 20 : 32 << 20,
    memory: true,
    out: join(REPO, "bench/results"),
  };
  for (const arg of args) {
    const [key, value] = arg.split("=", 2);
    const num = () => {
      const n = Number(value);
      if (!Number.isFinite(n) || n <= 0) {
        throw new Error(`${key} needs a positive number\n${USAGE}`);
      }
      return n;
    };
    switch (key) {
      case "--set":
        if (!Object.hasOwn(SETS, value)) {
          throw new Error(`--set takes ${Object.keys(SETS).join(" or ")}\n${USAGE}`);
        }
        cfg.set = SETS[value as SetId];
        break;
      case "--quick":
        break;
      case "--runs":
        cfg.runs = Math.round(num());
        break;
      case "--secs":
        cfg.secs = num();
        break;
      case "--servers":
        cfg.servers = value.split(",").filter(Boolean);
        break;
      case "--modes":
        cfg.modes = value.split(",").filter(Boolean) as Mode[];
        if (cfg.modes.some((m) => m !== "pinned" && m !== "unpinned")) {
          throw new Error(`--modes takes pinned and/or unpinned\n${USAGE}`);
        }
        break;
      case "--entries":
        cfg.entries = Math.round(num());
        break;
      case "--lookups":
        cfg.lookups = Math.round(num());
        break;
      case "--lookups-ref":
        cfg.lookupsRef = Math.round(num());
        break;
      case "--wait-quiet":
        cfg.waitQuiet = Number(value);
        if (!(cfg.waitQuiet >= 0)) throw new Error(`--wait-quiet needs seconds >= 0\n${USAGE}`);
        break;
      case "--drop-every":
        cfg.dropEvery = Math.round(num());
        break;
      case "--parallel":
        cfg.parallel = Math.round(num());
        break;
      case "--file-cap":
        cfg.fileCap = Math.round(num());
        break;
      case "--no-memory":
        cfg.memory = false;
        break;
      case "--out":
        cfg.out = value;
        break;
      case "--help":
      case "-h":
        console.log(USAGE);
        Deno.exit(0);
        break;
      default:
        throw new Error(`unknown option ${arg}\n${USAGE}`);
    }
  }
  return cfg;
}

function log(msg: string): void {
  console.error(`[bench] ${msg}`);
}

/**
 * Wake-up round trip between two processes over pipes, on one CPU and
 * across CPUs (median of 3): what any request/reply protocol pays at
 * least, and on a VM with idle vCPUs halting, the main cost of "unpinned".
 */
async function pipeRoundTrips(
  fsbenchPath: string,
): Promise<{ sameCpuUs: number; crossCpuUs: number }> {
  const client = { fsbench: fsbenchPath, pinned: false };
  const us = async (peer: number) => {
    const xs: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await fsbench(client, "pingpong", { cpu: 0, peer, secs: 0.3 }, 30_000);
      xs.push(r.secs * 1e6 / r.ops);
    }
    return Math.round(median(xs) * 100) / 100;
  };
  return {
    sameCpuUs: await us(0),
    crossCpuUs: navigator.hardwareConcurrency > 1 ? await us(1) : NaN,
  };
}

/** Facts about the machine and software, for the report. */
async function machineInfo(): Promise<Omit<BenchResults["machine"], "pipeRoundTrip">> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo");
  const meminfo = await Deno.readTextFile("/proc/meminfo");
  const tryRun = async (cmd: string, args: string[]) => {
    try {
      const r = await run(cmd, args, 20_000);
      return r.code === 0 ? r.stdout.trim() : "unknown";
    } catch {
      return "unknown";
    }
  };
  return {
    nproc: navigator.hardwareConcurrency,
    cpuModel: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1].trim() ?? "unknown",
    kernel: (await Deno.readTextFile("/proc/sys/kernel/osrelease")).trim(),
    memTotalKiB: Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1] ?? 0),
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    libfuse: await tryRun("pkg-config", ["--modversion", "fuse3"]),
    pyfuse3: await tryRun(PYTHON, ["-c", "import pyfuse3; print(pyfuse3.__version__)"]),
    python: await tryRun(PYTHON, ["-c", "import platform; print(platform.python_version())"]),
    goFuse: await tryRun("dpkg-query", [
      "-W",
      "-f=${Version}",
      "golang-github-hanwen-go-fuse-dev",
    ]),
    go: await tryRun("go", ["env", "GOVERSION"]),
  };
}

/** The library's files: whether any differs from the commit is recorded with the results. */
const LIBRARY_PATHS = ["core", "ffi", "ops", "utils", "posix", "mod.ts", "posix.ts", "examples"];

/**
 * The checked-out commit and whether library files differ from it. Without
 * git (the Debian 13 root filesystem has none) the commit is read from
 * .git/ and the working tree is not checked (`dirty` null).
 */
async function gitInfo(): Promise<BenchResults["git"]> {
  try {
    const commit = (await runOk("git", ["-C", REPO, "rev-parse", "HEAD"], 10_000)).trim();
    const status = await runOk(
      "git",
      ["-C", REPO, "status", "--porcelain", "--", ...LIBRARY_PATHS],
      10_000,
    );
    return { commit, dirty: status.trim() !== "" };
  } catch {
    return { commit: await headFromGitDir().catch(() => "unknown"), dirty: null };
  }
}

/** HEAD's commit, read from .git/ (a loose or packed branch ref, or a detached HEAD). */
async function headFromGitDir(): Promise<string> {
  const git = join(REPO, ".git");
  const head = (await Deno.readTextFile(join(git, "HEAD"))).trim();
  if (!head.startsWith("ref: ")) return head;
  const ref = head.slice(5);
  try {
    return (await Deno.readTextFile(join(git, ref))).trim();
  } catch {
    const packed = await Deno.readTextFile(join(git, "packed-refs"));
    const line = packed.split("\n").find((l) => l.endsWith(` ${ref}`));
    if (!line) throw new Error(`${ref} not found`);
    return line.split(" ")[0];
  }
}

/** State needed to clean up after an interruption. */
const live = { mounts: new Set<string>(), backing: "" };

async function emergencyCleanup(): Promise<void> {
  // Databases first: once they are down, no pgfs can mount any more.
  await stopDatabases();
  for (const mnt of live.mounts) await fuseUnmount(mnt);
  if (live.backing && (await isMounted(live.backing))) {
    await run("umount", ["-l", live.backing], 10_000).catch(() => null);
  }
}

/**
 * Mounts a kernel tmpfs to back the passthrough servers (and to measure
 * as the no-FUSE reference). Falls back to a directory on /dev/shm when
 * mounting is not allowed.
 */
async function mountBacking(
  work: string,
  sizeBytes: number,
): Promise<{ dir: string; mounted: boolean }> {
  const dir = join(work, "backing");
  await Deno.mkdir(dir);
  const r = await run("mount", [
    "-t",
    "tmpfs",
    "-o",
    `size=${sizeBytes},mode=0755`,
    "denofuse-bench",
    dir,
  ], 20_000)
    .catch(() => null);
  if (r?.code === 0) {
    live.backing = dir;
    return { dir, mounted: true };
  }
  await Deno.remove(dir);
  const shm = await Deno.makeTempDir({ dir: "/dev/shm", prefix: "denofuse-bench-" });
  log(`could not mount a tmpfs (${r?.stderr.trim() ?? "mount failed"}); using ${shm}`);
  return { dir: shm, mounted: false };
}

/** Refuses a set on an older libfuse than it needs (see `BenchSet.minLibfuse`). */
async function checkLibfuse(set: BenchSet): Promise<void> {
  if (!set.minLibfuse) return;
  const version = (await runOk("pkg-config", ["--modversion", "fuse3"], 10_000)).trim();
  const [major, minor] = version.split(".").map(Number);
  const [needMajor, needMinor] = set.minLibfuse;
  if (major > needMajor || (major === needMajor && minor >= needMinor)) return;
  throw new Error(
    `--set=${set.id} needs libfuse ${needMajor}.${needMinor}+ (found ${version}); ` +
      `run it in Debian 13's root filesystem: deno task bench:passthrough`,
  );
}

/**
 * Fails with what to install unless the Python interpreter the pyfuse3
 * servers run under can import pyfuse3, so that a missing package stops the
 * run before it starts rather than midway.
 */
async function checkPyfuse3(ids: string[]): Promise<void> {
  const r = await run(PYTHON, ["-c", "import pyfuse3"], 20_000).catch(() => null);
  if (r?.code === 0) return;
  throw new Error(
    `the pyfuse3 servers need pyfuse3 for ${PYTHON} (${
      r?.stderr.trim().split("\n").at(-1) ?? "it does not run"
    }): ` +
      "install it with `apt-get install -y python3-pyfuse3`, or leave the pyfuse3 servers " +
      `(${ids.join(", ")}) out with --servers=`,
  );
}

/** The cases a set runs for a server, in run order. */
function casesOf(set: BenchSet, def: ServerDef): CaseDef[] {
  return CASES.filter((c) => c.kinds.includes(def.kind) && (set.cases?.includes(c.id) ?? true));
}

/** One mount session: all cases of one server in one mode; returns rates by case id. */
async function session(
  def: ServerDef,
  mode: Mode,
  cfg: Config,
  fsbenchPath: string,
  work: string,
  backing: string,
  tag: string,
  peaks: Map<string, number>,
): Promise<Map<string, number>> {
  const pinned = mode === "pinned";
  const cases = casesOf(cfg.set, def);
  return await withSource(def, join(backing, `${def.id}-${tag}`), pinned, async (src) => {
    const mnt = join(work, `mnt-${def.id}`);
    await Deno.mkdir(mnt, { recursive: true });
    const out = new Map<string, number>();
    const ctxFor = (root: string): SessionContext => ({
      fsbench: fsbenchPath,
      pinned,
      secs: cfg.secs,
      parallel: cfg.parallel,
      fileCap: cfg.fileCap,
      // Filling it is slow on a database filesystem (pgfs: ~160 creates/s).
      entries: cases.some((c) => c.id === "readdir") ? cfg.entries : 0,
      root,
      kind: def.kind,
      direct: !def.bufferedIo,
    });
    const runCases = async (ctx: SessionContext) => {
      await warmUp(ctx);
      const created = new Map<number, number>();
      for (const c of cases) {
        out.set(c.id, await measure(ctx, c, created));
      }
    };
    try {
      const argv = def.argv(mnt, src);
      if (argv === null) {
        // The kernel's tmpfs itself: the same clients, no FUSE.
        const ctx = ctxFor(src);
        await prepare(ctx);
        await runCases(ctx);
        return out;
      }
      // Passthrough sources are filled directly (fast, and not what is measured).
      if (def.needsSource) await prepare(ctxFor(src));
      const full = pinned ? ["taskset", "-c", "0", ...argv] : argv;
      live.mounts.add(mnt);
      const budgetMs = (cases.length + 10) * (cfg.secs * 1000 + 2000) * 3 + 300_000;
      const { hwmKiB } = await withServer(full, mnt, async () => {
        const ctx = ctxFor(mnt);
        if (!def.needsSource) await prepare(ctx);
        await runCases(ctx);
      }, budgetMs);
      peaks.set(def.id, Math.max(peaks.get(def.id) ?? 0, hwmKiB));
      return out;
    } finally {
      live.mounts.delete(mnt);
      await Deno.remove(mnt).catch(() => {});
    }
  });
}

/**
 * Runs `fn` with a session's source: for a PostgreSQL-backed server the
 * URL of an empty database of a server of its own, else `path` on the
 * backing tmpfs, made first and removed after when the server mirrors a
 * source or keeps a state directory there.
 */
async function withSource<T>(
  def: ServerDef,
  path: string,
  pinned: boolean,
  fn: (src: string) => Promise<T>,
): Promise<T> {
  if (def.postgres) return await withDatabase(pinned, fn);
  const own = def.needsSource || def.stateDir;
  if (own) await Deno.mkdir(path);
  try {
    return await fn(path);
  } finally {
    if (own) await Deno.remove(path, { recursive: true }).catch(() => {});
  }
}

/**
 * Idle RSS, then lookup/forget cycles in two halves, RSS after each. The
 * hello servers have one file, so its lookup count grows by `dropEvery`
 * between forgets; tmpfs and passthrough servers get `dropEvery` files
 * looked up in turn, so that every lookup is matched by a forget of that
 * inode (a full lookup/forget cycle, on the server side too).
 */
async function memorySession(
  def: ServerDef,
  cfg: Config,
  fsbenchPath: string,
  work: string,
  backing: string,
  peaks: Map<string, number>,
): Promise<MemoryResult | null> {
  if (def.argv("", "") === null) return null;
  const total = def.impl === "denofuse" ? cfg.lookups : cfg.lookupsRef;
  const half = Math.max(1, Math.floor(total / 2));
  const src = join(backing, `${def.id}-memory`);
  const mnt = join(work, `mnt-${def.id}`);
  await Deno.mkdir(mnt, { recursive: true });
  const client = { fsbench: fsbenchPath, pinned: true };
  const files = def.kind === "hello" ? 0 : cfg.dropEvery;
  const populate = (dir: string) => fsbench(client, "populate", { path: dir, max: files }, 300_000);
  if (def.needsSource) {
    await Deno.mkdir(join(src, "lk"), { recursive: true });
    await populate(join(src, "lk"));
  }
  if (def.stateDir) await Deno.mkdir(src);
  try {
    live.mounts.add(mnt);
    const perLookupMs = def.impl === "pyfuse3" ? 1 : 0.3;
    // Pinned (server and client on CPU 0): RSS does not depend on it, and it
    // avoids the cross-CPU wake-ups that make unpinned runs slow and erratic.
    const argv = ["taskset", "-c", "0", ...def.argv(mnt, src)!];
    const { value, hwmKiB } = await withServer(argv, mnt, async (server) => {
      // Idle before anything else touches the filesystem.
      await sleep(500);
      const idle = await server.memory();
      if (def.kind === "tmpfs") {
        await Deno.mkdir(join(mnt, "lk"));
        await populate(join(mnt, "lk"));
      }
      const args: Record<string, string | number> = files
        ? { path: join(mnt, "lk"), files, every: cfg.dropEvery }
        : { path: join(mnt, statTarget(def.kind)), every: cfg.dropEvery };
      const t = 60_000 + half * perLookupMs;
      const a = await fsbench(client, "lookups", { ...args, max: half }, t);
      await sleep(500);
      const mid = await server.memory();
      const b = await fsbench(client, "lookups", { ...args, max: total - half }, t);
      await sleep(500);
      const end = await server.memory();
      return {
        idleKiB: idle.rssKiB,
        peakKiB: 0,
        afterHalfKiB: mid.rssKiB,
        afterLookupsKiB: end.rssKiB,
        growthSecondHalfKiB: end.rssKiB - mid.rssKiB,
        lookups: a.ops + b.ops,
        files: Math.max(files, 1),
        dropEvery: cfg.dropEvery,
        drops: a.extra + b.extra,
        lookupRate: (a.ops + b.ops) / (a.secs + b.secs),
      } satisfies MemoryResult;
    }, 120_000 + total * perLookupMs * 3);
    peaks.set(def.id, Math.max(peaks.get(def.id) ?? 0, hwmKiB));
    return value;
  } finally {
    live.mounts.delete(mnt);
    await Deno.remove(mnt).catch(() => {});
    if (def.needsSource || def.stateDir) {
      await Deno.remove(src, { recursive: true }).catch(() => {});
    }
  }
}

/** Percentage of CPU time that was idle over `ms` (all CPUs). */
async function idlePercent(ms: number): Promise<number> {
  const read = async () => {
    const line = (await Deno.readTextFile("/proc/stat")).split("\n")[0];
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    return { idle: v[3] + v[4], total: v.reduce((a, b) => a + b, 0) };
  };
  const a = await read();
  await sleep(ms);
  const b = await read();
  return b.total > a.total ? (b.idle - a.idle) / (b.total - a.total) * 100 : 100;
}

/**
 * Before a session: how busy other processes keep the machine (nothing of
 * ours runs now). Waits up to `waitSecs` for it to be at least 90% idle.
 */
async function quietCheck(waitSecs: number): Promise<number> {
  const deadline = performance.now() + waitSecs * 1000;
  let idle = await idlePercent(300);
  while (idle < 90 && performance.now() < deadline) {
    idle = await idlePercent(1000);
  }
  return idle;
}

async function main(): Promise<void> {
  const cfg = parseArgs(Deno.args);
  const started = performance.now();
  if (Deno.uid() !== 0) {
    log("warning: not root; mounting the backing tmpfs and drop_caches need root");
  }

  await checkLibfuse(cfg.set);
  const buildDir = join("bench/.build", cfg.set.buildDir);
  const built = await buildAll(REPO, join(REPO, buildDir));
  log(`built ${buildDir}/{fsbench,hello_ll0,passthrough_ll}`);
  let defs = serversOf(cfg.set, serverDefs(REPO, built));
  if (cfg.servers) {
    const unknown = cfg.servers.filter((s) => !defs.some((d) => d.id === s));
    if (unknown.length) {
      throw new Error(
        `unknown server(s) ${unknown.join(", ")}; known: ${defs.map((d) => d.id).join(", ")}`,
      );
    }
    defs = defs.filter((d) => cfg.servers!.includes(d.id));
  }
  const pyfuse3 = defs.filter((d) => d.impl === "pyfuse3").map((d) => d.id);
  if (pyfuse3.length) await checkPyfuse3(pyfuse3);
  if (defs.some((d) => d.impl === "go-fuse")) {
    await buildGoServers(REPO, join(REPO, buildDir));
    log(`built ${buildDir}/{go_loopback,go_memfs}`);
  }

  const work = await Deno.makeTempDir({ prefix: "denofuse-bench-" });
  const onSignal = () => {
    log("interrupted: unmounting");
    emergencyCleanup().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  const results: BenchResults["results"] = {};
  const memory: Record<string, MemoryResult> = {};
  const peaks = new Map<string, number>();
  const quiet: number[] = [];
  /** Sessions that started while other processes kept the machine busy. */
  const busy: string[] = [];
  const pipeRoundTrip = await pipeRoundTrips(built.fsbench);
  log(
    `pipe round trip: ${pipeRoundTrip.sameCpuUs} µs on one CPU, ` +
      `${pipeRoundTrip.crossCpuUs} µs across CPUs`,
  );
  const loadStart = (await Deno.readTextFile("/proc/loadavg")).trim();
  let backing = { dir: "", mounted: false };
  try {
    backing = await mountBacking(work, 4 * 1024 ** 3);
    for (let runIndex = 0; runIndex < cfg.runs; runIndex++) {
      for (const mode of cfg.modes) {
        for (const def of defs) {
          const idlePct = await quietCheck(cfg.waitQuiet);
          quiet.push(idlePct);
          if (idlePct < 90) {
            busy.push(`run ${runIndex + 1} ${mode} ${def.id}: ${idlePct.toFixed(0)}% idle`);
          }
          const t0 = performance.now();
          const rates = await session(
            def,
            mode,
            cfg,
            built.fsbench,
            work,
            backing.dir,
            `${mode}-${runIndex}`,
            peaks,
          );
          const byCase = ((results[mode] ??= {})[def.id] ??= {});
          for (const [id, v] of rates) {
            const unit = CASES.find((c) => c.id === id)!.unit;
            (byCase[id] ??= { unit, runs: [], median: NaN } as CaseResult).runs.push(v);
          }
          const brief = [...rates].slice(0, 4).map(([k, v]) => `${k} ${Math.round(v)}`).join(", ");
          log(
            `run ${runIndex + 1}/${cfg.runs} ${mode} ${def.id}: ${brief}` +
              ` (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
          );
        }
      }
    }
    if (cfg.memory && cfg.set.memory) {
      for (const def of defs) {
        const idlePct = await quietCheck(cfg.waitQuiet);
        quiet.push(idlePct);
        if (idlePct < 90) busy.push(`memory ${def.id}: ${idlePct.toFixed(0)}% idle`);
        const m = await memorySession(def, cfg, built.fsbench, work, backing.dir, peaks);
        if (m) {
          memory[def.id] = m;
          log(
            `memory ${def.id}: idle ${
              (m.idleKiB / 1024).toFixed(1)
            } MiB, after ${m.lookups} lookups ` +
              `${(m.afterLookupsKiB / 1024).toFixed(1)} MiB (${
                Math.round(m.lookupRate)
              } lookups/s)`,
          );
        }
      }
    }
  } finally {
    await emergencyCleanup();
    if (backing.mounted) {
      await run("umount", [backing.dir], 20_000).catch(() => null);
      if (await isMounted(backing.dir)) {
        await run("umount", ["-l", backing.dir], 20_000).catch(() => null);
      }
    }
    await Deno.remove(work, { recursive: true }).catch(() => {});
    if (!backing.mounted && backing.dir) {
      await Deno.remove(backing.dir, { recursive: true }).catch(() => {});
    }
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
  for (const [id, m] of Object.entries(memory)) m.peakKiB = peaks.get(id) ?? 0;

  for (const byServer of Object.values(results)) {
    for (const byCase of Object.values(byServer)) {
      for (const r of Object.values(byCase)) r.median = median(r.runs);
    }
  }
  const ratios: BenchResults["ratios"] = {};
  for (const mode of cfg.modes) {
    for (const cmp of COMPARISONS) {
      const num = results[mode]?.[cmp.num];
      const den = results[mode]?.[cmp.den];
      if (!num || !den) continue;
      const row: Record<string, number | null> = {};
      for (const c of CASES) {
        if (num[c.id] && den[c.id]) row[c.id] = ratio(num[c.id].median, den[c.id].median);
      }
      (ratios[mode] ??= {})[cmp.id] = row;
    }
  }

  const res: BenchResults = {
    schema: "denofuse-bench/1",
    set: cfg.set.id,
    date: new Date().toISOString(),
    quick: cfg.quick,
    durationSecs: Math.round((performance.now() - started) / 1000),
    machine: { ...(await machineInfo()), pipeRoundTrip },
    background: {
      idleBeforeSessionsMinPct: Math.round(Math.min(...quiet, 100) * 10) / 10,
      idleBeforeSessionsMedianPct: Math.round(median(quiet) * 10) / 10,
      loadavgStart: loadStart,
      loadavgEnd: (await Deno.readTextFile("/proc/loadavg")).trim(),
      busySessions: busy,
    },
    git: await gitInfo(),
    config: {
      runs: cfg.runs,
      secs: cfg.secs,
      parallel: cfg.parallel,
      entries: cfg.entries,
      fileCapBytes: cfg.fileCap,
      lookups: cfg.lookups,
      lookupsRef: cfg.lookupsRef,
      waitQuiet: cfg.waitQuiet,
      dropEvery: cfg.dropEvery,
      modes: cfg.modes,
      servers: defs.map((d) => d.id),
      backing: backing.mounted ? "tmpfs mounted for the run" : "directory on /dev/shm (tmpfs)",
    },
    servers: defs.map((d) => ({
      id: d.id,
      impl: d.impl,
      kind: d.kind,
      label: d.label,
      command: (d.argv("MNT", d.postgres ? "POSTGRES_URL" : "SRC") ??
        ["(none: clients run on the backing tmpfs)"])
        .map((a) => a.replace(REPO + "/", "").replace(Deno.execPath(), "deno"))
        .join(" "),
      bufferedIo: d.bufferedIo ?? false,
    })),
    cases: CASES.filter((c) => defs.some((d) => casesOf(cfg.set, d).includes(c))).map((c) => ({
      id: c.id,
      label: c.label,
      unit: c.unit,
      parallel: c.parallel,
    })),
    results,
    ratios,
    comparisons: COMPARISONS.filter((c) =>
      defs.some((d) => d.id === c.num) && defs.some((d) => d.id === c.den)
    ),
    memory,
    targets: [],
  };
  res.targets = cfg.set.targets(res);

  const base = join(cfg.out, cfg.set.output);
  await Deno.mkdir(cfg.out, { recursive: true });
  await Deno.writeTextFile(`${base}.json`, JSON.stringify(res, null, 2) + "\n");
  await Deno.writeTextFile(`${base}.md`, renderMarkdown(res));
  if (cfg.set.svg) await Deno.writeTextFile(`${base}.svg`, renderSvg(res));
  log(`wrote ${base}.{json,md${cfg.set.svg ? ",svg" : ""}} in ${res.durationSecs} s`);
}

if (import.meta.main) {
  try {
    await main();
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    Deno.exit(1);
  }
}

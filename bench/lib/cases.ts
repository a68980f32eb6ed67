/**
 * The measurements: what each case runs with the C client
 * (bench/clients/fsbench.c) and how its result becomes a rate.
 *
 * @module
 */

import { join } from "node:path";
import { runOk } from "./proc.ts";
import type { Kind } from "./types.ts";

/** How a case's rate is expressed. */
export type Unit = "ops/s" | "MiB/s" | "entries/s";

/** One measurement. */
export interface CaseDef {
  readonly id: string;
  readonly label: string;
  readonly unit: Unit;
  /** Server kinds it applies to (hello filesystems have one read-only file). */
  readonly kinds: readonly Kind[];
  /** Run by `parallel` client processes at once; the rates are summed. */
  readonly parallel: boolean;
}

const ALL: readonly Kind[] = ["hello", "tmpfs", "passthrough"];
const RW: readonly Kind[] = ["tmpfs", "passthrough"];

const base: Array<Omit<CaseDef, "parallel">> = [
  { id: "stat", label: "stat()", unit: "ops/s", kinds: ALL },
  { id: "fstat", label: "fstat()", unit: "ops/s", kinds: ALL },
  { id: "write-1m", label: "seq. write 1 MiB", unit: "MiB/s", kinds: RW },
  { id: "read-1m", label: "seq. read 1 MiB", unit: "MiB/s", kinds: RW },
  { id: "write-4k", label: "seq. write 4 KiB", unit: "MiB/s", kinds: RW },
  { id: "read-4k", label: "seq. read 4 KiB", unit: "MiB/s", kinds: RW },
  { id: "create", label: "create+close", unit: "ops/s", kinds: RW },
  { id: "unlink", label: "unlink", unit: "ops/s", kinds: RW },
  { id: "mkdir-rmdir", label: "mkdir+rmdir", unit: "ops/s", kinds: RW },
];

/** All cases, in the order they run within a mount session. */
export const CASES: readonly CaseDef[] = [
  ...base.map((c) => ({ ...c, parallel: false })),
  { id: "readdir", label: "readdir (10k dir)", unit: "entries/s", kinds: RW, parallel: false },
  ...base.map((c) => ({ ...c, id: `p4-${c.id}`, label: `4 clients: ${c.label}`, parallel: true })),
];

/** One line of fsbench output. */
export interface ClientResult {
  op: string;
  ops: number;
  secs: number;
  bytes: number;
  extra: number;
}

/** What a session's clients need to know. */
export interface SessionContext {
  fsbench: string;
  /** Pin every client to CPU 0. */
  pinned: boolean;
  /** Seconds per timed case. */
  secs: number;
  /** Client processes for the p4-* cases. */
  parallel: number;
  /** File size cap for the write cases (they wrap around). */
  fileCap: number;
  /** Entries in the readdir directory; 0 when no readdir case runs (none is made). */
  entries: number;
  /** Where the filesystem is (a mount point, or the backing directory itself). */
  root: string;
  kind: Kind;
  /** Whether reads and writes use O_DIRECT (fsbench's `direct=`). */
  direct: boolean;
}

/** Runs one fsbench process; parses its JSON line. */
export async function fsbench(
  ctx: { fsbench: string; pinned: boolean },
  op: string,
  args: Record<string, string | number | bigint>,
  timeoutMs: number,
): Promise<ClientResult> {
  const kv = Object.entries(args).map(([k, v]) => `${k}=${v}`);
  const argv = ctx.pinned
    ? ["taskset", "-c", "0", ctx.fsbench, op, ...kv]
    : [ctx.fsbench, op, ...kv];
  const out = await runOk(argv[0], argv.slice(1), timeoutMs);
  const line = out.trim().split("\n").pop() ?? "";
  const result = JSON.parse(line) as ClientResult;
  if (result.op !== op) throw new Error(`fsbench ${op}: unexpected output ${line}`);
  return result;
}

/** CLOCK_REALTIME in nanoseconds, `aheadMs` from now: a common start for parallel clients. */
function startAt(aheadMs: number): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now() + aheadMs) * 1e6));
}

/** The file every stat/fstat case uses. */
export function statTarget(kind: Kind): string {
  return kind === "hello" ? "hello" : "f";
}

/**
 * Creates what the cases of a tmpfs or passthrough session need: the stat
 * target, per-client directories and, if a readdir case runs, the readdir
 * directory.
 *
 * @param ctx the session
 * @param viaMount whether `ctx.root` is the mount (else the backing directory)
 */
export async function prepare(ctx: SessionContext): Promise<void> {
  if (ctx.kind === "hello") return;
  const r = ctx.root;
  await Deno.writeFile(join(r, "f"), new Uint8Array(0));
  for (const d of ["cr", "md", ...range(ctx.parallel).flatMap((i) => [`cr-${i}`, `md-${i}`])]) {
    await Deno.mkdir(join(r, d));
  }
  if (ctx.entries === 0) return;
  await Deno.mkdir(join(r, "big"));
  await fsbench(
    { fsbench: ctx.fsbench, pinned: false },
    "populate",
    { path: join(r, "big"), max: ctx.entries },
    300_000,
  );
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** Untimed warm-up so that JIT compilation is not measured. */
export async function warmUp(ctx: SessionContext): Promise<void> {
  const r = ctx.root;
  const secs = Math.min(0.3, ctx.secs);
  await fsbench(ctx, "stat", { path: join(r, statTarget(ctx.kind)), secs }, 60_000);
  await fsbench(ctx, "fstat", { path: join(r, statTarget(ctx.kind)), secs }, 60_000);
  if (ctx.kind === "hello") return;
  const w = join(r, "warm");
  const direct = ctx.direct ? 1 : 0;
  await fsbench(ctx, "write", { path: w, bs: 4096, size: 1 << 20, direct, secs: secs / 2 }, 60_000);
  await fsbench(ctx, "read", { path: w, bs: 4096, direct, secs: secs / 2 }, 60_000);
  await fsbench(ctx, "mkdir", { path: join(r, "md"), secs: secs / 2 }, 60_000);
  await Deno.remove(w);
}

/**
 * Runs one case (all its clients) and returns its rate.
 *
 * @param ctx the session
 * @param c the case
 * @param created files each client's create left behind (filled by create, used by unlink)
 * @returns the rate in the case's unit
 */
export async function measure(
  ctx: SessionContext,
  c: CaseDef,
  created: Map<number, number>,
): Promise<number> {
  const n = c.parallel ? ctx.parallel : 1;
  const op = c.parallel ? c.id.slice(3) : c.id;
  const start = startAt(c.parallel ? 150 : 0);
  const timeoutMs = ctx.secs * 1000 + 120_000;
  const r = ctx.root;
  // Per-client names: parallel clients never share a file or directory,
  // except the stat target.
  const suffix = (i: number) => (c.parallel ? `-${i}` : "");
  const one = async (i: number): Promise<ClientResult> => {
    const common = { secs: ctx.secs, start: c.parallel ? start : 0n };
    switch (op) {
      case "stat":
      case "fstat":
        return await fsbench(
          ctx,
          op,
          { path: join(r, statTarget(ctx.kind)), ...common },
          timeoutMs,
        );
      case "write-1m":
      case "write-4k":
      case "read-1m":
      case "read-4k": {
        const bs = op.endsWith("1m") ? 1 << 20 : 4096;
        const file = join(r, `rw-${op.slice(-2)}${suffix(i)}`);
        const verb = op.startsWith("write") ? "write" : "read";
        return await fsbench(
          ctx,
          verb,
          { path: file, bs, size: ctx.fileCap, direct: ctx.direct ? 1 : 0, ...common },
          timeoutMs,
        );
      }
      case "create": {
        const res = await fsbench(
          ctx,
          "create",
          { path: join(r, `cr${suffix(i)}`), ...common },
          timeoutMs,
        );
        created.set(c.parallel ? i : -1, res.ops);
        return res;
      }
      case "unlink": {
        const count = created.get(c.parallel ? i : -1) ?? 0;
        return await fsbench(
          ctx,
          "unlink",
          { path: join(r, `cr${suffix(i)}`), max: count, start: common.start },
          timeoutMs,
        );
      }
      case "mkdir-rmdir":
        return await fsbench(
          ctx,
          "mkdir",
          { path: join(r, `md${suffix(i)}`), ...common },
          timeoutMs,
        );
      case "readdir":
        return await fsbench(ctx, "readdir", { path: join(r, "big"), ...common }, timeoutMs);
      default:
        throw new Error(`unknown case ${c.id}`);
    }
  };
  const results = await Promise.all(range(n).map(one));
  let total = 0;
  for (const res of results) {
    if (res.secs <= 0) continue;
    if (c.unit === "MiB/s") total += res.bytes / (1 << 20) / res.secs;
    else if (c.unit === "entries/s") total += res.extra / res.secs;
    else total += res.ops / res.secs;
  }
  return total;
}

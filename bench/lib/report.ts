/**
 * bench/results/latest.md (or another set's .md) from the results.
 *
 * @module
 */

import { SETS } from "./sets.ts";
import { fmtRate, fmtRatio } from "./stats.ts";
import type { BenchResults, Mode } from "./types.ts";

function table(head: string[], rows: string[][], textColumns = 1): string {
  const align = head.map((_, i) => (i < textColumns ? "---" : "---:"));
  return [head, align, ...rows].map((r) => `| ${r.join(" | ")} |`).join("\n");
}

const MODE_TEXT: Record<Mode, string> = {
  pinned: "pinned: server and every client on CPU 0 (`taskset -c 0`)",
  unpinned: "unpinned: no CPU affinity",
};

/** What the report says about the working tree, by `git.dirty`. */
const GIT_STATE: Record<string, string> = {
  true: " (library files modified)",
  false: "",
  null: " (library files not compared: no git where it ran)",
};

/** How the clients read and write, per server. */
function ioText(res: BenchResults): string {
  const buffered = res.servers.filter((s) => s.bufferedIo).map((s) => `\`${s.id}\``);
  const all =
    "Reads and writes use O_DIRECT, so every client call is one FUSE request of that size.";
  if (!buffered.length) return all;
  return `${
    all.replace("use O_DIRECT", "use O_DIRECT (except for " + buffered.join(", ") + ")")
  } ` +
    `Without O_DIRECT the kernel hands the I/O of a file in kernel passthrough straight to its ` +
    `backing file (an O_DIRECT open would be served by the server); the kernel's tmpfs ignores ` +
    `O_DIRECT, so on it both are the same page-cache copy.`;
}

/**
 * Renders the Markdown report.
 *
 * @param res the results
 * @returns Markdown
 */
export function renderMarkdown(res: BenchResults): string {
  const m = res.machine;
  const c = res.config;
  const out: string[] = [];
  out.push(
    `# denofuse benchmark results${
      res.quick ? " (quick mode: smoke test, not representative)" : ""
    }`,
  );
  out.push("");
  out.push(
    `${res.date.slice(0, 10)} · ${m.nproc} × ${m.cpuModel} · Linux ${m.kernel} · ` +
      `${Math.round(m.memTotalKiB / 1024 / 1024)} GiB RAM · Deno ${m.deno} (V8 ${m.v8}) · ` +
      `libfuse ${m.libfuse} · pyfuse3 ${m.pyfuse3} (Python ${m.python}) · ` +
      (res.servers.some((s) => s.impl === "go-fuse") ? `go-fuse ${m.goFuse} (${m.go}) · ` : "") +
      `commit ${res.git.commit.slice(0, 10)}${GIT_STATE[String(res.git.dirty)]}`,
  );
  out.push("");
  out.push(
    `Median of ${c.runs} run(s); ${c.secs} s per case; ` +
      (res.cases.some((cs) => cs.parallel) ? `${c.parallel} clients in the \`p4-*\` cases; ` : "") +
      (res.cases.some((cs) => cs.id === "readdir")
        ? `readdir over ${c.entries.toLocaleString("en-US")} entries; `
        : "") +
      `writes wrap at ${c.fileCapBytes / (1 << 20)} MiB; backing store: ${c.backing}. ` +
      `Total time ${res.durationSecs} s. ` +
      `${ioText(res)} ` +
      `Ratios divide medians measured in this same run. See bench/README.md for the method.`,
  );
  out.push("");
  const pr = m.pipeRoundTrip;
  out.push(
    `Wake-up cost on this machine (pipe ping-pong between two processes, no FUSE): ` +
      `${pr.sameCpuUs} µs per round trip on one CPU, ${pr.crossCpuUs} µs across two CPUs. ` +
      `Every FUSE request is such a round trip, so where the scheduler puts server and client ` +
      `decides the unpinned numbers (see bench/README.md).`,
  );
  out.push("");
  const bg = res.background;
  out.push(
    `Other processes: the machine was at least ${bg.idleBeforeSessionsMinPct}% idle ` +
      `(median ${bg.idleBeforeSessionsMedianPct}%) right before each session; load average ` +
      `${bg.loadavgStart.split(" ").slice(0, 3).join(" ")} at the start, ` +
      `${bg.loadavgEnd.split(" ").slice(0, 3).join(" ")} at the end.` +
      (bg.busySessions.length
        ? ` Sessions that started while other processes kept the machine busy (each value is ` +
          `a median over ${c.runs} run(s), so one disturbed run moves it little): ` +
          `${bg.busySessions.join("; ")}.`
        : ""),
  );
  out.push("");

  out.push("## Servers");
  out.push("");
  out.push(table(["id", "what"], res.servers.map((s) => [`\`${s.id}\``, s.label]), 2));
  out.push("");

  for (const mode of c.modes) {
    const ratios = res.ratios[mode] ?? {};
    const cmps = res.comparisons.filter((x) => ratios[x.id]);
    const cases = res.cases.filter((cs) => cmps.some((x) => ratios[x.id][cs.id] != null));
    if (cmps.length && cases.length) {
      out.push(`## Ratios, ${MODE_TEXT[mode]}`);
      out.push("");
      out.push(
        table(
          ["case", ...cmps.map((x) => x.label)],
          cases.map((cs) => [cs.label, ...cmps.map((x) => fmtRatio(ratios[x.id][cs.id]))]),
        ),
      );
      out.push("");
    }
  }

  for (const mode of c.modes) {
    const byServer = res.results[mode] ?? {};
    const servers = res.servers.filter((s) => byServer[s.id]);
    const cases = res.cases.filter((cs) => servers.some((s) => byServer[s.id][cs.id]));
    if (!cases.length) continue;
    out.push(`## Rates, ${MODE_TEXT[mode]}`);
    out.push("");
    out.push(
      table(
        ["case", "unit", ...servers.map((s) => `\`${s.id}\``)],
        cases.map((cs) => [
          cs.label,
          cs.unit,
          ...servers.map((s) => fmtRate(byServer[s.id][cs.id]?.median)),
        ]),
      ),
    );
    out.push("");
  }

  const mem = Object.entries(res.memory);
  if (mem.length) {
    out.push("## Server memory (RSS, MiB)");
    out.push("");
    out.push(
      `Idle: after mounting and one stat. Peak: highest VmHWM over all of the server's sessions ` +
        `(the workload above included, so tmpfs peaks include file data). Lookup/forget ` +
        `cycles: stat() with timeouts 0 (one LOOKUP each) while ` +
        `\`echo 2 > /proc/sys/vm/drop_caches\` runs every ${c.dropEvery.toLocaleString("en-US")} ` +
        `calls so the kernel FORGETs the inodes; tmpfs and passthrough servers are asked for ` +
        `${c.dropEvery.toLocaleString("en-US")} distinct files in turn (each lookup matched by a ` +
        `forget), hello servers for their one file. denofuse servers do ` +
        `${c.lookups.toLocaleString("en-US")} cycles, the C, pyfuse3 and go-fuse ones ` +
        `${c.lookupsRef.toLocaleString("en-US")}. A leak shows as growth over the second half.`,
    );
    out.push("");
    const mib = (k: number) => (k / 1024).toFixed(1);
    out.push(
      table(
        [
          "server",
          "idle",
          "peak",
          "after half the cycles",
          "after all cycles",
          "growth, 2nd half",
          "cycles",
          "lookups/s",
        ],
        mem.map(([id, x]) => [
          `\`${id}\``,
          mib(x.idleKiB),
          mib(x.peakKiB),
          mib(x.afterHalfKiB),
          mib(x.afterLookupsKiB),
          mib(x.growthSecondHalfKiB),
          x.lookups.toLocaleString("en-US"),
          fmtRate(x.lookupRate),
        ]),
      ),
    );
    out.push("");
  }

  if (res.targets.length) {
    out.push(`## Targets (issue ${SETS[res.set].issue})`);
    out.push("");
    out.push(
      table(
        ["target", "mode", "measured", "wanted", "met"],
        res.targets.map((t) => [
          t.name,
          t.mode,
          t.value === null
            ? "—"
            : t.name.includes("MiB")
            ? t.value.toFixed(1)
            : t.name.startsWith("readdir")
            ? fmtRate(t.value)
            : fmtRatio(t.value),
          t.target,
          t.met === null ? "—" : t.met ? "yes" : "**no**",
        ]),
      ),
    );
    out.push("");
  }
  return out.join("\n");
}

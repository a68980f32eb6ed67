/**
 * bench/results/latest.svg: grouped bars of the denofuse ratios (vs the
 * libfuse C server, vs pyfuse3 and vs go-fuse) per case, one panel per CPU
 * mode, on a log2 axis with 1× marked. Hand-written SVG, no dependencies.
 *
 * @module
 */

import type { BenchResults, Mode } from "./types.ts";

type SeriesKey = "c" | "py" | "go";

/**
 * Which comparison feeds each series for a case: the hello servers for
 * round trips, else passthrough. go-fuse has no hello server here, so it
 * has no round-trip bar.
 */
function seriesFor(caseId: string): Record<SeriesKey, string | null> {
  const op = caseId.replace(/^p4-/, "");
  return op === "stat" || op === "fstat"
    ? { c: "hello/c", py: "hello/py", go: null }
    : { c: "passthrough/c", py: "passthrough/py", go: "passthrough/go" };
}

const SERIES: ReadonlyArray<{ key: SeriesKey; label: string; color: string }> = [
  { key: "c", label: "denofuse / libfuse C (-s)", color: "#2b6cb0" },
  { key: "py", label: "denofuse / pyfuse3", color: "#dd6b20" },
  { key: "go", label: "denofuse / go-fuse", color: "#2f855a" },
];

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function short(label: string): string {
  return label.replace("4 clients: ", "4× ").replace("seq. ", "").replace(" (10k dir)", "");
}

/**
 * Renders the chart.
 *
 * @param res the results
 * @returns an SVG document
 */
export function renderSvg(res: BenchResults): string {
  const modes = res.config.modes.filter((m) => res.ratios[m]);
  type Group = { id: string; label: string; values: Record<SeriesKey, number | null> };
  const panels: Array<{ mode: Mode; groups: Group[] }> = modes.map((mode) => ({
    mode,
    groups: res.cases
      .map((cs) => {
        const s = seriesFor(cs.id);
        const get = (cmp: string | null) =>
          cmp === null ? null : res.ratios[mode]?.[cmp]?.[cs.id] ?? null;
        return {
          id: cs.id,
          label: short(cs.label),
          values: { c: get(s.c), py: get(s.py), go: get(s.go) },
        };
      })
      .filter((g) => SERIES.some((x) => g.values[x.key] !== null)),
  }));
  const all = panels.flatMap((p) => p.groups.flatMap((g) => SERIES.map((x) => g.values[x.key])))
    .filter((v): v is number => v !== null && v > 0);
  const lo = Math.min(-2, Math.floor(Math.log2(Math.min(...all, 1))));
  const hi = Math.max(3, Math.ceil(Math.log2(Math.max(...all, 1))));

  const maxGroups = Math.max(1, ...panels.map((p) => p.groups.length));
  const groupW = 72, barW = 20, left = 64, right = 110, top = 104, panelH = 250, labelH = 96;
  const width = Math.max(920, left + right + maxGroups * groupW);
  const height = top + panels.length * (panelH + labelH) + 20;
  const o: string[] = [];
  o.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
      `viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
  );
  o.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);
  const m = res.machine;
  o.push(
    `<text x="${left}" y="20" font-size="15" font-weight="bold">denofuse throughput ratios` +
      `${res.quick ? " (quick smoke run)" : ""} — higher is better for denofuse</text>`,
  );
  o.push(
    `<text x="${left}" y="38" fill="#444">${
      esc(
        `${res.date.slice(0, 10)} · ${m.nproc} × ${m.cpuModel} · ` +
          `Linux ${m.kernel} · Deno ${m.deno} · libfuse ${m.libfuse} · pyfuse3 ${m.pyfuse3} · ` +
          `median of ${res.config.runs} run(s)`,
      )
    }</text>`,
  );
  let lx = left;
  for (const s of SERIES) {
    o.push(`<rect x="${lx}" y="50" width="12" height="12" fill="${s.color}"/>`);
    o.push(`<text x="${lx + 16}" y="60">${esc(s.label)}</text>`);
    lx += 16 + s.label.length * 6.2 + 20;
  }
  o.push(
    `<text x="${left}" y="78" fill="#444">stat/fstat: hello servers (timeouts 0); all other ` +
      `cases: passthrough servers over a kernel tmpfs (go-fuse: passthrough cases only). ` +
      `1× = parity; log scale.</text>`,
  );

  panels.forEach((panel, pi) => {
    const y0 = top + pi * (panelH + labelH);
    const yOf = (v: number) => y0 + panelH - ((Math.log2(v) - lo) / (hi - lo)) * panelH;
    o.push(
      `<text x="${left}" y="${y0 - 8}" font-weight="bold">${
        panel.mode === "pinned" ? "Pinned: server and clients on CPU 0" : "Unpinned"
      }</text>`,
    );
    for (let e = lo; e <= hi; e++) {
      const y = yOf(2 ** e);
      const label = e >= 0 ? `${2 ** e}×` : `1/${2 ** -e}×`;
      o.push(
        `<line x1="${left}" x2="${width - right}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" ` +
          `stroke="${e === 0 ? "#000" : "#ddd"}" stroke-width="${e === 0 ? 1.5 : 1}"/>`,
      );
      o.push(
        `<text x="${left - 6}" y="${
          (y + 4).toFixed(1)
        }" text-anchor="end" fill="#444">${label}</text>`,
      );
    }
    const base = yOf(1);
    panel.groups.forEach((g, gi) => {
      const gx = left + gi * groupW + (groupW - SERIES.length * barW) / 2;
      SERIES.forEach((s, si) => {
        const v = g.values[s.key];
        if (v === null || !(v > 0)) return;
        const y = yOf(Math.min(Math.max(v, 2 ** lo), 2 ** hi));
        const x = gx + si * barW;
        o.push(
          `<rect x="${x}" y="${Math.min(y, base).toFixed(1)}" width="${barW - 2}" ` +
            `height="${Math.max(1, Math.abs(base - y)).toFixed(1)}" fill="${s.color}">` +
            `<title>${esc(`${g.label}: ${s.label} = ${v.toFixed(2)}×`)}</title></rect>`,
        );
        const ty = v >= 1 ? Math.min(y, base) - 3 : Math.max(y, base) + 10;
        o.push(
          `<text x="${(x + (barW - 2) / 2).toFixed(1)}" y="${ty.toFixed(1)}" font-size="8.5" ` +
            `text-anchor="middle">${v >= 10 ? v.toFixed(0) : v.toFixed(2)}</text>`,
        );
      });
      const lxg = left + gi * groupW + groupW / 2;
      const ly = y0 + panelH + 8;
      o.push(
        `<text transform="translate(${lxg.toFixed(1)},${ly}) rotate(40)" text-anchor="start">${
          esc(g.label)
        }</text>`,
      );
    });
  });
  o.push("</svg>");
  return o.join("\n") + "\n";
}

/**
 * The import graph, read from the sources: imports run downward only
 * (core/ <- ffi/ <- ops/, posix/ <- utils/ <- the public entry points), no
 * module of the library, the examples or the benchmark is part of a cycle,
 * the path layer (paths/) stands on the inode API's public exports alone,
 * and the examples use only public exports.
 */

import assert from "node:assert/strict";
import { dirname, join, normalize, relative } from "node:path";
import { REPO } from "./support/mount.ts";

/** Each directory's layer: a module may import its own layer or lower ones. */
const LAYERS: Record<string, number> = {
  "core": 0,
  "ffi": 1,
  "ops": 2,
  "posix": 2,
  "utils": 3,
  ".": 4,
  "paths": 4,
};
const PUBLIC = new Set(["mod.ts", "testing.ts", "posix.ts", "paths.ts"]);
const LIBRARY_ROOTS = [
  "core",
  "ffi",
  "ops",
  "posix",
  "utils",
  "paths",
  "mod.ts",
  "testing.ts",
  "posix.ts",
  "paths.ts",
];

async function* tsFiles(path: string): AsyncGenerator<string> {
  const info = await Deno.stat(join(REPO, path)).catch(() => null);
  if (!info) return;
  if (info.isFile) {
    if (path.endsWith(".ts")) yield path;
    return;
  }
  for await (const e of Deno.readDir(join(REPO, path))) yield* tsFiles(join(path, e.name));
}

/** The repository-relative modules a source file imports (static and type imports). */
async function importsOf(file: string): Promise<string[]> {
  const text = await Deno.readTextFile(join(REPO, file));
  const specifiers = [...text.matchAll(/^(?:import|export)[^;]*?from\s+"([^"]+)"/gms)]
    .map((m) => m[1])
    .filter((s) => s.startsWith("."));
  return specifiers.map((s) => normalize(join(dirname(file), s)));
}

function layerOf(file: string): number {
  const top = file.includes("/") ? file.split("/")[0] : ".";
  const layer = LAYERS[top];
  assert.ok(layer !== undefined, `${file} is in no layer`);
  return layer;
}

async function graph(roots: string[]): Promise<Map<string, string[]>> {
  const edges = new Map<string, string[]>();
  for (const root of roots) {
    for await (const file of tsFiles(root)) edges.set(file, await importsOf(file));
  }
  return edges;
}

Deno.test("library imports run downward only: core, ffi, ops and posix, utils, entry points", async () => {
  const edges = await graph(LIBRARY_ROOTS);
  assert.ok(edges.size > 30, `read only ${edges.size} modules`);
  const upward: string[] = [];
  for (const [from, targets] of edges) {
    for (const to of targets) {
      if (layerOf(to) > layerOf(from)) upward.push(`${from} -> ${to}`);
    }
  }
  assert.deepEqual(upward, []);
  const outsideCore = [...edges].flatMap(([from, targets]) =>
    from.startsWith("core/") ? targets.filter((t) => !t.startsWith("core/")) : []
  );
  assert.deepEqual(outsideCore, [], "core/ imports nothing of ours but core/");
});

Deno.test("no module of the library, the examples or the benchmark is part of an import cycle", async () => {
  const edges = await graph([...LIBRARY_ROOTS, "examples", "bench"]);
  const state = new Map<string, "open" | "done">();
  const cycles: string[] = [];
  const visit = (file: string, path: string[]) => {
    if (state.get(file) === "done") return;
    if (state.get(file) === "open") {
      cycles.push([...path.slice(path.indexOf(file)), file].join(" -> "));
      return;
    }
    state.set(file, "open");
    for (const to of edges.get(file) ?? []) visit(to, [...path, file]);
    state.set(file, "done");
  };
  for (const file of edges.keys()) visit(file, []);
  assert.deepEqual(cycles, []);
});

Deno.test("the examples import only the public entry points and each other", async () => {
  const edges = await graph(["examples"]);
  const private_: string[] = [];
  for (const [from, targets] of edges) {
    for (const to of targets) {
      if (!to.startsWith("examples/") && !PUBLIC.has(to)) {
        private_.push(`${from} -> ${relative(".", to)}`);
      }
    }
  }
  assert.deepEqual(private_, []);
});

Deno.test("the path layer is built only on the inode API's public exports", async () => {
  const edges = await graph(["paths"]);
  assert.ok(edges.size > 5, `read only ${edges.size} modules`);
  const inner: string[] = [];
  for (const [from, targets] of edges) {
    for (const to of targets) {
      if (!to.startsWith("paths/") && to !== "mod.ts") inner.push(`${from} -> ${to}`);
    }
  }
  assert.deepEqual(inner, []);
  const below = await graph(["core", "ffi", "ops", "posix", "utils", "mod.ts"]);
  const intoPaths = [...below].flatMap(([from, targets]) =>
    targets.filter((t) => t.startsWith("paths")).map((t) => `${from} -> ${t}`)
  );
  assert.deepEqual(intoPaths, [], "nothing below the path layer imports it");
});

/**
 * `deno compile` readiness: the library must not read files that sit beside
 * its modules at run time, import modules dynamically, or start workers
 * from module files — a compiled binary has only the module graph. (The
 * compile step itself needs Deno's runtime download, which this machine
 * cannot reach, so this test checks the sources instead.)
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { REPO } from "./support/mount.ts";

const LIBRARY = ["mod.ts", "testing.ts", "ffi", "ops", "utils"];

/**
 * The reviewed exceptions: mountInWorker() loads the user's filesystem
 * module in a Worker started from its entry module, which is the point of
 * it (its docs tell `deno compile` users to `--include` both); testMount()'s
 * error message shows the call to write.
 */
const ALLOWED = new Map([
  ["utils/testing.ts", ["module-relative path"]],
  ["ops/worker_mount.ts", ["module-relative path", "worker started from a module file"]],
  ["ops/worker_entry.ts", ["dynamic import"]],
]);

async function* sources(path: string): AsyncGenerator<string> {
  const info = await Deno.stat(path);
  if (info.isFile) {
    if (path.endsWith(".ts")) yield path;
    return;
  }
  for await (const e of Deno.readDir(path)) yield* sources(join(path, e.name));
}

Deno.test("library sources are deno-compile safe: no dynamic imports, module-relative files or worker files", async () => {
  const offenders: string[] = [];
  let files = 0;
  for (const root of LIBRARY) {
    for await (const file of sources(join(REPO, root))) {
      files++;
      const text = await Deno.readTextFile(file);
      const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
      for (
        const [pattern, why] of [
          [/\bimport\s*\(/, "dynamic import"],
          [/import\.meta\.(url|resolve|dirname|filename)/, "module-relative path"],
          [/new Worker\((?!url|this\.#url)/, "worker started from a module file"],
        ] as const
      ) {
        const allowed = ALLOWED.get(file.slice(REPO.length))?.includes(why) ?? false;
        if (pattern.test(code) && !allowed) offenders.push(`${file}: ${why}`);
      }
    }
  }
  assert.ok(files > 20, `scanned only ${files} files`);
  assert.deepEqual(offenders, []);
});

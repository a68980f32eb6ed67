/**
 * Compiles the benchmark's C programs into bench/.build/ (git-ignored): the
 * client (bench/clients/fsbench.c) and libfuse's own low-level examples
 * from the libfuse3-dev documentation, hello_ll.c with its 1-second
 * timeouts patched to 0. Nothing from libfuse is copied into the repository.
 *
 * @module
 */

import { join } from "node:path";
import { runOk } from "./proc.ts";

/** Where Debian's libfuse3-dev installs the examples. */
export const LIBFUSE_EXAMPLES = "/usr/share/doc/libfuse3-dev/examples";

/** Paths of the built programs. */
export interface Built {
  fsbench: string;
  helloLl: string;
  passthroughLl: string;
  /** bench/servers/go_loopback.go, built only when it runs (bench/lib/build_go.ts). */
  goLoopback: string;
  /** bench/servers/go_memfs.go, likewise. */
  goMemfs: string;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Reads an example, decompressing `NAME.gz` if only that is installed. */
async function exampleSource(name: string): Promise<string> {
  const plain = join(LIBFUSE_EXAMPLES, name);
  if (await exists(plain)) return await Deno.readTextFile(plain);
  const gz = `${plain}.gz`;
  if (await exists(gz)) return await runOk("gzip", ["-dc", gz], 30_000);
  throw new Error(
    `${plain} not found: install libfuse3-dev (apt-get install -y libfuse3-dev), ` +
      `which ships libfuse's examples there`,
  );
}

/**
 * hello_ll.c with entry and attribute timeouts 0, so that each stat is a
 * round trip, like the denofuse and pyfuse3 hello servers.
 */
export function patchHelloTimeouts(source: string): string {
  const patched = source
    .replace(/\battr_timeout = 1\.0;/g, "attr_timeout = 0.0;")
    .replace(/\bentry_timeout = 1\.0;/g, "entry_timeout = 0.0;")
    .replace(/fuse_reply_attr\(req, &stbuf, 1\.0\)/g, "fuse_reply_attr(req, &stbuf, 0.0)");
  if (/timeout = 1\.0|&stbuf, 1\.0/.test(patched) || !/entry_timeout = 0\.0/.test(patched)) {
    throw new Error("hello_ll.c does not look as expected: could not set its timeouts to 0");
  }
  return patched;
}

async function compile(out: string, source: string, withFuse: boolean): Promise<void> {
  const flags = withFuse ? (await runOk("pkg-config", ["fuse3", "--cflags"], 10_000)).trim() : "";
  const libs = withFuse ? (await runOk("pkg-config", ["fuse3", "--libs"], 10_000)).trim() : "";
  await runOk(
    "cc",
    [
      "-O2",
      "-Wall",
      ...flags.split(/\s+/).filter(Boolean),
      "-o",
      out,
      source,
      ...libs.split(/\s+/)
        .filter(Boolean),
    ],
    120_000,
  );
}

/**
 * Builds everything into `buildDir`.
 *
 * @param repo the repository root
 * @param buildDir output directory (created)
 * @returns the program paths
 */
export async function buildAll(repo: string, buildDir: string): Promise<Built> {
  await Deno.mkdir(buildDir, { recursive: true });
  const built: Built = {
    fsbench: join(buildDir, "fsbench"),
    helloLl: join(buildDir, "hello_ll0"),
    passthroughLl: join(buildDir, "passthrough_ll"),
    goLoopback: join(buildDir, "go_loopback"),
    goMemfs: join(buildDir, "go_memfs"),
  };
  await compile(built.fsbench, join(repo, "bench/clients/fsbench.c"), false);

  const helloSrc = join(buildDir, "hello_ll0.c");
  await Deno.writeTextFile(helloSrc, patchHelloTimeouts(await exampleSource("hello_ll.c")));
  await compile(built.helloLl, helloSrc, true);

  const ptSrc = join(buildDir, "passthrough_ll.c");
  await Deno.writeTextFile(ptSrc, await exampleSource("passthrough_ll.c"));
  // libfuse 3.10's copy includes its build tree's config.h; these are what that defines on glibc.
  await Deno.writeTextFile(
    join(buildDir, "config.h"),
    "#define HAVE_FALLOCATE 1\n#define HAVE_POSIX_FALLOCATE 1\n#define HAVE_COPY_FILE_RANGE 1\n",
  );
  // Its local header, found next to the source.
  await Deno.writeTextFile(
    join(buildDir, "passthrough_helpers.h"),
    await exampleSource("passthrough_helpers.h"),
  );
  await compile(built.passthroughLl, ptSrc, true);
  return built;
}

/**
 * Compiles the benchmark's go-fuse servers (bench/servers/go_*.go) into
 * bench/.build/ (git-ignored), offline, against the go-fuse sources of
 * Debian's golang-github-hanwen-go-fuse-dev in GOPATH mode. Only run when
 * a go-fuse server is selected, so that the other servers need no Go.
 *
 * @module
 */

import { join } from "node:path";
import { run, runOk } from "./proc.ts";

/** Where Debian's golang-*-dev packages install Go sources (a GOPATH tree). */
export const DEBIAN_GOPATH = "/usr/share/gocode";

/** go-fuse v2 in that tree: Debian installs it without the `/v2` of its module path. */
const GO_FUSE_SRC = join(DEBIAN_GOPATH, "src/github.com/hanwen/go-fuse");

/** What to install when the toolchain or the sources are missing. */
const INSTALL_HINT =
  "install them with `apt-get install -y golang-go golang-github-hanwen-go-fuse-dev`, " +
  "or leave the go-fuse servers (go-loopback, go-memfs) out with --servers=";

/** The go-fuse servers: program name in bench/.build and source in bench/servers. */
const PROGRAMS = ["go_loopback", "go_memfs"] as const;

/** The import path the sources are copied under inside the build's own GOPATH. */
const PACKAGE_ROOT = "denofuse-bench";

/**
 * Fails with what to install unless `go` runs and go-fuse's sources are
 * where Debian puts them.
 */
async function checkToolchain(): Promise<void> {
  const go = await run("go", ["version"], 30_000).catch(() => null);
  if (go?.code !== 0) {
    throw new Error(
      `the go-fuse servers need the Go toolchain (no working \`go\`): ${INSTALL_HINT}`,
    );
  }
  const mod = await Deno.readTextFile(join(GO_FUSE_SRC, "go.mod")).catch(() => "");
  if (!/^module github\.com\/hanwen\/go-fuse\/v2$/m.test(mod)) {
    throw new Error(
      `the go-fuse servers need go-fuse v2's sources in ${GO_FUSE_SRC}: ${INSTALL_HINT}`,
    );
  }
}

/**
 * Builds `bench/servers/NAME.go` into `buildDir/NAME` for every go-fuse
 * server.
 *
 * @param repo the repository root
 * @param buildDir output directory (exists: bench/lib/build.ts made it)
 */
export async function buildGoServers(repo: string, buildDir: string): Promise<void> {
  await checkToolchain();
  // go-fuse's own files import github.com/hanwen/go-fuse/v2/...; GOPATH mode
  // finds those in Debian's tree without /v2 ("minimal module compatibility")
  // only for importers inside a GOPATH tree with a go.mod of their own, so
  // the sources are copied into a GOPATH of the build, next to a go.mod.
  const gopath = join(buildDir, "gopath");
  const root = join(gopath, "src", PACKAGE_ROOT);
  await Deno.mkdir(root, { recursive: true });
  await Deno.writeTextFile(join(root, "go.mod"), `module ${PACKAGE_ROOT}\n`);
  const env = {
    GO111MODULE: "off",
    GOPATH: `${gopath}:${DEBIAN_GOPATH}`,
    GOCACHE: join(buildDir, "go-cache"),
    // Nothing is fetched, and flags of the caller's environment do not apply.
    GOPROXY: "off",
    GOFLAGS: "",
  };
  for (const name of PROGRAMS) {
    const dir = join(root, name);
    await Deno.mkdir(dir, { recursive: true });
    await Deno.copyFile(join(repo, "bench/servers", `${name}.go`), join(dir, "main.go"));
    await runOk(
      "go",
      ["build", "-o", join(buildDir, name), `${PACKAGE_ROOT}/${name}`],
      600_000,
      { env },
    );
  }
}

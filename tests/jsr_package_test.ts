/**
 * The JSR package, imported the way users import it. The files
 * `deno publish --dry-run` lists are served on 127.0.0.1 in JSR's layout
 * (`meta.json`, `<version>_meta.json` with each file's size and sha256, the
 * files under `<version>/`); Deno is pointed at it with `JSR_URL`, and a
 * fresh project with its own `DENO_DIR` runs `deno add jsr:@denofuse/fuse`,
 * a filesystem importing `@denofuse/fuse` and tests importing
 * `@denofuse/fuse/testing` (one of them mounting a path filesystem from
 * `@denofuse/fuse/paths`), each mounting and reading through the kernel
 * under the permission flags the README documents. Offline: nothing but
 * the local registry is contacted.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { encodeHex } from "./support/hex.ts";
import { isMounted, REPO, sh, withTimeout } from "./support/mount.ts";

const config = JSON.parse(await Deno.readTextFile(join(REPO, "deno.json")));
const [SCOPE, NAME] = (config.name as string).slice(1).split("/");
const VERSION = config.version as string;

/** The files `deno publish` would upload, as repository-relative paths. */
async function publishedFiles(): Promise<string[]> {
  const r = await sh(Deno.execPath(), ["publish", "--dry-run", "--allow-dirty"], {
    timeoutMs: 120_000,
  });
  assert.equal(r.code, 0, r.stderr);
  const root = new URL(`file://${REPO}`).href;
  return [...(r.stdout + r.stderr).matchAll(/^\s+(file:\/\/\S+) \(/gm)]
    .map((m) => decodeURIComponent(m[1]).slice(root.length).replace(/^\//, ""));
}

/** JSR's manifest: every file's size and checksum, keyed by "/path". */
async function manifest(files: string[]) {
  const entries: Record<string, { size: number; checksum: string }> = {};
  for (const file of files) {
    const bytes = await Deno.readFile(join(REPO, file));
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    entries[`/${file}`] = { size: bytes.length, checksum: `sha256-${encodeHex(digest)}` };
  }
  return entries;
}

/** Serves the package in JSR's layout on 127.0.0.1; returns the registry URL. */
async function serveRegistry(
  files: string[],
  served: Set<string>,
  signal: AbortSignal,
): Promise<string> {
  const meta = { scope: SCOPE, name: NAME, latest: VERSION, versions: { [VERSION]: {} } };
  const versionMeta = { manifest: await manifest(files), exports: config.exports };
  const base = `/@${SCOPE}/${NAME}`;
  const published = new Set(files);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, signal, onListen() {} }, (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    if (path === `${base}/meta.json`) return Response.json(meta);
    if (path === `${base}/${VERSION}_meta.json`) return Response.json(versionMeta);
    const prefix = `${base}/${VERSION}/`;
    const file = path.startsWith(prefix) ? path.slice(prefix.length) : "";
    if (!published.has(file)) return new Response("not found", { status: 404 });
    served.add(file);
    const type = file.endsWith(".ts")
      ? "application/typescript"
      : file.endsWith(".json")
      ? "application/json"
      : "text/plain";
    return Deno.readFile(join(REPO, file)).then((b) =>
      new Response(b, { headers: { "content-type": type } })
    );
  });
  return `http://127.0.0.1:${server.addr.port}/`;
}

const FS_SOURCE = `import * as fuse from "@denofuse/fuse";

const NAME = fuse.nameKey("greeting");
const TEXT = new TextEncoder().encode("hello from jsr\\n");
const attrs = (ino: number) =>
  new fuse.EntryAttributes(ino === fuse.ROOT_INODE
    ? { stIno: ino, stMode: fuse.S_IFDIR | 0o755, stNlink: 2 }
    : { stIno: ino, stMode: fuse.S_IFREG | 0o444, stNlink: 1, stSize: TEXT.length });

export const ops: fuse.Operations = {
  getattr: (ino) => attrs(ino),
  lookup(parent, name) {
    if (parent !== fuse.ROOT_INODE || fuse.nameKey(name) !== NAME) {
      throw new fuse.FUSEError(fuse.errno.ENOENT);
    }
    return attrs(2);
  },
  open: (ino) => new fuse.FileInfo({ fh: ino }),
  read: (_fh, off, size) => TEXT.subarray(off, off + size),
};

if (import.meta.main) {
  fuse.init(ops, Deno.args[0], { options: ["fsname=jsr-user"] });
  try {
    await fuse.main();
  } finally {
    fuse.close();
  }
}
`;

const PATHS_SOURCE = `import * as paths from "@denofuse/fuse/paths";

const TEXT = new TextEncoder().encode("hello by path\\n");
export function pathsFs(): paths.Operations {
  return paths.pathOperations({
    getattr(path) {
      if (path === "/") return { mode: paths.S_IFDIR | 0o755, nlink: 2 };
      if (path === "/by-path") return { mode: paths.S_IFREG | 0o444, size: TEXT.length };
      throw new paths.FUSEError(paths.errno.ENOENT);
    },
    readdir: () => ["by-path"],
    read: (_path, _fh, length, position) => TEXT.subarray(position, position + length),
  });
}
`;

const TEST_SOURCE = `import assert from "node:assert/strict";
import { testMount } from "@denofuse/fuse/testing";

Deno.test("the package's path API serves a path filesystem", async () => {
  await using fs = await testMount({ module: new URL("./paths_fs.ts", import.meta.url), export: "pathsFs" });
  assert.equal(Deno.readTextFileSync(fs.mountpoint + "/by-path"), "hello by path\\n");
  assert.deepEqual([...Deno.readDirSync(fs.mountpoint)].map((e) => e.name), ["by-path"]);
});

Deno.test("the package's testMount serves a user's filesystem", async () => {
  await using fs = await testMount({ module: new URL("./fs.ts", import.meta.url), export: "ops" });
  assert.equal(Deno.readTextFileSync(fs.mountpoint + "/greeting"), "hello from jsr\\n");
});
`;

/** Runs deno in the project with the local registry and the project's own cache. */
function denoIn(project: string, registry: string, args: string[]) {
  return new Deno.Command(Deno.execPath(), {
    args,
    cwd: project,
    env: { JSR_URL: registry, DENO_DIR: join(project, ".deno_dir"), NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  });
}

async function output(cmd: Deno.Command, what: string) {
  const out = await withTimeout(what, 120_000, cmd.output());
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("the published file list holds only what a user needs", async () => {
  const files = await publishedFiles();
  for (
    const needed of [
      "mod.ts",
      "testing.ts",
      "posix.ts",
      "paths.ts",
      "README.md",
      "LICENSE",
      "deno.json",
    ]
  ) {
    assert.ok(files.includes(needed), `${needed} is published`);
  }
  const junk = files.filter((f) =>
    /^(tests|bench|scripts|\.ci|\.cache)\//.test(f) || /\.(log|cpuprofile)$/.test(f)
  );
  assert.deepEqual(junk, []);
});

Deno.test("jsr:@denofuse/fuse from a local registry: deno add, a filesystem, a test with testMount", async () => {
  const project = await Deno.makeTempDir({ prefix: "denofuse-jsr-user-" });
  const ac = new AbortController();
  const mnt = join(project, "mnt");
  try {
    const served = new Set<string>();
    const registry = await serveRegistry(await publishedFiles(), served, ac.signal);
    await Deno.writeTextFile(join(project, "deno.json"), "{}\n");
    const add = await output(denoIn(project, registry, ["add", `jsr:@${SCOPE}/${NAME}`]), "add");
    assert.equal(add.code, 0, add.stderr);
    const imports = JSON.parse(await Deno.readTextFile(join(project, "deno.json"))).imports;
    assert.equal(imports[`@${SCOPE}/${NAME}`], `jsr:@${SCOPE}/${NAME}@^${VERSION}`);

    await Deno.writeTextFile(join(project, "fs.ts"), FS_SOURCE);
    await Deno.writeTextFile(join(project, "paths_fs.ts"), PATHS_SOURCE);
    await Deno.writeTextFile(join(project, "fs_test.ts"), TEST_SOURCE);
    await Deno.mkdir(mnt);
    // The server as the README runs one; a subprocess reads through the kernel.
    const server = denoIn(project, registry, ["run", "--allow-ffi", "--allow-read", "fs.ts", mnt])
      .spawn();
    try {
      const deadline = Date.now() + 60_000;
      while (!(await isMounted(mnt))) {
        assert.ok(Date.now() < deadline, "the package's filesystem mounted within 60 s");
        await new Promise((r) => setTimeout(r, 50));
      }
      const cat = await sh("cat", [join(mnt, "greeting")]);
      assert.equal(cat.stdout, "hello from jsr\n", cat.stderr);
    } finally {
      server.kill("SIGTERM");
      const status = await withTimeout("server exit", 15_000, server.status);
      await server.stdout.cancel();
      await server.stderr.cancel();
      assert.equal(status.code, 0);
    }
    const test = await output(
      denoIn(project, registry, [
        "test",
        "--allow-ffi",
        "--allow-read",
        "--allow-write",
        "fs_test.ts",
      ]),
      "deno test",
    );
    assert.equal(test.code, 0, test.stdout + test.stderr);
    assert.match(test.stdout, /2 passed/);
    // Everything came from the registry, the Worker's entry module included.
    for (
      const file of ["mod.ts", "testing.ts", "paths.ts", "paths/adapter.ts", "ops/worker_entry.ts"]
    ) {
      assert.ok(served.has(file), `${file} was fetched from the registry`);
    }
  } finally {
    ac.abort();
    if (await isMounted(mnt)) await sh("fusermount3", ["-u", "-z", mnt]);
    await Deno.remove(project, { recursive: true });
  }
});

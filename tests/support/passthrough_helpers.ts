/**
 * Helpers for tests/passthrough_test.ts: a source directory mirrored by an
 * in-process PassthroughFs, and subprocess helpers (python3, stat) that
 * compare an operation through the mount with the same operation on the
 * backing directory.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { PassthroughFs, type PassthroughOptions } from "../../examples/passthrough.ts";
import { sh, withMount } from "./mount.ts";

/** The system python (not a pyenv shim, which uid 65534 cannot run). */
export const PYTHON = "/usr/bin/python3";

/** What a passthrough test gets. */
export interface PassthroughEnv {
  /** A scratch directory (mode 0755) that holds `src`, for siblings of the source. */
  base: string;
  /** The source directory, mirrored at `mnt`. */
  src: string;
  /** The mount point. */
  mnt: string;
  /** The filesystem serving the mount. */
  fs: PassthroughFs;
}

/**
 * Creates `base/src`, mounts a PassthroughFs of it, runs `fn`, then
 * unmounts, closes the filesystem's descriptors and removes everything.
 */
export async function withPassthrough(
  fn: (env: PassthroughEnv) => Promise<void>,
  { options = ["default_permissions", "allow_other", "fsname=denofuse-passthrough-test"], io }: {
    options?: string[];
    io?: PassthroughOptions["io"];
  } = {},
): Promise<void> {
  const base = await Deno.makeTempDir({ prefix: "denofuse-pt-" });
  await Deno.chmod(base, 0o755);
  const src = join(base, "src");
  await Deno.mkdir(src);
  const fs = new PassthroughFs(src, { io });
  try {
    await withMount(fs, (mnt) => fn({ base, src, mnt, fs }), { options });
  } finally {
    fs.close();
    await Deno.remove(base, { recursive: true });
  }
}

/**
 * Runs a command that must succeed and returns its stdout.
 *
 * @param cmd the program
 * @param args its arguments
 * @param opts `uid` runs it as that user (and group) through setpriv
 */
export async function run(
  cmd: string,
  args: string[],
  opts: { uid?: number } = {},
): Promise<string> {
  const r = await sh(cmd, args, opts);
  assert.equal(r.code, 0, `${cmd} ${args.join(" ")} failed (${r.code}):\n${r.stderr}`);
  return r.stdout;
}

/** `stat -c FORMAT` (never following symlinks), one line per path. */
export async function statC(format: string, ...paths: string[]): Promise<string[]> {
  return (await run("stat", ["-c", format, ...paths])).trimEnd().split("\n");
}

const PRELUDE = `
import os, sys, json, ctypes, errno
libc = ctypes.CDLL(None, use_errno=True)
A = sys.argv[1:]
def out(x): print(json.dumps(x))
def err(f, *a, **k):
    try:
        f(*a, **k)
        return 0
    except OSError as e:
        return e.errno
def renameat2(old, new, flags):
    libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    r = libc.renameat2(-100, os.fsencode(old), -100, os.fsencode(new), flags)
    return 0 if r == 0 else ctypes.get_errno()
def getxattr_raw(path, name, size):
    libc.getxattr.restype = ctypes.c_ssize_t
    libc.getxattr.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]
    buf = ctypes.create_string_buffer(max(size, 1))
    r = libc.getxattr(os.fsencode(path), os.fsencode(name), buf if size else None, size)
    return [r, ctypes.get_errno() if r < 0 else 0, buf.raw[:r].hex() if r > 0 and size else ""]
`;

/**
 * Runs python3 code (after a prelude defining `A` = the arguments, `out(x)`
 * printing JSON, `err(f, ...)` returning the errno `f` raised or 0,
 * `renameat2` and `getxattr_raw`) and returns what it printed with `out`.
 */
export async function py(
  code: string,
  args: string[] = [],
  opts: { uid?: number } = {},
  // deno-lint-ignore no-explicit-any
): Promise<any> {
  const stdout = await run(PYTHON, ["-c", PRELUDE + code, ...args], opts);
  const lines = stdout.trimEnd().split("\n");
  return JSON.parse(lines[lines.length - 1]);
}

/** Waits until `cond()` holds, polling every 50 ms, up to `ms`. */
export async function eventually(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

/** `n` random bytes. */
export function randomBytes(n: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  for (let at = 0; at < n; at += 65536) crypto.getRandomValues(out.subarray(at, at + 65536));
  return out;
}

/**
 * Client-side helpers for filesystem tests: run small Python programs
 * against a mount (errno names, renameat2, nanosecond stat, statvfs,
 * xattr flags), poll for a condition, drop the kernel's caches. Everything
 * is asynchronous, so it is safe against a filesystem served by this very
 * process.
 */

import { sh } from "./mount.ts";
import { scaled } from "./emulation.ts";
import type { Statvfs } from "../../posix.ts";

/** The system Python: the pyenv shim under /root is not reachable for other uids. */
export const PYTHON = "/usr/bin/python3";

/** Options for the client processes. */
export interface ClientOptions {
  /** Run as this uid (and gid), via setpriv. */
  uid?: number;
  /** Subprocess timeout. */
  timeoutMs?: number;
}

/**
 * Runs Python `code` with `args` in `sys.argv[1:]` and returns its stdout.
 *
 * @throws {Error} with stderr if Python exits non-zero
 */
export async function py(
  code: string,
  args: string[] = [],
  opts: ClientOptions = {},
): Promise<string> {
  const r = await sh(PYTHON, ["-c", code, ...args], opts);
  if (r.code !== 0) throw new Error(`python failed (${r.code}):\n${code}\n${r.stderr}`);
  return r.stdout.trim();
}

/** Runs Python `code` that prints one JSON value and parses it. */
export async function pyJson<T>(
  code: string,
  args: string[] = [],
  opts: ClientOptions = {},
): Promise<T> {
  return JSON.parse(await py(code, args, opts)) as T;
}

const TRY_OP = `
import ctypes, errno, os, sys
a = sys.argv[2:]
try:
    exec(sys.argv[1])
    print("OK")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
`;

/**
 * Runs the Python statement(s) `stmt`, where `a` is the list `args`, and
 * returns "OK" or the errno name (e.g. "ENOTEMPTY") of the OSError raised.
 */
export function tryOp(
  stmt: string,
  args: string[] = [],
  opts: ClientOptions = {},
): Promise<string> {
  return py(TRY_OP, [stmt, ...args], opts);
}

/** renameat2(2): "OK" or the errno name. */
export function renameat2(
  from: string,
  to: string,
  flags: number,
  opts: ClientOptions = {},
): Promise<string> {
  return tryOp(
    `libc = ctypes.CDLL(None, use_errno=True)
libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
if libc.renameat2(-100, os.fsencode(a[0]), -100, os.fsencode(a[1]), int(a[2])) != 0:
    e = ctypes.get_errno()
    raise OSError(e, os.strerror(e))`,
    [from, to, String(flags)],
    opts,
  );
}

/** What `lstat` reports, with nanosecond timestamps as bigints. */
export interface StatNs {
  ino: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  size: number;
  blocks: number;
  rdev: number;
  atime: bigint;
  mtime: bigint;
  ctime: bigint;
}

/** lstat(2) of `path` with nanosecond timestamps. */
export async function statNs(path: string): Promise<StatNs> {
  const r = await pyJson<Record<string, number | string>>(
    `import json, os, sys
s = os.lstat(sys.argv[1])
print(json.dumps({"ino": s.st_ino, "mode": s.st_mode, "nlink": s.st_nlink, "uid": s.st_uid,
  "gid": s.st_gid, "size": s.st_size, "blocks": s.st_blocks, "rdev": s.st_rdev,
  "atime": str(s.st_atime_ns), "mtime": str(s.st_mtime_ns), "ctime": str(s.st_ctime_ns)}))`,
    [path],
  );
  return {
    ino: r.ino as number,
    mode: r.mode as number,
    nlink: r.nlink as number,
    uid: r.uid as number,
    gid: r.gid as number,
    size: r.size as number,
    blocks: r.blocks as number,
    rdev: r.rdev as number,
    atime: BigInt(r.atime),
    mtime: BigInt(r.mtime),
    ctime: BigInt(r.ctime),
  };
}

/** statvfs(3) of `path`. */
export function statvfs(path: string): Promise<Statvfs> {
  return pyJson<Statvfs>(
    `import json, os, sys
s = os.statvfs(sys.argv[1])
print(json.dumps({"bsize": s.f_bsize, "frsize": s.f_frsize, "blocks": s.f_blocks,
  "bfree": s.f_bfree, "bavail": s.f_bavail, "files": s.f_files, "ffree": s.f_ffree,
  "favail": s.f_favail, "namemax": s.f_namemax}))`,
    [path],
  );
}

/** Asks the kernel to drop unused dentries and inodes, which sends FORGETs to FUSE filesystems. */
export async function dropCaches(): Promise<void> {
  const r = await sh("sh", ["-c", "sync; echo 2 > /proc/sys/vm/drop_caches"]);
  if (r.code !== 0) throw new Error(`drop_caches failed: ${r.stderr}`);
}

/**
 * Polls `probe` every 20 ms until it returns true or `timeoutMs` (times the
 * emulation's time factor) passes.
 *
 * @returns whether it became true
 */
export async function waitFor(
  probe: () => boolean | Promise<boolean>,
  timeoutMs = 3000,
  onPoll?: () => Promise<void>,
): Promise<boolean> {
  const deadline = Date.now() + scaled(timeoutMs);
  for (;;) {
    if (await probe()) return true;
    if (Date.now() > deadline) return false;
    await onPoll?.();
    await new Promise((r) => setTimeout(r, 20));
  }
}

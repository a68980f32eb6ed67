/**
 * paths_mirror: any `node:fs`-like object as a filesystem, a port of
 * piranna/fs-fuse (https://github.com/piranna/fs-fuse, index.js, 204 lines
 * on fuse-bindings) to the path API. Like the original it takes an object
 * with Node's callback-style `fs` methods (`lstat`, `open`, `read`, ...);
 * unlike it, it also serves a subdirectory (`root`), since a path-based
 * mirror of `/` is rarely what one wants.
 *
 *     deno run --allow-ffi --allow-read --allow-write examples/paths_mirror.ts SOURCE MOUNTPOINT
 *
 * What changed in the port: callbacks became promises (`call()`), fuse-bindings'
 * `errno(code)` became `FUSEError(errno[code])`, `fgetattr`/`ftruncate`
 * became `getattr`/`truncate` with a handle, and `read` returns its bytes
 * instead of filling the kernel's buffer. Everything fs-fuse never had to
 * think about (inode numbers, lookups and forgets, renames, unlinked open
 * files) is still not its business: the path layer keeps it.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import * as nodeFs from "node:fs";
import * as fuse from "../paths.ts";
import type { Path, PathOperations, StatLike } from "../paths.ts";
import { runFromCommandLine } from "./lib/cli.ts";

/** A Node-style callback. */
type Callback = (error: { code?: string } | null, ...results: unknown[]) => void;
/** A callback-style `fs` function. */
type FsFunction = (...args: unknown[]) => void;

/**
 * The callback-style methods of `node:fs` that the mirror uses; any may be
 * missing (the operations that need it answer ENOSYS).
 */
export type FsLike = Partial<
  Record<
    | "lstat"
    | "fstat"
    | "open"
    | "close"
    | "read"
    | "write"
    | "fsync"
    | "truncate"
    | "ftruncate"
    | "chmod"
    | "chown"
    | "lchown"
    | "utimes"
    | "link"
    | "mkdir"
    | "readdir"
    | "readlink"
    | "rmdir"
    | "rename"
    | "symlink"
    | "unlink"
    | "statfs",
    FsFunction
  >
>;

/** `fs[name](...args, cb)` as a promise; errors become FUSEErrors with their errno. */
function call<T>(fs: FsLike, name: keyof FsLike, ...args: unknown[]): Promise<T> {
  const f = fs[name];
  if (!f) return Promise.reject(new fuse.FUSEError(fuse.errno.ENOSYS));
  return new Promise((resolve, reject) => {
    const cb: Callback = (error, result) => {
      if (!error) return resolve(result as T);
      const code = fuse.errno[(error.code ?? "EIO") as keyof typeof fuse.errno];
      reject(new fuse.FUSEError(typeof code === "number" ? code : fuse.errno.EIO));
    };
    f.call(fs, ...args, cb);
  });
}

/**
 * fs-fuse's `FsFuse(fs)`: the path filesystem that serves `fs` below `root`.
 *
 * @param fs a `node:fs`-like object (callback style)
 * @param root the directory served as the mount's root ("" serves `fs` as it is)
 * @returns the path filesystem
 * @example
 * ```ts ignore
 * import * as nodeFs from "node:fs";
 * import { mountPaths } from "../paths.ts";
 * import { fsFuse } from "./paths_mirror.ts";
 * await using m = mountPaths(fsFuse(nodeFs, "/srv/data"), "/mnt/data");
 * ```
 */
export function fsFuse(fs: FsLike, root = ""): PathOperations {
  const at = (path: Path | null): string | Buffer => {
    if (path === null) throw new fuse.FUSEError(fuse.errno.ENOENT);
    const p = path === "/" ? "" : path;
    return typeof p === "string" ? root + p : Buffer.concat([Buffer.from(root), p]);
  };
  const fd = (fh: number | undefined) => fh !== undefined && fs.fstat !== undefined;
  const noRenameFlags = (flags: number) => {
    if (flags !== 0) throw new fuse.FUSEError(fuse.errno.EINVAL); // Node has no renameat2
  };
  return {
    useIno: true, // the source's inode numbers: hard links made there are recognized
    getattr: (path, fh) =>
      fd(fh)
        ? call<StatLike>(fs, "fstat", fh, { bigint: true })
        : call(fs, "lstat", at(path), { bigint: true }),
    readdir: (path) => call<string[]>(fs, "readdir", at(path)),
    open: (path, flags) => call<number>(fs, "open", at(path), flags),
    create: (path, mode, flags) => call<number>(fs, "open", at(path), flags, mode),
    read: async (_path, fh, length, position) => {
      const buffer = Buffer.alloc(length);
      const n = await call<number>(fs, "read", fh, buffer, 0, length, position);
      return buffer.subarray(0, n);
    },
    write: (_path, fh, buffer, position) =>
      call<number>(fs, "write", fh, buffer, 0, buffer.length, position),
    release: (_path, fh) => call(fs, "close", fh),
    fsync: (_path, fh) => call(fs, "fsync", fh),
    truncate: (path, size, fh) =>
      fh !== undefined && fs.ftruncate
        ? call(fs, "ftruncate", fh, size)
        : call(fs, "truncate", at(path), size),
    chmod: (path, mode) => call(fs, "chmod", at(path), mode & 0o7777),
    chown: (path, uid, gid) => call(fs, fs.lchown ? "lchown" : "chown", at(path), uid, gid),
    utimens: async (path, atimeNs, mtimeNs) => {
      // Node's utimes sets both: a time left as it is is read first.
      const now = atimeNs === null || mtimeNs === null
        ? await call<{ atimeNs: bigint; mtimeNs: bigint }>(fs, "lstat", at(path), { bigint: true })
        : undefined;
      const seconds = (ns: bigint) => Number(ns) / 1e9;
      await call(
        fs,
        "utimes",
        at(path),
        seconds(atimeNs ?? now!.atimeNs),
        seconds(mtimeNs ?? now!.mtimeNs),
      );
    },
    link: (from, to) => call(fs, "link", at(from), at(to)),
    mkdir: (path, mode) => call(fs, "mkdir", at(path), { mode }),
    readlink: (path) => call<string>(fs, "readlink", at(path)),
    rmdir: (path) => call(fs, "rmdir", at(path)),
    rename: (from, to, flags) => {
      noRenameFlags(flags);
      return call(fs, "rename", at(from), at(to));
    },
    symlink: (target, path) =>
      call(fs, "symlink", typeof target === "string" ? target : Buffer.from(target), at(path)),
    unlink: (path) => call(fs, "unlink", at(path)),
    statfs: async () => {
      const s = await call<
        {
          bsize: number;
          blocks: number;
          bfree: number;
          bavail: number;
          files: number;
          ffree: number;
        }
      >(fs, "statfs", root || "/");
      return { ...s, favail: s.ffree, namemax: 255 };
    },
  };
}

if (import.meta.main) {
  await runFromCommandLine({
    name: "paths_mirror",
    positional: ["SOURCE", "MOUNTPOINT"],
    create: ([source], options) => ({
      ops: fuse.pathOperations(fsFuse(nodeFs as unknown as FsLike, nodeFs.realpathSync(source))),
      options: [...fuse.defaultOptions, "fsname=paths_mirror", ...options],
    }),
  });
}

/**
 * Checks made before mounting, so that the common mistakes get an error that
 * names the problem and its fix instead of libfuse's terse message.
 *
 * @module
 */

import { resolve } from "node:path";
import { FuseMountError } from "../core/errors.ts";

/**
 * Validates mount options (pyfuse3 passes them as a set of strings).
 *
 * @param options e.g. `["fsname=hello", "default_permissions"]`
 * @returns the options as an array, duplicates removed
 * @throws {FuseMountError} for an option that is empty or holds several (a comma anywhere but in fsname's value)
 */
export function normalizeOptions(options: Iterable<string>): string[] {
  if (options === null || typeof (options as Iterable<string>)[Symbol.iterator] !== "function") {
    throw new FuseMountError(
      `mount options must be an iterable of strings such as new Set(["fsname=x"]), got ${
        String(options)
      }`,
    );
  }
  const out = new Set<string>();
  for (const opt of options) {
    // A comma may be part of fsname's value (fsname=/srv/a,b), which libfuse
    // passes on escaped; anywhere else it would split into several options
    // on the way to mount(2), whatever we escape.
    const commaOk = opt.startsWith?.("fsname=") && !opt.split("=")[0].includes(",");
    if (typeof opt !== "string" || opt.length === 0 || (opt.includes(",") && !commaOk)) {
      throw new FuseMountError(
        `bad mount option ${JSON.stringify(opt)}: pass each option as its own non-empty string ` +
          `without commas, e.g. ["ro", "fsname=x"]`,
      );
    }
    out.add(opt);
  }
  return [...out];
}

function canRead(): boolean {
  try {
    return Deno.permissions.querySync({ name: "read" }).state === "granted";
  } catch {
    return false;
  }
}

/** Unescapes the octal escapes (`\040` for space) of /proc/self/mountinfo. */
function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct) => String.fromCharCode(parseInt(oct, 8)));
}

/**
 * The filesystem type mounted exactly at `path`, if any.
 *
 * @param path an absolute, resolved path
 * @returns e.g. `"fuse.hello"`, or undefined when `path` is not a mount point
 */
export function mountTypeAt(path: string): string | undefined {
  let table: string;
  try {
    table = Deno.readTextFileSync("/proc/self/mountinfo");
  } catch {
    return undefined;
  }
  let found: string | undefined;
  for (const line of table.split("\n")) {
    const [left, right] = line.split(" - ");
    if (!right) continue;
    const mountPoint = unescapeMountPath(left.split(" ")[4] ?? "");
    if (mountPoint === path) found = right.split(" ")[0];
  }
  return found;
}

/**
 * Checks that `mountpoint` can be mounted on. Without read permission
 * (`--allow-read`) the checks are skipped and libfuse reports problems
 * itself. (/dev/fuse is checked with access(2) once libfuse is loaded:
 * Deno refuses to stat device files without --allow-all.)
 *
 * @param mountpoint the directory
 * @returns its absolute path
 * @throws {FuseMountError} naming the problem and its fix
 */
export function checkMountpoint(mountpoint: string): string {
  if (typeof mountpoint !== "string" || mountpoint === "") {
    throw new FuseMountError(`the mountpoint must be a directory path, got ${String(mountpoint)}`);
  }
  const path = resolve(mountpoint);
  if (!canRead()) return path;
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new FuseMountError(
        `mountpoint ${path} does not exist: create it first (mkdir -p ${path})`,
        { cause: error },
      );
    }
    if (error instanceof Deno.errors.NotConnected || /not connected/i.test(String(error))) {
      throw new FuseMountError(
        `mountpoint ${path} is a dead FUSE mount (Transport endpoint is not connected): ` +
          `unmount it with fusermount3 -u ${path} (or umount -l ${path}) and try again`,
        { cause: error },
      );
    }
    throw new FuseMountError(`cannot stat mountpoint ${path}: ${error}`, { cause: error });
  }
  if (!info.isDirectory) {
    throw new FuseMountError(`mountpoint ${path} is not a directory: mount on a directory`);
  }
  const type = mountTypeAt(Deno.realPathSync(path));
  if (type !== undefined) {
    throw new FuseMountError(
      `mountpoint ${path} is already a mount point (${type}): unmount it first ` +
        `(${
          type.startsWith("fuse") ? "fusermount3 -u" : "umount"
        } ${path}) or choose another directory`,
    );
  }
  return path;
}

const PERMISSION_NAMES = ["read", "write", "net", "env", "sys", "run", "ffi", "import"] as const;

/**
 * Whether every permission is granted, as with `--allow-all`. Only then does
 * Deno skip resolving a path on the calling thread before a file operation;
 * otherwise a thread that serves a mount deadlocks when it touches that
 * mount itself.
 *
 * @returns true when no permission check can stop a file operation
 */
export function allowsAll(): boolean {
  return PERMISSION_NAMES.every((name) => Deno.permissions.querySync({ name }).state === "granted");
}

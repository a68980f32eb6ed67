/**
 * Paths as the path API hands them to handlers, and the helpers to take
 * them apart.
 *
 * A {@link Path} is absolute ("/" for the root, no trailing "/"). It is a
 * `string` when every component is valid UTF-8 (every name most programs
 * ever make), else a `Uint8Array` of the path's exact bytes: Linux names are
 * bytes, and a name that is not UTF-8 must survive a round trip unchanged.
 * Handlers that only care about UTF-8 names may treat a `Uint8Array` path
 * as "no such file"; {@link pathComponents} and {@link componentKey} serve
 * those that keep both.
 *
 * @module
 */

import { nameKey } from "../mod.ts";

/** An absolute path: a string when all its components are UTF-8, else its bytes. */
export type Path = string | Uint8Array;

/** One component of a path, or a name in a listing: a string when UTF-8, else bytes. */
export type PathName = string | Uint8Array;

const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();
const SLASH = 0x2f;

/**
 * A name as a string when its bytes are valid UTF-8, else the bytes
 * themselves (copied).
 *
 * @param bytes a name from the kernel
 * @returns the decoded name, or a copy of the bytes
 * @example
 * ```ts
 * import { decodeName } from "./path.ts";
 * console.log(decodeName(new TextEncoder().encode("café"))); // "café"
 * console.log(decodeName(new Uint8Array([0xff])) instanceof Uint8Array); // true
 * ```
 */
export function decodeName(bytes: Uint8Array): PathName {
  // ASCII names (nearly all) skip the decoder.
  let ascii = true;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return String.fromCharCode.apply(null, bytes as unknown as number[]);
  try {
    return strict.decode(bytes);
  } catch {
    return bytes.slice();
  }
}

/**
 * The exact bytes of a name or path (strings are encoded as UTF-8).
 *
 * @param name a name or path
 * @returns its bytes (the argument itself when it already is bytes)
 * @example
 * ```ts
 * import { toBytes } from "./path.ts";
 * console.log(toBytes("/a").length); // 2
 * ```
 */
export function toBytes(name: PathName): Uint8Array {
  return typeof name === "string" ? encoder.encode(name) : name;
}

/**
 * A string key for a name, for `Map`s: the name itself when it is a
 * string, else a NUL followed by one character per byte (no UTF-8 name
 * starts with NUL, so the two kinds never collide). A name given as bytes
 * that are valid UTF-8 gets the same key as its string.
 *
 * @param name a path component or listing name
 * @returns the key
 * @example
 * ```ts
 * import { componentKey } from "./path.ts";
 * console.log(componentKey(new TextEncoder().encode("a")) === componentKey("a")); // true
 * ```
 */
export function componentKey(name: PathName): string {
  if (typeof name === "string") return name;
  const decoded = decodeName(name);
  return typeof decoded === "string" ? decoded : "\0" + nameKey(name);
}

/**
 * The components of an absolute path, in order ("/" has none).
 *
 * @param path an absolute path
 * @returns each component as a string when UTF-8, else as bytes
 * @example
 * ```ts
 * import { pathComponents } from "./path.ts";
 * console.log(pathComponents("/a/b")); // ["a", "b"]
 * ```
 */
export function pathComponents(path: Path): PathName[] {
  if (typeof path === "string") return path === "/" ? [] : path.slice(1).split("/");
  const out: PathName[] = [];
  let start = 1;
  for (let i = 1; i <= path.length; i++) {
    if (i === path.length || path[i] === SLASH) {
      if (i > start) out.push(decodeName(path.subarray(start, i)));
      start = i + 1;
    }
  }
  return out;
}

/**
 * `parent` + "/" + `name`: a string when both are strings, else bytes.
 *
 * @param parent an absolute path
 * @param name a component
 * @returns the child's path
 * @example
 * ```ts
 * import { joinPath } from "./path.ts";
 * console.log(joinPath("/", "a"), joinPath("/a", "b")); // "/a" "/a/b"
 * ```
 */
export function joinPath(parent: Path, name: PathName): Path {
  if (typeof parent === "string" && typeof name === "string") {
    return parent === "/" ? "/" + name : parent + "/" + name;
  }
  const p = toBytes(parent), n = toBytes(name);
  const root = p.length === 1;
  const out = new Uint8Array((root ? 1 : p.length + 1) + n.length);
  if (root) out[0] = SLASH;
  else {
    out.set(p);
    out[p.length] = SLASH;
  }
  out.set(n, out.length - n.length);
  return out;
}

/**
 * The path for display or logs: bytes that are not UTF-8 become U+FFFD.
 *
 * @param path a path
 * @returns a string
 * @example
 * ```ts
 * import { showPath } from "./path.ts";
 * console.log(showPath(new Uint8Array([0x2f, 0xff]))); // "/\uFFFD"
 * ```
 */
export function showPath(path: Path): string {
  return typeof path === "string" ? path : new TextDecoder().decode(path);
}

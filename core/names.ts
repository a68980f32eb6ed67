/**
 * Names as keys. Handlers receive names as `Uint8Array` (the kernel's exact
 * bytes; Linux names need not be UTF-8). Unlike Python's `bytes`, two
 * arrays with the same bytes are not equal (`===` and `Map` keys compare
 * identity), so code ported from pyfuse3 that compares names or keys a
 * dict by them would silently never match. {@link nameKey} gives the
 * supported way: a string standing for exactly those bytes, and
 * {@link nameBytes} turns such a key back into the bytes.
 *
 * @module
 */

const encoder = new TextEncoder();
/** Names longer than this are converted in slices (apply's argument limit). */
const SLICE = 8192;

/**
 * A string that stands for a name's exact bytes, for comparing names and
 * keying a `Map`: each byte becomes one character (U+0000 to U+00FF), so
 * different bytes never give the same key. A string argument is taken as
 * UTF-8 first, so `nameKey(name) === nameKey("café")` works for any name.
 *
 * @param name the name's bytes, or a string to be encoded as UTF-8
 * @returns the key (not meant for display: decode with `TextDecoder` for that)
 * @example
 * ```ts
 * import { nameKey } from "../mod.ts";
 * const entries = new Map<string, number>([[nameKey("message"), 2]]);
 * const fromKernel = new TextEncoder().encode("message");
 * console.log(entries.get(nameKey(fromKernel))); // 2
 * ```
 */
export function nameKey(name: Uint8Array | string): string {
  const bytes = typeof name === "string" ? encoder.encode(name) : name;
  // apply() takes the typed array as it is; a spread would iterate it (4x slower).
  if (bytes.length <= SLICE) return String.fromCharCode.apply(null, bytes as unknown as number[]);
  let key = "";
  for (let at = 0; at < bytes.length; at += SLICE) {
    key += String.fromCharCode.apply(null, bytes.subarray(at, at + SLICE) as unknown as number[]);
  }
  return key;
}

/**
 * The bytes a {@link nameKey} key stands for: the inverse of `nameKey`, so
 * `nameBytes(nameKey(bytes))` equals `bytes` for any name, UTF-8 or not.
 * Use it to turn a key back into a name for the kernel or for libc (the
 * posix calls and `cstr` take a string as UTF-8, which would re-encode a
 * key's characters U+0080 to U+00FF as two bytes each).
 *
 * @param key a string made by {@link nameKey} (every character U+0000 to U+00FF)
 * @returns a new array with the name's bytes
 * @throws {TypeError} if a character is above U+00FF (the string is not a key)
 * @example
 * ```ts
 * import { nameBytes, nameKey } from "../mod.ts";
 * const raw = new Uint8Array([0x66, 0xff]); // "f" and a byte that is not UTF-8
 * const key = nameKey(raw);
 * console.log(nameBytes(key)); // Uint8Array(2) [ 102, 255 ]
 * ```
 */
export function nameBytes(key: string): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(key.length);
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c > 0xff) {
      throw new TypeError(
        `nameBytes: ${JSON.stringify(key)} is not a nameKey() key (character ${i} is ` +
          `U+${c.toString(16).toUpperCase().padStart(4, "0")}): encode a text with TextEncoder`,
      );
    }
    bytes[i] = c;
  }
  return bytes;
}

/**
 * Loading libc: the one place libc is opened on the JS thread (the poll
 * and syscall Workers open their own, as each thread must). Reference
 * counted, so that a process (or a test) that released every user holds no
 * library open.
 *
 * @module
 */

import { LIBC_SYMBOLS } from "./symbols.ts";
import { FuseLoadError } from "../core/errors.ts";

/** The loaded libc with every symbol of {@link LIBC_SYMBOLS}. */
export type LibC = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

let library: Deno.DynamicLibrary<typeof LIBC_SYMBOLS> | undefined;
let users = 0;

/**
 * Loads libc, or takes another reference to it. Pair every call with
 * {@link releaseLibc}.
 *
 * @returns the symbols
 * @throws {FuseLoadError} without FFI permission
 */
export function acquireLibc(): LibC {
  if (!library) {
    try {
      library = Deno.dlopen("libc.so.6", LIBC_SYMBOLS);
    } catch (err) {
      if (err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied) {
        throw new FuseLoadError(
          "loading libc.so.6 needs FFI permission: run deno with --allow-ffi",
          {
            cause: err,
          },
        );
      }
      throw err;
    }
  }
  users++;
  return library.symbols;
}

/** Drops a reference taken by {@link acquireLibc}; the last one unloads libc. */
export function releaseLibc(): void {
  if (users === 0 || --users > 0) return;
  library?.close();
  library = undefined;
}

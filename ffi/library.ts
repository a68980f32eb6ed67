/**
 * Loading libfuse3 (and taking libc from ffi/libc.ts): the only place that
 * opens libfuse.
 *
 * @module
 */

import { FUSE_SYMBOLS } from "./symbols.ts";
import { acquireLibc, type LibC, releaseLibc } from "./libc.ts";
import { FuseLoadError } from "../core/errors.ts";

export type { LibC };

/** The environment variable that names the libfuse3 shared object to load. */
export const LIBFUSE_PATH_ENV = "DENOFUSE_LIBFUSE";

/**
 * Sonames tried in order: libfuse >= 3.17 ships `libfuse3.so.4`, older
 * releases `libfuse3.so.3`; the unversioned name only exists with the -dev
 * package installed.
 */
const SONAMES = ["libfuse3.so.4", "libfuse3.so.3", "libfuse3.so"] as const;

/** The loaded libfuse3 with its symbols. */
export type FuseLibrary = Deno.DynamicLibrary<typeof FUSE_SYMBOLS>["symbols"];

/** What was loaded, and which libfuse version it is. */
export interface LoadedLibraries {
  fuse: FuseLibrary;
  libc: LibC;
  /** The path or soname that loaded. */
  path: string;
  /** `fuse_version()`: major * 100 + minor, e.g. 314. */
  version: number;
  /** `fuse_pkgversion()`, e.g. "3.14.0". */
  pkgVersion: string;
}

let loaded: LoadedLibraries | undefined;
let closeLoaded: (() => void) | undefined;
let users = 0;

function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    // Without --allow-env the override is simply not consulted.
    return undefined;
  }
}

/**
 * Loads libfuse3 and libc, or takes another reference to them. Every call
 * must be paired with {@link releaseLibraries}; the last release unloads
 * them, so a process (or a test) that closed all its mounts holds no
 * libraries or callbacks.
 *
 * Tries `$DENOFUSE_LIBFUSE` if set, else `libfuse3.so.4` then `libfuse3.so.3`.
 *
 * @returns the libraries and the libfuse version
 * @throws {FuseLoadError} naming every path tried and how to install libfuse3
 */
export function acquireLibraries(): LoadedLibraries {
  const libs = loadLibraries();
  users++;
  return libs;
}

/**
 * The `fuse_version()` of the libfuse currently loaded (e.g. 317), or 0 when
 * none is. For code that runs inside libfuse callbacks and was not handed
 * the {@link LoadedLibraries}.
 *
 * @returns the version, or 0
 */
export function loadedLibfuseVersion(): number {
  return loaded?.version ?? 0;
}

/** Hooks run just before the libraries are unloaded (e.g. to detach callbacks). */
const beforeUnload: Array<(libs: LoadedLibraries) => void> = [];

/**
 * Registers `hook` to run before the last {@link releaseLibraries} unloads.
 *
 * @param hook receives the libraries about to be closed
 */
export function onUnload(hook: (libs: LoadedLibraries) => void): void {
  beforeUnload.push(hook);
}

/** Drops a reference taken by {@link acquireLibraries}. */
export function releaseLibraries(): void {
  if (users === 0) return;
  if (--users > 0 || !loaded) return;
  for (const hook of beforeUnload) hook(loaded);
  closeLoaded?.();
  loaded = undefined;
  closeLoaded = undefined;
}

function loadLibraries(): LoadedLibraries {
  if (loaded) return loaded;
  const override = readEnv(LIBFUSE_PATH_ENV);
  const candidates = override ? [override] : [...SONAMES];
  const failures: string[] = [];
  for (const path of candidates) {
    let lib: Deno.DynamicLibrary<typeof FUSE_SYMBOLS>;
    try {
      lib = Deno.dlopen(path, FUSE_SYMBOLS);
    } catch (err) {
      if (err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied) {
        throw new FuseLoadError(
          `loading ${path} needs FFI permission: run deno with --allow-ffi`,
          { cause: err },
        );
      }
      failures.push(`${path}: ${err instanceof Error ? err.message : String(err)}`);
      continue;
    }
    const fuse = lib.symbols;
    if (!fuse.fuse_session_new && !fuse.fuse_session_new_versioned) {
      lib.close();
      failures.push(`${path}: exports neither fuse_session_new nor fuse_session_new_versioned`);
      continue;
    }
    let libc: LibC;
    try {
      libc = acquireLibc();
    } catch (error) {
      lib.close();
      throw error;
    }
    closeLoaded = () => {
      releaseLibc();
      lib.close();
    };
    const version = fuse.fuse_version();
    const pkg = fuse.fuse_pkgversion();
    loaded = {
      fuse,
      libc,
      path,
      version,
      pkgVersion: pkg
        ? Deno.UnsafePointerView.getCString(pkg)
        : `${Math.floor(version / 100)}.${version % 100}`,
    };
    return loaded;
  }
  throw new FuseLoadError(
    `could not load libfuse3. Tried:\n  ${failures.join("\n  ")}\n` +
      (override
        ? `${LIBFUSE_PATH_ENV} is set; point it at an existing libfuse3 shared object or unset it.`
        : `Install it (Debian/Ubuntu: apt-get install fuse3 libfuse3-3 — on Debian 13 the package is libfuse3-4; ` +
          `Fedora: dnf install fuse3-libs) or set ${LIBFUSE_PATH_ENV}=/path/to/libfuse3.so.N.`),
  );
}

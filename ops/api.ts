/**
 * The pyfuse3-style process-wide API (`init`, `main`, `terminate`, `close`)
 * and the handle-based {@link mount} for several filesystems per process.
 *
 * @module
 */

import { FuseMount, type FuseMountOptions } from "./mount.ts";
import type { Operations } from "./operations.ts";
import { FuseStateError } from "../utils/errors.ts";

/**
 * The options pyfuse3 recommends: let the kernel check permissions from the
 * attributes the filesystem reports. Copy it before adding to it.
 *
 * @example
 * ```ts
 * import { defaultOptions } from "../mod.ts";
 * const options = new Set(defaultOptions);
 * options.add("fsname=hello");
 * ```
 */
export const defaultOptions: ReadonlySet<string> = Object.freeze(new Set(["default_permissions"]));

let current: FuseMount | undefined;

/**
 * Mounts `ops` on `mountpoint`, like pyfuse3's `init()`. Then run
 * {@link main}; afterwards call {@link close}.
 *
 * @param ops the filesystem
 * @param mountpoint an existing directory that is not a mount point
 * @param options mount options (default {@link defaultOptions})
 * @throws {FuseStateError} if `init()` was already called without `close()`
 * @throws {FuseLoadError} if libfuse3 cannot be loaded
 * @throws {FuseMountError} if mounting fails, naming the problem and its fix
 * @example
 * ```ts ignore
 * import * as fuse from "../mod.ts";
 * fuse.init(ops, "/mnt/hello", fuse.defaultOptions);
 * try {
 *   await fuse.main();
 * } finally {
 *   fuse.close();
 * }
 * ```
 */
export function init(
  ops: Operations,
  mountpoint: string,
  options: Iterable<string> = defaultOptions,
): void {
  if (current) {
    throw new FuseStateError(
      `init() called twice: ${current.mountpoint} is still mounted; call close() first, ` +
        `or use mount() for several filesystems`,
    );
  }
  current = FuseMount.open(ops, mountpoint, options);
}

/**
 * Serves requests until {@link terminate}, an unmount, SIGINT or SIGTERM.
 *
 * @returns resolves when serving has stopped
 * @throws {FuseStateError} if called before {@link init}
 */
export function main(): Promise<void> {
  if (!current) {
    throw new FuseStateError("main() called before init(): call init(ops, mountpoint) first");
  }
  return current.serve();
}

/** Makes {@link main} return. Safe to call from a handler. */
export function terminate(): void {
  current?.terminate();
}

/**
 * Unmounts and frees the filesystem mounted by {@link init}. Idempotent.
 *
 * @param options `unmount: false` keeps the kernel mount (pyfuse3's `close(unmount=False)`)
 * @throws {FuseStateError} if {@link main} is still running
 */
export function close(options: { unmount?: boolean } = {}): void {
  if (!current) return;
  current.close(options);
  current = undefined;
}

/** A filesystem mounted with {@link mount}. */
export interface MountHandle extends AsyncDisposable {
  /** The absolute mount point. */
  readonly mountpoint: string;
  /**
   * Settles once the filesystem has stopped serving and is unmounted,
   * whatever the cause (unmount(), fusermount3 -u, a signal).
   */
  readonly closed: Promise<void>;
  /**
   * Stops serving and unmounts.
   *
   * @returns resolves when done (the same as `closed`)
   */
  unmount(): Promise<void>;
}

/**
 * Mounts `ops` on `mountpoint` and starts serving at once. Any number of
 * filesystems can be mounted this way in one process.
 *
 * @param ops the filesystem
 * @param mountpoint an existing directory that is not a mount point
 * @param options mount options (default {@link defaultOptions})
 * @param loopOptions signal handling and grace period
 * @returns a handle; `await using` unmounts it at the end of the scope
 * @throws {FuseLoadError} if libfuse3 cannot be loaded
 * @throws {FuseMountError} if mounting fails, naming the problem and its fix
 * @example
 * ```ts ignore
 * import { mount } from "../mod.ts";
 * await using fs = mount(ops, "/mnt/hello");
 * console.log(await Deno.readTextFile("/mnt/hello/message"));
 * ```
 */
export function mount(
  ops: Operations,
  mountpoint: string,
  options: Iterable<string> = defaultOptions,
  loopOptions: FuseMountOptions = {},
): MountHandle {
  const fs = FuseMount.open(ops, mountpoint, options, loopOptions);
  const closed = fs.serve().finally(() => fs.close());
  const unmount = () => {
    fs.terminate();
    return closed;
  };
  return { mountpoint: fs.mountpoint, closed, unmount, [Symbol.asyncDispose]: unmount };
}

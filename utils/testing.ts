/**
 * Helpers for testing filesystems: mount an `Operations` object on a fresh
 * temporary directory, wait until the kernel talks to it, unmount and clean
 * up on dispose.
 *
 * The filesystem is served by the same JS thread as the test, so the test
 * must touch the mount with **async** APIs only (`Deno.readFile`,
 * `Deno.stat`, `Deno.writeFile`, subprocesses). A synchronous call such as
 * `Deno.readFileSync` blocks the thread that would answer it and deadlocks;
 * so does `FsFile.close()` when the kernel sends FLUSH (filesystems with a
 * `flush` handler or POSIX locks, and writeback-cache mounts).
 *
 * @module
 */

import { mount, type MountHandle } from "../ops/api.ts";
import type { FuseMountOptions } from "../ops/mount.ts";
import type { Operations } from "../ops/operations.ts";

/** A filesystem mounted for a test; `await using` unmounts it and removes the directory. */
export interface TestMount extends AsyncDisposable {
  /** The temporary mount point. */
  readonly mountpoint: string;
  /** The mount, for notifications and statistics. */
  readonly handle: MountHandle;
}

/** Options of {@link testMount}. */
export interface TestMountOptions extends FuseMountOptions {
  /** Mount options (default `["default_permissions", "fsname=denofuse-test"]`). */
  options?: string[];
  /** Milliseconds to wait for the kernel to answer the first request (default 10000). */
  readyTimeoutMs?: number;
}

/**
 * Mounts `ops` on a new temporary directory and waits until it serves.
 * Signal handling is off (the test runner owns the process).
 *
 * @param ops the filesystem under test
 * @param options mount and loop options
 * @returns the mount; dispose it (e.g. `await using`) to unmount and clean up
 * @throws {FuseMountError} if mounting fails
 * @throws {Error} if the filesystem does not answer in time
 * @example
 * ```ts ignore
 * import { testMount } from "jsr:@denofuse/fuse/testing";
 * Deno.test("my fs lists its root", async () => {
 *   await using fs = await testMount(new MyFs());
 *   for await (const e of Deno.readDir(fs.mountpoint)) console.log(e.name);
 * });
 * ```
 */
export async function testMount(
  ops: Operations,
  options: TestMountOptions = {},
): Promise<TestMount> {
  const {
    options: mountOptions = ["default_permissions", "fsname=denofuse-test"],
    readyTimeoutMs = 10_000,
    ...loop
  } = options;
  const mountpoint = await Deno.makeTempDir({ prefix: "denofuse-test-" });
  let handle: MountHandle;
  try {
    handle = mount(ops, mountpoint, mountOptions, { handleSignals: false, ...loop });
  } catch (error) {
    await Deno.remove(mountpoint);
    throw error;
  }
  const cleanup = async () => {
    await handle.unmount();
    await Deno.remove(mountpoint);
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    // The first request (FUSE_INIT, then the stat's own) proves the loop runs.
    await Promise.race([
      Deno.stat(mountpoint).catch(() => {}),
      new Promise((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `the filesystem on ${mountpoint} did not answer within ${readyTimeoutMs} ms`,
              ),
            ),
          readyTimeoutMs,
        );
      }),
    ]);
  } catch (error) {
    await cleanup();
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return { mountpoint, handle, [Symbol.asyncDispose]: cleanup };
}

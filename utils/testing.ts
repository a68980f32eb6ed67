/**
 * Helpers for testing filesystems: mount a filesystem on a fresh temporary
 * directory, wait until the kernel talks to it, unmount and clean up on
 * dispose.
 *
 * Given the filesystem's module, the filesystem is served on a Worker
 * thread: the test may then use any file API on the mount, synchronous ones
 * and `FsFile.close()` included, under any permission flags. Given an
 * `Operations` object, it is served on the test's own thread, which works
 * only with `--allow-all` and async APIs (see {@link testMount}).
 *
 * @module
 */

import { mount, type MountHandle } from "../ops/api.ts";
import type { FuseMountOptions } from "../ops/mount.ts";
import type { Operations } from "../ops/operations.ts";
import { mountInWorker, type WorkerMountHandle } from "../ops/worker_mount.ts";
import type { FilesystemModule } from "../ops/worker_protocol.ts";
import { FuseStateError } from "../core/errors.ts";
import { allowsAll } from "../ops/preflight.ts";

/** A filesystem mounted for a test; `await using` unmounts it and removes the directory. */
export interface TestMount<H extends MountHandle | WorkerMountHandle = MountHandle>
  extends AsyncDisposable {
  /** The temporary mount point. */
  readonly mountpoint: string;
  /** The mount, for notifications and statistics. */
  readonly handle: H;
}

/** Options of {@link testMount}. */
export interface TestMountOptions extends FuseMountOptions {
  /** Mount options (default `["default_permissions", "fsname=denofuse-test"]`). */
  options?: string[];
  /** Milliseconds to wait for the kernel to answer the first request (default 10000). */
  readyTimeoutMs?: number;
}

/**
 * Mounts a filesystem on a new temporary directory and waits until it
 * serves. Signal handling is off (the test runner owns the process).
 *
 * Pass the filesystem's **module** (`{ module, export, args }`) and it is
 * served on a Worker thread: the test can then touch the mount with any
 * API, `Deno.readFileSync` and `FsFile.close()` included, under granular
 * flags such as `--allow-ffi --allow-read --allow-write`.
 *
 * Pass an **`Operations` object** and it is served on the test's own
 * thread. That needs `--allow-all` (otherwise Deno resolves each path on
 * this thread before touching it, and the test would deadlock on its own
 * mount: this call throws at once instead) and async APIs only (a
 * synchronous call, or `FsFile.close()` when the kernel sends FLUSH, blocks
 * the thread that would answer it).
 *
 * @param fs the filesystem's module and export, or the `Operations` object
 * @param options mount and loop options
 * @returns the mount; dispose it (e.g. `await using`) to unmount and clean up
 * @throws {FuseStateError} for an `Operations` object without `--allow-all`
 * @throws {FuseMountError} if mounting fails
 * @throws {Error} if the filesystem does not answer in time
 * @example
 * ```ts ignore
 * import { testMount } from "jsr:@denofuse/fuse/testing";
 * Deno.test("my fs lists its root", async () => {
 *   await using fs = await testMount({ module: new URL("./my_fs.ts", import.meta.url), export: "MyFs" });
 *   for (const e of Deno.readDirSync(fs.mountpoint)) console.log(e.name);
 * });
 * ```
 */
export async function testMount(
  fs: FilesystemModule,
  options?: TestMountOptions,
): Promise<TestMount<WorkerMountHandle>>;
/**
 * Mounts an `Operations` object, served on the test's own thread (needs
 * `--allow-all` and async file APIs; see the module form above).
 *
 * @param fs the filesystem
 * @param options mount and loop options
 * @returns the mount; dispose it to unmount and clean up
 * @throws {FuseStateError} without `--allow-all`
 */
export async function testMount(
  fs: Operations,
  options?: TestMountOptions,
): Promise<TestMount<MountHandle>>;
export async function testMount(
  fs: Operations | FilesystemModule,
  options: TestMountOptions = {},
): Promise<TestMount<MountHandle | WorkerMountHandle>> {
  const {
    options: mountOptions = ["default_permissions", "fsname=denofuse-test"],
    readyTimeoutMs = 10_000,
    ...loop
  } = options;
  const inWorker = isFilesystemModule(fs);
  if (!inWorker && !allowsAll()) throw sameThreadError();
  const mountpoint = await Deno.makeTempDir({ prefix: "denofuse-test-" });
  let handle: MountHandle | WorkerMountHandle;
  try {
    const all = { handleSignals: false, ...loop, options: mountOptions };
    handle = inWorker ? await mountInWorker(fs, mountpoint, all) : mount(fs, mountpoint, all);
  } catch (error) {
    await Deno.remove(mountpoint);
    throw error;
  }
  const cleanup = async () => {
    await handle.unmount();
    await Deno.remove(mountpoint);
  };
  try {
    await firstAnswer(mountpoint, readyTimeoutMs);
  } catch (error) {
    await cleanup();
    throw error;
  }
  return { mountpoint, handle, [Symbol.asyncDispose]: cleanup };
}

function isFilesystemModule(fs: Operations | FilesystemModule): fs is FilesystemModule {
  const { module } = fs as Partial<FilesystemModule>;
  return typeof module === "string" || module instanceof URL;
}

function sameThreadError(): FuseStateError {
  return new FuseStateError(
    "testMount(ops) serves the filesystem on the test's own thread, and without --allow-all " +
      "Deno resolves every path on that thread before using it: the test would deadlock on " +
      "its own mount. Pass the filesystem's module instead, e.g. testMount({ module: new " +
      'URL("./my_fs.ts", import.meta.url), export: "MyFs" }), to serve it in a Worker, or ' +
      "run the tests with --allow-all (-A)",
  );
}

/** Waits for FUSE_INIT and the first request: proof that the filesystem is served. */
async function firstAnswer(mountpoint: string, timeoutMs: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      Deno.stat(mountpoint).catch(() => {}),
      new Promise((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(`the filesystem on ${mountpoint} did not answer within ${timeoutMs} ms`),
            ),
          timeoutMs,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Serving a filesystem on a Worker thread, so that the process that mounts
 * it can use its own mount with any API and under any permission flags.
 *
 * Why it is needed: unless Deno runs with `--allow-all`, it resolves every
 * path (one `readlink` per component) on the calling JS thread before a
 * file operation, even an async one. When that thread is also the one that
 * answers the kernel, a `Deno.readFile` of its own mount waits for a LOOKUP
 * that only it could answer: a deadlock no signal but SIGKILL ends.
 *
 * @module
 */

import type { Notifications } from "./notifications.ts";
import type { NegotiatedConn } from "../ffi/conn.ts";
import type { OperationStats } from "./stats.ts";
import type { Inode } from "../core/types.ts";
import { type MountOptions, splitMountOptions } from "./api.ts";
import { ErrnoError } from "../core/errors.ts";
import { errno } from "../core/errno.ts";
import {
  type CallName,
  type CallRequest,
  type FilesystemModule,
  fromWireError,
  type MountRequest,
  type WorkerReply,
} from "./worker_protocol.ts";

/**
 * A filesystem served by {@link mountInWorker}. Like `MountHandle`, but the
 * statistics and the connection are read from the Worker, so they are
 * promises.
 */
export interface WorkerMountHandle extends AsyncDisposable, Notifications {
  /** The absolute mount point. */
  readonly mountpoint: string;
  /** Settles once the filesystem has stopped serving and is unmounted. */
  readonly closed: Promise<void>;
  /**
   * Request statistics so far.
   *
   * @returns per handler name: answered requests, errors, latency percentiles (µs)
   */
  statistics(): Promise<Record<string, OperationStats>>;
  /**
   * What FUSE_INIT negotiated.
   *
   * @returns the negotiated values, or undefined before the kernel connected
   */
  connection(): Promise<NegotiatedConn | undefined>;
  /**
   * Stops serving, unmounts and ends the Worker.
   *
   * @returns resolves when done (the same as `closed`)
   */
  unmount(): Promise<void>;
}

type Pending = { resolve(value: unknown): void; reject(error: Error): void };

/** The handle's side of the conversation with one Worker. */
class WorkerConnection {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #closed = false;

  constructor(worker: Worker) {
    this.#worker = worker;
  }

  call<T>(name: CallName, ...args: unknown[]): Promise<T> {
    if (this.#closed) {
      return Promise.reject(new Error(`${name}() after the filesystem stopped serving`));
    }
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      try {
        this.#worker.postMessage({ type: "call", id, name, args } satisfies CallRequest);
      } catch (error) {
        this.#pending.delete(id);
        reject(error);
      }
    });
  }

  answered(id: number, value: unknown, error?: Error): void {
    const waiter = this.#pending.get(id);
    this.#pending.delete(id);
    if (error) waiter?.reject(error);
    else waiter?.resolve(value);
  }

  /** Ends the Worker and fails the calls still waiting. */
  end(why: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#worker.terminate();
    for (const waiter of this.#pending.values()) waiter.reject(new Error(why));
    this.#pending.clear();
  }
}

/**
 * Mounts the filesystem exported by a module, serving it on a new Worker
 * thread. Unlike {@link mount}, the calling thread stays free, so it can
 * read and write the mount with any API, synchronous ones included, and
 * under granular permission flags (`--allow-ffi --allow-read
 * --allow-write`), where an in-thread mount would deadlock on its own
 * accesses. The Worker inherits the process's permissions.
 *
 * With `deno compile`, add the filesystem's module and denofuse's
 * `ops/worker_entry.ts` with `--include`: the Worker loads both at run time
 * (the rest of denofuse needs no `--include`).
 *
 * @param fs the module (an absolute URL or specifier: a relative one would be
 *   resolved against denofuse's own files) and the export that is, or builds,
 *   the `Operations`
 * @param mountpoint an existing directory that is not a mount point
 * @param options a set of mount options (default `defaultOptions`), or
 *   `{ options, debug, handleSignals, graceMs }` (the loop runs in the Worker)
 * @returns a handle once mounted; `await using` unmounts it at the end of the scope
 * @throws {FuseMountError} if mounting fails, naming the problem and its fix
 * @throws {TypeError} if the module is a relative specifier or has no such export
 * @example
 * ```ts ignore
 * import { mountInWorker } from "jsr:@denofuse/fuse";
 * await using fs = await mountInWorker(
 *   { module: new URL("./hello.ts", import.meta.url), export: "HelloFs" },
 *   "/mnt/hello",
 * );
 * console.log(Deno.readTextFileSync("/mnt/hello/message"));
 * ```
 */
export function mountInWorker(
  fs: FilesystemModule,
  mountpoint: string,
  options?: Iterable<string> | MountOptions,
): Promise<WorkerMountHandle> {
  const split = splitMountOptions(options);
  if (typeof fs.module === "string" && /^\.\.?\//.test(fs.module)) {
    return Promise.reject(
      new TypeError(
        `mountInWorker: the module ${JSON.stringify(fs.module)} is relative, and the Worker ` +
          `would resolve it against denofuse's own files: pass new URL(${
            JSON.stringify(fs.module)
          }, import.meta.url)`,
      ),
    );
  }
  const request: MountRequest = {
    type: "mount",
    module: String(fs.module),
    exportName: fs.export ?? "default",
    args: fs.args ?? [],
    mountpoint,
    options: [...split.options],
    loopOptions: split.loop,
  };
  const worker = new Worker(new URL("./worker_entry.ts", import.meta.url), { type: "module" });
  const connection = new WorkerConnection(worker);
  return new Promise((resolveMounted, rejectMounted) => {
    let resolveClosed!: () => void, rejectClosed!: (e: Error) => void;
    const closed = new Promise<void>((resolve, reject) => {
      resolveClosed = resolve;
      rejectClosed = reject;
    });
    // Before "mounted" nobody holds `closed`: a rejection there would be unhandled.
    let mounted = false;
    worker.onerror = (event) => {
      event.preventDefault();
      const error = new Error(`the filesystem's Worker failed: ${event.message}`);
      connection.end(error.message);
      rejectMounted(error);
      if (mounted) rejectClosed(error);
      else resolveClosed();
    };
    worker.onmessage = ({ data }: MessageEvent<WorkerReply>) => {
      switch (data.type) {
        case "mounted":
          mounted = true;
          resolveMounted(workerHandle(data.mountpoint, connection, closed));
          break;
        case "result":
          connection.answered(data.id, data.value, data.error && fromWireError(data.error));
          break;
        case "closed":
          connection.end("the filesystem stopped serving");
          if (data.error) rejectClosed(fromWireError(data.error));
          else resolveClosed();
          break;
        case "failed":
          connection.end("mounting failed");
          rejectMounted(fromWireError(data.error));
          resolveClosed();
      }
    };
    try {
      worker.postMessage(request);
    } catch (error) {
      // e.g. args that cannot be cloned: the Worker would wait for ever.
      connection.end("mounting failed");
      rejectMounted(error);
      resolveClosed();
    }
  });
}

function workerHandle(
  mountpoint: string,
  connection: WorkerConnection,
  closed: Promise<void>,
): WorkerMountHandle {
  const unmount = async () => {
    await connection.call("unmount").catch(() => {/* already stopping: closed tells */});
    return closed;
  };
  return {
    mountpoint,
    closed,
    statistics: () => connection.call("statistics"),
    connection: () => connection.call("connection"),
    unmount,
    [Symbol.asyncDispose]: unmount,
    invalidateInode: (inode: Inode, attrOnly?: boolean) =>
      connection.call("invalidateInode", inode, attrOnly),
    invalidateEntry: (parentInode: Inode, name: Uint8Array | string, deleted?: Inode) =>
      connection.call("invalidateEntry", parentInode, name, deleted),
    invalidateEntryAsync(parentInode, name, deleted = 0, ignoreEnoent = false) {
      connection.call("invalidateEntry", parentInode, name, deleted).catch((error) => {
        if (ignoreEnoent && error instanceof ErrnoError && error.errno === errno.ENOENT) return;
        console.error("denofuse: invalidateEntryAsync failed:", error);
      });
    },
    notifyStore: (inode: Inode, offset: number, data: Uint8Array) =>
      connection.call("notifyStore", inode, offset, data),
    notifyDelete: (parentInode: Inode, childInode: Inode, name: Uint8Array | string) =>
      connection.call("notifyDelete", parentInode, childInode, name),
    notifyRetrieve: (inode: Inode, offset: number, size: number) =>
      connection.call("notifyRetrieve", inode, offset, size),
    incrementEpoch: () => connection.call("incrementEpoch"),
  };
}

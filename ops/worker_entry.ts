/**
 * The Worker side of {@link mountInWorker}: imports the filesystem's module,
 * mounts it with {@link mount} on this thread, answers the handle's calls,
 * and reports when serving ends. Serving here, off the caller's thread, is
 * what lets the caller touch the mount with any Deno API under any
 * permission flags.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { mount, type MountHandle } from "./api.ts";
import type { Operations } from "./operations.ts";
import {
  type CallRequest,
  type MountRequest,
  toWireError,
  type WorkerReply,
} from "./worker_protocol.ts";

function send(reply: WorkerReply): void {
  self.postMessage(reply);
}

/** Builds the filesystem from the module's export (object, class or factory). */
async function load(request: MountRequest): Promise<Operations> {
  const module = await import(request.module);
  const value = module[request.exportName];
  if (value === undefined) {
    throw new TypeError(
      `${request.module} has no export named "${request.exportName}": export the filesystem ` +
        `(an Operations object, a class or a factory function) and name it in { export }`,
    );
  }
  if (typeof value !== "function") return value;
  // A class cannot be called and an arrow function cannot be constructed.
  const isClass = /^class\b/.test(Function.prototype.toString.call(value));
  return isClass ? new value(...request.args) : await value(...request.args);
}

async function answer(handle: MountHandle, call: CallRequest): Promise<void> {
  try {
    let value: unknown;
    if (call.name === "connection") value = handle.connection;
    else value = await (handle[call.name] as (...a: unknown[]) => unknown)(...call.args);
    send({ type: "result", id: call.id, value });
  } catch (error) {
    send({ type: "result", id: call.id, error: toWireError(error) });
  }
}

async function serve(request: MountRequest): Promise<void> {
  let handle: MountHandle;
  try {
    const ops = await load(request);
    handle = mount(ops, request.mountpoint, { ...request.loopOptions, options: request.options });
  } catch (error) {
    send({ type: "failed", error: toWireError(error) });
    return;
  }
  self.onmessage = ({ data }: MessageEvent<CallRequest>) => void answer(handle, data);
  send({ type: "mounted", mountpoint: handle.mountpoint });
  try {
    await handle.closed;
    send({ type: "closed" });
  } catch (error) {
    send({ type: "closed", error: toWireError(error) });
  }
}

// An error escaping a handler's callbacks must not end this Worker: it
// serves a mount that nothing else would answer (the device belongs to the
// process, so the mount would hang every access). Log it, keep serving.
self.addEventListener("error", (event) => {
  event.preventDefault();
  console.error(
    "denofuse: uncaught error in the filesystem's Worker:",
    event.error ?? event.message,
  );
});
self.addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  console.error("denofuse: unhandled rejection in the filesystem's Worker:", event.reason);
});

self.onmessage = ({ data }: MessageEvent<MountRequest>) => {
  self.onmessage = null;
  void serve(data);
};

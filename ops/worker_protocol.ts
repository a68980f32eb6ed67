/**
 * The messages between {@link mountInWorker}'s handle and the Worker that
 * serves the filesystem, and how errors cross the thread boundary (a
 * structured clone keeps only `name` and `message`, so the classes callers
 * test with `instanceof` are rebuilt on arrival).
 *
 * @module
 */

import type { FuseMountOptions } from "./mount.ts";
import {
  ErrnoError,
  FuseLoadError,
  FuseMountError,
  FuseOperationalError,
  FuseStateError,
} from "../core/errors.ts";

/**
 * Where a Worker finds the filesystem to serve: a module and its export,
 * which is an `Operations` object, a class (constructed with `args`) or a
 * function (called with `args`, may return a promise).
 */
export interface FilesystemModule {
  /** The module's URL or specifier, e.g. `new URL("./my_fs.ts", import.meta.url)`. */
  module: string | URL;
  /** The export's name (default `"default"`). */
  export?: string;
  /** Arguments for the class or function; they must be structured-cloneable. */
  args?: unknown[];
}

/** The first message to the Worker: what to mount where. */
export interface MountRequest {
  type: "mount";
  module: string;
  exportName: string;
  args: unknown[];
  mountpoint: string;
  options: string[];
  loopOptions: FuseMountOptions;
}

/** The handle's calls, by the name of the method on the Worker's mount. */
export type CallName =
  | "statistics"
  | "connection"
  | "invalidateInode"
  | "invalidateEntry"
  | "notifyStore"
  | "notifyDelete"
  | "notifyRetrieve"
  | "incrementEpoch"
  | "unmount";

/** A call from the handle; the answer carries the same `id`. */
export interface CallRequest {
  type: "call";
  id: number;
  name: CallName;
  args: unknown[];
}

/** An error as it crosses to the other thread. */
export interface WireError {
  name: string;
  message: string;
  errno?: number;
}

/** What the Worker sends back. */
export type WorkerReply =
  | { type: "mounted"; mountpoint: string }
  | { type: "result"; id: number; value?: unknown; error?: WireError }
  | { type: "closed"; error?: WireError }
  | { type: "failed"; error: WireError };

/**
 * Prepares an error for `postMessage`.
 *
 * @param error anything thrown
 * @returns its class name, message and errno
 */
export function toWireError(error: unknown): WireError {
  if (error instanceof ErrnoError) {
    return { name: error.name, message: error.message, errno: error.errno };
  }
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: "Error", message: String(error) };
}

/**
 * Rebuilds an error sent by {@link toWireError} as its original class
 * where denofuse defines it.
 *
 * @param wire the received error
 * @returns an Error of the same class and message
 */
export function fromWireError(wire: WireError): Error {
  const error = rebuild(wire);
  // The constructors prefix or format their text: keep the original message
  // (and a stack that shows it once).
  error.message = wire.message;
  error.stack = `${error.name}: ${wire.message}\n    (in the filesystem's Worker)`;
  return error;
}

function rebuild({ name, message, errno }: WireError): Error {
  switch (name) {
    case "ErrnoError":
      return new ErrnoError(errno ?? 5, "");
    case "FuseLoadError":
      return new FuseLoadError(message);
    case "FuseMountError":
      return new FuseMountError(message);
    case "FuseStateError":
      return new FuseStateError(message);
    case "FuseOperationalError":
      return new FuseOperationalError(message);
    case "TypeError":
      return new TypeError(message);
    case "RangeError":
      return new RangeError(message);
  }
  const error = new Error(message);
  error.name = name;
  return error;
}

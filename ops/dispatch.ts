/**
 * From libfuse callbacks to `Operations` handlers and back: decodes each
 * request's arguments (copying them before the callback returns), runs the
 * handler, and sends exactly one reply when its promise settles.
 *
 * @module
 */

import {
  decodeCtx,
  decodeFh,
  decodeFileInfo,
  decodeForgets,
  decodeStat,
  InvalidReplyError,
  toBytes,
  toSafeNumber,
  UnsafeIntegerError,
} from "../ffi/codec.ts";
import type { LowLevelImpls } from "../ffi/lowlevel_ops.ts";
import type { Replier, RequestPointer } from "../ffi/reply.ts";
import { connInfoNegotiate, type NegotiatedConn } from "../ffi/conn.ts";
import type { LoadedLibraries } from "../ffi/library.ts";
import type { HandlerName, Operations } from "./operations.ts";
import { ReaddirToken } from "./readdir.ts";
import {
  type EntryAttributes,
  type FileInfo,
  type RequestContext,
  SetattrFields,
} from "./types.ts";
import { errno } from "../utils/errno.ts";
import { FUSEError } from "../utils/errors.ts";

const SET_ATTR = {
  MODE: 1 << 0,
  UID: 1 << 1,
  GID: 1 << 2,
  SIZE: 1 << 3,
  ATIME: 1 << 4,
  MTIME: 1 << 5,
  ATIME_NOW: 1 << 7,
  MTIME_NOW: 1 << 8,
  CTIME: 1 << 10,
} as const;

/** What the dispatcher needs from the mount that owns it. */
export interface DispatchHost {
  readonly libs: LoadedLibraries;
  readonly replier: Replier;
  /** False once the session is destroyed: late replies must not reach libfuse. */
  readonly alive: boolean;
  /** Called when a request starts waiting for an asynchronous handler. */
  requestStarted(): void;
  /** Called when that request has been answered. */
  requestFinished(): void;
  /** Receives what FUSE_INIT negotiated. */
  connected(conn: NegotiatedConn): void;
  /** Receives the answer to a notifyRetrieve. */
  retrieveReply(cookie: Deno.PointerValue, bufv: Deno.PointerValue): void;
  /** Reports a handler failure (logged with its stack). */
  logHandlerError(op: string, error: unknown): void;
}

type Reply<T> = (req: RequestPointer, value: T) => void;

/**
 * Builds the JS implementations of the libfuse operations that `ops`
 * implements.
 *
 * @param ops the filesystem
 * @param host the owning mount
 * @returns the implementations, keyed by libfuse operation name
 */
export function buildDispatch(ops: Operations, host: DispatchHost): LowLevelImpls {
  const { replier } = host;

  /** Sends the error reply for a failed handler or reply. */
  function fail(op: string, req: RequestPointer, error: unknown): void {
    if (!host.alive) return;
    if (error instanceof FUSEError) {
      replier.err(req, error.errno);
    } else if (error instanceof UnsafeIntegerError) {
      replier.err(req, errno.EOVERFLOW);
    } else {
      host.logHandlerError(op, error);
      replier.err(req, errno.EIO);
    }
  }

  /**
   * Runs a handler and replies once, synchronously when the handler returned
   * a plain value, else when its promise settles.
   */
  function run<T>(
    op: string,
    req: RequestPointer,
    start: () => T | Promise<T>,
    reply: Reply<T>,
  ): void {
    let value: T | Promise<T>;
    try {
      value = start();
    } catch (error) {
      fail(op, req, error);
      return;
    }
    if (value instanceof Promise) {
      host.requestStarted();
      value.then(
        (v) => {
          if (!host.alive) return;
          try {
            reply(req, v);
          } catch (error) {
            fail(op, req, error);
          }
        },
        (error) => fail(op, req, error),
      ).finally(() => host.requestFinished());
      return;
    }
    try {
      reply(req, value);
    } catch (error) {
      fail(op, req, error);
    }
  }

  const ctx = (req: RequestPointer): RequestContext => decodeCtx(replier.ctxPointer(req));
  const ino = (v: number | bigint): number => toSafeNumber(v, "inode");
  const name = (p: Deno.PointerValue) => replier.name(p);
  const entry: Reply<EntryAttributes> = (req, attr) => replier.entry(req, attr);
  const attrReply: Reply<EntryAttributes> = (req, attr) => replier.attr(req, attr);
  const ok: Reply<void> = (req) => replier.err(req, 0);

  /** Guards argument decoding: an unrepresentable argument gets EOVERFLOW. */
  const guarded =
    <A extends unknown[]>(op: string, fn: (req: RequestPointer, ...args: A) => void) =>
    (req: RequestPointer, ...args: A): void => {
      try {
        fn(req, ...args);
      } catch (error) {
        fail(op, req, error);
      }
    };

  const impls: LowLevelImpls = {};
  const has = (h: HandlerName) => typeof ops[h] === "function";

  impls.init = (_userdata: Deno.PointerValue, conn: Deno.PointerValue) => {
    host.connected(connInfoNegotiate(conn, {
      exportSupport: ops.supportsDotLookup ?? false,
      writebackCache: ops.enableWritebackCache ?? false,
      posixAcl: ops.enableAcl ?? false,
      handleKillpriv: ops.handleKillpriv ?? false,
    }));
    try {
      ops.init?.();
    } catch (error) {
      host.logHandlerError("init", error);
    }
  };

  impls.retrieve_reply = (
    req: RequestPointer,
    cookie: Deno.PointerValue,
    _ino: bigint,
    _off: bigint,
    bufv: Deno.PointerValue,
  ) => {
    try {
      host.retrieveReply(cookie, bufv);
    } finally {
      replier.none(req);
    }
  };

  if (typeof ops.destroy === "function") {
    impls.destroy = () => {
      try {
        ops.destroy!();
      } catch (error) {
        host.logHandlerError("destroy", error);
      }
    };
  }

  if (has("lookup")) {
    impls.lookup = guarded("lookup", (req, parent: bigint, namePtr: Deno.PointerValue) => {
      const p = ino(parent), n = name(namePtr), c = ctx(req);
      run("lookup", req, () => ops.lookup!(p, n, c), (r, a) => replier.entry(r, a, true));
    });
  }
  if (has("forget")) {
    const forget = (op: string, req: RequestPointer, list: Array<[number, number]>) => {
      let value: void | Promise<void> = undefined;
      try {
        value = ops.forget!(list);
      } catch (error) {
        host.logHandlerError(op, error);
      }
      // forget takes no reply but must still be freed, after the handler ran.
      if (value instanceof Promise) {
        host.requestStarted();
        value.catch((error) => host.logHandlerError(op, error)).finally(() => {
          if (host.alive) replier.none(req);
          host.requestFinished();
        });
      } else {
        replier.none(req);
      }
    };
    impls.forget = (req: RequestPointer, i: bigint, nlookup: bigint) =>
      forget("forget", req, [[Number(i), Number(nlookup)]]);
    impls.forget_multi = (req: RequestPointer, count: number | bigint, data: Deno.PointerValue) =>
      forget("forget", req, decodeForgets(data, Number(count)));
  }
  if (has("getattr")) {
    impls.getattr = guarded("getattr", (req, i: bigint) => {
      const n = ino(i), c = ctx(req);
      run("getattr", req, () => ops.getattr!(n, c), attrReply);
    });
  }
  if (has("setattr")) {
    impls.setattr = guarded(
      "setattr",
      (req, i: bigint, attrPtr: Deno.PointerObject, toSet: number, fi: Deno.PointerValue) => {
        const n = ino(i), c = ctx(req);
        const attr = decodeStat(attrPtr);
        const fields = new SetattrFields({
          updateMode: (toSet & SET_ATTR.MODE) !== 0,
          updateUid: (toSet & SET_ATTR.UID) !== 0,
          updateGid: (toSet & SET_ATTR.GID) !== 0,
          updateSize: (toSet & SET_ATTR.SIZE) !== 0,
          updateAtime: (toSet & (SET_ATTR.ATIME | SET_ATTR.ATIME_NOW)) !== 0,
          updateMtime: (toSet & (SET_ATTR.MTIME | SET_ATTR.MTIME_NOW)) !== 0,
          updateCtime: (toSet & SET_ATTR.CTIME) !== 0,
          updateAtimeNow: (toSet & SET_ATTR.ATIME_NOW) !== 0,
          updateMtimeNow: (toSet & SET_ATTR.MTIME_NOW) !== 0,
        });
        if (toSet & (SET_ATTR.ATIME_NOW | SET_ATTR.MTIME_NOW)) {
          const now = replier.nowNs();
          if (toSet & SET_ATTR.ATIME_NOW) attr.stAtimeNs = now;
          if (toSet & SET_ATTR.MTIME_NOW) attr.stMtimeNs = now;
        }
        const fh = fi === null ? null : decodeFh(fi);
        run("setattr", req, () => ops.setattr!(n, attr, fields, fh, c), attrReply);
      },
    );
  }
  if (has("readlink")) {
    impls.readlink = guarded("readlink", (req, i: bigint) => {
      const n = ino(i), c = ctx(req);
      run("readlink", req, () => ops.readlink!(n, c), (r, t) => replier.readlink(r, t));
    });
  }
  if (has("mknod")) {
    impls.mknod = guarded(
      "mknod",
      (req, parent: bigint, namePtr: Deno.PointerValue, mode: number, rdev: bigint) => {
        const p = ino(parent), nm = name(namePtr), c = ctx(req);
        const dev = toSafeNumber(rdev, "rdev");
        run("mknod", req, () => ops.mknod!(p, nm, mode, dev, c), entry);
      },
    );
  }
  if (has("mkdir")) {
    impls.mkdir = guarded(
      "mkdir",
      (req, parent: bigint, namePtr: Deno.PointerValue, mode: number) => {
        const p = ino(parent), nm = name(namePtr), c = ctx(req);
        run("mkdir", req, () => ops.mkdir!(p, nm, mode, c), entry);
      },
    );
  }
  if (has("unlink")) {
    impls.unlink = guarded("unlink", (req, parent: bigint, namePtr: Deno.PointerValue) => {
      const p = ino(parent), nm = name(namePtr), c = ctx(req);
      run("unlink", req, () => ops.unlink!(p, nm, c), ok);
    });
  }
  if (has("rmdir")) {
    impls.rmdir = guarded("rmdir", (req, parent: bigint, namePtr: Deno.PointerValue) => {
      const p = ino(parent), nm = name(namePtr), c = ctx(req);
      run("rmdir", req, () => ops.rmdir!(p, nm, c), ok);
    });
  }
  if (has("symlink")) {
    impls.symlink = guarded(
      "symlink",
      (req, linkPtr: Deno.PointerValue, parent: bigint, namePtr: Deno.PointerValue) => {
        const target = name(linkPtr), p = ino(parent), nm = name(namePtr), c = ctx(req);
        run("symlink", req, () => ops.symlink!(p, nm, target, c), entry);
      },
    );
  }
  if (has("rename")) {
    impls.rename = guarded(
      "rename",
      (
        req,
        parent: bigint,
        namePtr: Deno.PointerValue,
        newParent: bigint,
        newNamePtr: Deno.PointerValue,
        flags: number,
      ) => {
        const p = ino(parent), nm = name(namePtr), np = ino(newParent), nn = name(newNamePtr);
        const c = ctx(req);
        run("rename", req, () => ops.rename!(p, nm, np, nn, flags, c), ok);
      },
    );
  }
  if (has("link")) {
    impls.link = guarded(
      "link",
      (req, i: bigint, newParent: bigint, namePtr: Deno.PointerValue) => {
        const n = ino(i), np = ino(newParent), nm = name(namePtr), c = ctx(req);
        run("link", req, () => ops.link!(n, np, nm, c), entry);
      },
    );
  }
  if (has("open")) {
    impls.open = guarded("open", (req, i: bigint, fi: Deno.PointerValue) => {
      const n = ino(i), c = ctx(req);
      const flags = decodeFileInfo(fi)?.flags ?? 0;
      run(
        "open",
        req,
        () => ops.open!(n, flags, c),
        (r, info: FileInfo) => replier.open(r, info, flags),
      );
    });
  }
  if (has("read")) {
    impls.read = guarded(
      "read",
      (req, _i: bigint, size: number | bigint, off: bigint, fi: Deno.PointerValue) => {
        const fh = decodeFh(fi), s = Number(size), o = toSafeNumber(off, "offset");
        run("read", req, () => ops.read!(fh, o, s), (r, data: Uint8Array) => {
          if (!(data instanceof Uint8Array)) {
            throw new InvalidReplyError(`expected a Uint8Array, got ${String(data)}`);
          }
          if (data.length > s) {
            throw new InvalidReplyError(
              `returned ${data.length} bytes, more than the ${s} requested`,
            );
          }
          replier.buf(r, data);
        });
      },
    );
  }
  if (has("write")) {
    impls.write = guarded(
      "write",
      (
        req,
        _i: bigint,
        bufPtr: Deno.PointerValue,
        size: number | bigint,
        off: bigint,
        fi: Deno.PointerValue,
      ) => {
        const fh = decodeFh(fi), s = Number(size), o = toSafeNumber(off, "offset");
        const data = new Uint8Array(s);
        if (bufPtr !== null && s > 0) Deno.UnsafePointerView.copyInto(bufPtr, data);
        run("write", req, () => ops.write!(fh, o, data), (r, count: number) => {
          if (!Number.isInteger(count) || count < 0 || count > s) {
            throw new InvalidReplyError(
              `must return a byte count from 0 to ${s}, got ${String(count)}`,
            );
          }
          replier.write(r, count);
        });
      },
    );
  }
  const fhOnly = (h: "flush" | "release" | "releasedir") =>
    guarded(h, (req, _i: bigint, fi: Deno.PointerValue) => {
      const fh = decodeFh(fi);
      run(h, req, () => ops[h]!(fh), ok);
    });
  if (has("flush")) impls.flush = fhOnly("flush");
  if (has("release")) impls.release = fhOnly("release");
  if (has("releasedir")) impls.releasedir = fhOnly("releasedir");
  const sync = (h: "fsync" | "fsyncdir") =>
    guarded(h, (req, _i: bigint, datasync: number, fi: Deno.PointerValue) => {
      const fh = decodeFh(fi);
      run(h, req, () => ops[h]!(fh, datasync !== 0), ok);
    });
  if (has("fsync")) impls.fsync = sync("fsync");
  if (has("fsyncdir")) impls.fsyncdir = sync("fsyncdir");
  if (has("opendir")) {
    impls.opendir = guarded("opendir", (req, i: bigint, fi: Deno.PointerValue) => {
      const n = ino(i), c = ctx(req);
      const flags = decodeFileInfo(fi)?.flags ?? 0;
      run(
        "opendir",
        req,
        () => ops.opendir!(n, c),
        (r, fh: number) => replier.opendir(r, fh, flags),
      );
    });
  }
  if (has("readdir")) {
    impls.readdirplus = guarded(
      "readdir",
      (req, _i: bigint, size: number | bigint, off: bigint, fi: Deno.PointerValue) => {
        const fh = decodeFh(fi), start = toSafeNumber(off, "readdir offset");
        const token = new ReaddirToken(replier, req, Number(size));
        run(
          "readdir",
          req,
          () => ops.readdir!(fh, start, token),
          (r) => replier.buf(r, token.finish()),
        );
      },
    );
  }
  if (has("statfs")) {
    impls.statfs = guarded("statfs", (req, _i: bigint) => {
      const c = ctx(req);
      run("statfs", req, () => ops.statfs!(c), (r, d) => replier.statfs(r, d));
    });
  }
  if (has("setxattr")) {
    impls.setxattr = guarded(
      "setxattr",
      (
        req,
        i: bigint,
        namePtr: Deno.PointerValue,
        valuePtr: Deno.PointerValue,
        size: number | bigint,
        flags: number,
      ) => {
        const n = ino(i), nm = name(namePtr), c = ctx(req);
        const value = new Uint8Array(Number(size));
        if (valuePtr !== null && value.length) Deno.UnsafePointerView.copyInto(valuePtr, value);
        run("setxattr", req, () => ops.setxattr!(n, nm, value, c, flags), ok);
      },
    );
  }
  if (has("getxattr")) {
    impls.getxattr = guarded(
      "getxattr",
      (req, i: bigint, namePtr: Deno.PointerValue, size: number | bigint) => {
        const n = ino(i), nm = name(namePtr), c = ctx(req), s = Number(size);
        run("getxattr", req, () => ops.getxattr!(n, nm, c), (r, v) => {
          replier.xattr(r, toBytes(v, "getxattr value"), s);
        });
      },
    );
  }
  if (has("listxattr")) {
    impls.listxattr = guarded("listxattr", (req, i: bigint, size: number | bigint) => {
      const n = ino(i), c = ctx(req), s = Number(size);
      run("listxattr", req, () => ops.listxattr!(n, c), (r, names) => {
        if (!Array.isArray(names)) {
          throw new InvalidReplyError(`expected an array of names, got ${String(names)}`);
        }
        const parts = names.map((x) => toBytes(x, "xattr name"));
        const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length + 1, 0));
        let at = 0;
        for (const p of parts) {
          if (p.includes(0)) throw new InvalidReplyError("an xattr name contains a NUL byte");
          out.set(p, at);
          at += p.length + 1;
        }
        replier.xattr(r, out, s);
      });
    });
  }
  if (has("removexattr")) {
    impls.removexattr = guarded("removexattr", (req, i: bigint, namePtr: Deno.PointerValue) => {
      const n = ino(i), nm = name(namePtr), c = ctx(req);
      run("removexattr", req, () => ops.removexattr!(n, nm, c), ok);
    });
  }
  if (has("access")) {
    impls.access = guarded("access", (req, i: bigint, mask: number) => {
      const n = ino(i), c = ctx(req);
      run("access", req, () => ops.access!(n, mask, c), (r, allowed: boolean) => {
        if (typeof allowed !== "boolean") {
          throw new InvalidReplyError(`expected a boolean, got ${String(allowed)}`);
        }
        replier.err(r, allowed ? 0 : errno.EACCES);
      });
    });
  }
  if (has("create")) {
    impls.create = guarded(
      "create",
      (req, parent: bigint, namePtr: Deno.PointerValue, mode: number, fi: Deno.PointerValue) => {
        const p = ino(parent), nm = name(namePtr), c = ctx(req);
        const flags = decodeFileInfo(fi)?.flags ?? 0;
        run("create", req, () => ops.create!(p, nm, mode, flags, c), (r, result) => {
          if (!Array.isArray(result) || result.length !== 2) {
            throw new InvalidReplyError(
              `expected [FileInfo, EntryAttributes], got ${String(result)}`,
            );
          }
          replier.create(r, result[0], result[1], flags);
        });
      },
    );
  }
  return impls;
}

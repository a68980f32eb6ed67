/**
 * From libfuse callbacks to `Operations` handlers and back: decodes each
 * request's arguments (copying them before the callback returns), runs the
 * handler, and sends exactly one reply when its promise settles.
 *
 * @module
 */

import {
  copyBytes,
  decodeFh,
  decodeFileInfo,
  decodeFlock,
  decodeForgets,
  decodeStat,
  EFBIG,
  InvalidReplyError,
  toBytes,
  toSafeNumber,
  UnsafeIntegerError,
  viewBytes,
} from "../ffi/codec.ts";
import type { LowLevelImpls } from "../ffi/lowlevel_ops.ts";
import type { Replier, RequestPointer } from "../ffi/reply.ts";
import { connInfoNegotiate, type NegotiatedConn } from "../ffi/conn.ts";
import type { LoadedLibraries } from "../ffi/library.ts";
import type { HandlerName, Operations } from "./operations.ts";
import { ReaddirToken } from "./readdir.ts";
import {
  type EntryAttributes,
  F_UNLCK,
  type FileInfo,
  type FileLock,
  FileLock as FileLockClass,
  type IoctlReply,
  LOCK_UN,
  SetattrFields,
} from "./types.ts";
import { Context } from "./context.ts";
import type { InterruptHub } from "../ffi/interrupt.ts";
import { PollHandle, type PollHost } from "./poll.ts";
import type { RequestStats } from "./stats.ts";
import type { RequestTracer } from "./trace.ts";
import { errno } from "../utils/errno.ts";
import { FUSEError, isReplyErrno } from "../utils/errors.ts";

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

const FUSE_IOCTL_UNRESTRICTED = 1 << 1;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** What the dispatcher needs from the mount that owns it. */
export interface DispatchHost extends PollHost {
  readonly libs: LoadedLibraries;
  readonly replier: Replier;
  readonly interrupts: InterruptHub;
  /**
   * Reserves the receive buffer of the request being processed (see
   * LowLevelSession.holdCurrentBuffer); null when none can be spared.
   */
  holdReceiveBuffer(): (() => void) | null;
  /** Receives each new poll handle (so unmount can free it). */
  pollHandleCreated(handle: PollHandle): void;
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
  /** Per-operation statistics. */
  readonly stats: RequestStats;
  /** Request tracing, when debug logging is on. */
  readonly tracer: RequestTracer | null;
  /** Reports a handler failure (logged with its stack). */
  logHandlerError(op: string, error: unknown): void;
  /** Reports a reply to `op` that libfuse could not deliver, with the errno it got. */
  logReplyRefused(op: string, err: number): void;
}

/** Sends the reply for a handler's value; returns libfuse's result (0 or -errno). */
type Reply<T> = (req: RequestPointer, value: T) => number;

/**
 * Whether the filesystem keeps POSIX record locks itself (then the kernel
 * forwards fcntl locks to it).
 *
 * @param ops the filesystem
 * @returns true when both getlk and setlk are implemented
 */
export function hasPosixLocks(ops: Operations): boolean {
  return typeof ops.getlk === "function" && typeof ops.setlk === "function";
}

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

  const { stats, tracer } = host;

  /** Sends the error reply for a failed handler or reply; returns the errno sent. */
  function fail(op: string, req: RequestPointer, error: unknown): number {
    let err: number;
    if (error instanceof FUSEError && isReplyErrno(error.errno)) {
      err = error.errno;
    } else if (error instanceof DOMException && error.name === "AbortError") {
      err = errno.EINTR;
    } else if (error instanceof UnsafeIntegerError) {
      err = error.errno;
    } else {
      host.logHandlerError(op, error);
      err = errno.EIO;
    }
    delivered(op, replier.err(req, err));
    return err;
  }

  /** Reports a reply that libfuse could not deliver (its caller may then wait until interrupted). */
  function delivered(op: string, rc: number): void {
    if (rc < 0 && rc !== -errno.ENOENT && host.alive) host.logReplyRefused(op, -rc);
  }

  /** Bookkeeping once a request is answered. */
  function done(op: string, req: RequestPointer, c: Context, startMs: number, err: number) {
    stats.record(op, startMs, err !== 0);
    if (tracer) tracer.replied(req, op, err, startMs);
    c.finish();
  }

  // Reading the clock costs a few hundred ns in Deno, as much as the rest of
  // a request's bookkeeping: time a sample (all when tracing).
  const clock = (op: string): number => (tracer ? performance.now() : stats.start(op));

  /** Sends the reply for `value`, or the error reply if that fails; exactly once. */
  function settle<T>(
    op: string,
    req: RequestPointer,
    c: Context,
    startMs: number,
    reply: Reply<T>,
    value: T,
  ) {
    let err = 0;
    try {
      delivered(op, reply(req, value));
    } catch (error) {
      err = fail(op, req, error);
    }
    done(op, req, c, startMs, err);
  }

  /**
   * Runs a handler and replies once, synchronously when the handler returned
   * a plain value, else when its promise settles.
   */
  function run<T>(
    op: string,
    req: RequestPointer,
    c: Context,
    start: () => T | Promise<T>,
    reply: Reply<T>,
  ): void {
    const startMs = clock(op);
    let value: T | Promise<T>;
    try {
      value = start();
    } catch (error) {
      done(op, req, c, startMs, fail(op, req, error));
      return;
    }
    if (!(value instanceof Promise)) return settle(op, req, c, startMs, reply, value);
    host.requestStarted();
    value.then(
      (v) => {
        if (host.alive) settle(op, req, c, startMs, reply, v);
      },
      (error) => {
        if (host.alive) done(op, req, c, startMs, fail(op, req, error));
      },
    ).finally(() => host.requestFinished());
  }

  const ctx = (req: RequestPointer) => new Context(req, replier, host.interrupts);
  const ino = (v: number | bigint): number => toSafeNumber(v, "inode");
  const num = (v: number | bigint, what: string, err?: number): number =>
    toSafeNumber(v, what, err);
  /** Where a write, fallocate or copy lands: EFBIG if it would end past 2^53 - 1. */
  const fileOffset = (off: bigint, length: number, what: string): number => {
    const o = toSafeNumber(off, what, EFBIG);
    if (o + length > Number.MAX_SAFE_INTEGER) throw new UnsafeIntegerError(what, EFBIG);
    return o;
  };
  const name = (p: Deno.PointerValue) => replier.name(p);
  const entry: Reply<EntryAttributes> = (req, attr) => replier.entry(req, attr);
  const attrReply: Reply<EntryAttributes> = (req, attr) => replier.attr(req, attr);
  const ok: Reply<void> = (req) => replier.err(req, 0);
  const count = (what: string, max: number): Reply<number> => (req, n) => {
    if (!Number.isInteger(n) || n < 0 || n > max) {
      throw new InvalidReplyError(`${what} must be an integer from 0 to ${max}, got ${String(n)}`);
    }
    return replier.write(req, n);
  };

  /** Guards argument decoding: an unrepresentable argument gets EOVERFLOW. */
  const guarded =
    <A extends unknown[]>(op: string, fn: (req: RequestPointer, ...args: A) => void) =>
    (req: RequestPointer, ...args: A): void => {
      try {
        fn(req, ...args);
      } catch (error) {
        const err = fail(op, req, error);
        tracer?.replied(req, op, err, performance.now());
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
      readdirplusAuto: ops.enableReaddirplusAuto ?? false,
    }));
    try {
      ops.init?.();
    } catch (error) {
      host.logHandlerError("init", error);
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

  if (has("lookup")) {
    impls.lookup = guarded("lookup", (req, parent: bigint, namePtr: Deno.PointerValue) => {
      const p = ino(parent), n = name(namePtr), c = ctx(req);
      run("lookup", req, c, () => ops.lookup!(p, n, c), (r, a) => replier.entry(r, a, true));
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
    impls.forget_multi = (req: RequestPointer, n: number | bigint, data: Deno.PointerValue) =>
      forget("forget", req, decodeForgets(data, Number(n)));
  }
  if (has("getattr")) {
    impls.getattr = guarded("getattr", (req, i: bigint) => {
      const n = ino(i), c = ctx(req);
      run("getattr", req, c, () => ops.getattr!(n, c), attrReply);
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
        run("setattr", req, c, () => ops.setattr!(n, attr, fields, fh, c), attrReply);
      },
    );
  }
  if (has("readlink")) {
    impls.readlink = guarded("readlink", (req, i: bigint) => {
      const n = ino(i), c = ctx(req);
      run("readlink", req, c, () => ops.readlink!(n, c), (r, t) => replier.readlink(r, t));
    });
  }
  if (has("mknod")) {
    impls.mknod = guarded(
      "mknod",
      (req, parent: bigint, namePtr: Deno.PointerValue, mode: number, rdev: bigint) => {
        const p = ino(parent), nm = name(namePtr), c = ctx(req), dev = num(rdev, "rdev");
        run("mknod", req, c, () => ops.mknod!(p, nm, mode, dev, c), entry);
      },
    );
  }
  if (has("mkdir")) {
    impls.mkdir = guarded(
      "mkdir",
      (req, parent: bigint, namePtr: Deno.PointerValue, mode: number) => {
        const p = ino(parent), nm = name(namePtr), c = ctx(req);
        run("mkdir", req, c, () => ops.mkdir!(p, nm, mode, c), entry);
      },
    );
  }
  const remove = (h: "unlink" | "rmdir") =>
    guarded(h, (req, parent: bigint, namePtr: Deno.PointerValue) => {
      const p = ino(parent), nm = name(namePtr), c = ctx(req);
      run(h, req, c, () => ops[h]!(p, nm, c), ok);
    });
  if (has("unlink")) impls.unlink = remove("unlink");
  if (has("rmdir")) impls.rmdir = remove("rmdir");
  if (has("symlink")) {
    impls.symlink = guarded(
      "symlink",
      (req, linkPtr: Deno.PointerValue, parent: bigint, namePtr: Deno.PointerValue) => {
        const target = name(linkPtr), p = ino(parent), nm = name(namePtr), c = ctx(req);
        run("symlink", req, c, () => ops.symlink!(p, nm, target, c), entry);
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
        run("rename", req, c, () => ops.rename!(p, nm, np, nn, flags, c), ok);
      },
    );
  }
  if (has("link")) {
    impls.link = guarded(
      "link",
      (req, i: bigint, newParent: bigint, namePtr: Deno.PointerValue) => {
        const n = ino(i), np = ino(newParent), nm = name(namePtr), c = ctx(req);
        run("link", req, c, () => ops.link!(n, np, nm, c), entry);
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
        c,
        () => ops.open!(n, flags, c),
        (r, info: FileInfo) => replier.open(r, info, flags),
      );
    });
  }
  if (has("read")) {
    impls.read = guarded(
      "read",
      (req, _i: bigint, size: number | bigint, off: bigint, fi: Deno.PointerValue) => {
        const fh = decodeFh(fi), s = Number(size), o = num(off, "offset"), c = ctx(req);
        run("read", req, c, () => ops.read!(fh, o, s, c), (r, data: Uint8Array) => {
          if (!(data instanceof Uint8Array)) {
            throw new InvalidReplyError(`expected a Uint8Array, got ${String(data)}`);
          }
          if (data.length > s) {
            throw new InvalidReplyError(
              `returned ${data.length} bytes, more than the ${s} requested`,
            );
          }
          return replier.buf(r, data);
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
        const fh = decodeFh(fi), s = Number(size), c = ctx(req);
        const o = fileOffset(off, s, "write offset");
        // Hand the data over as a view of the receive buffer, which stays
        // reserved until the handler's promise settles; copy only when too
        // many buffers are held already.
        const release = host.holdReceiveBuffer();
        const data = release ? viewBytes(bufPtr, s) : copyBytes(bufPtr, s);
        run("write", req, c, () => {
          let result: number | Promise<number>;
          try {
            result = ops.write!(fh, o, data, c);
          } catch (error) {
            release?.();
            throw error;
          }
          if (!(result instanceof Promise)) release?.();
          else if (release) result.finally(release).catch(() => {});
          return result;
        }, count("the byte count", s));
      },
    );
  }
  // The kernel leaves dropping a closing file's locks to the filesystem:
  // POSIX locks of the lock owner at FLUSH, flock locks at the last RELEASE.
  // Like libfuse's high-level API, do it here by calling setlk / flock.
  const posixLocks = hasPosixLocks(ops);
  if (has("flush") || posixLocks) {
    impls.flush = guarded("flush", (req, i: bigint, fi: Deno.PointerValue) => {
      const n = ino(i), info = decodeFileInfo(fi)!, c = ctx(req);
      run("flush", req, c, async () => {
        if (posixLocks) {
          const unlock = new FileLockClass({ type: F_UNLCK });
          await ops.setlk!(n, info.fh, info.lockOwner, unlock, false, c);
        }
        await ops.flush?.(info.fh, c);
      }, ok);
    });
  }
  if (has("release") || has("flock")) {
    const flockReleaseBit = 1 << replier.bits.flock_release;
    impls.release = guarded("release", (req, i: bigint, fi: Deno.PointerValue) => {
      const n = ino(i), info = decodeFileInfo(fi)!, c = ctx(req);
      const unlock = has("flock") && (info.bits & flockReleaseBit) !== 0;
      if (!unlock) return run("release", req, c, () => ops.release?.(info.fh, c), ok);
      run("release", req, c, async () => {
        await ops.flock!(n, info.fh, info.lockOwner, LOCK_UN, c);
        await ops.release?.(info.fh, c);
      }, ok);
    });
  }
  if (has("releasedir")) {
    impls.releasedir = guarded("releasedir", (req, _i: bigint, fi: Deno.PointerValue) => {
      const fh = decodeFh(fi), c = ctx(req);
      run("releasedir", req, c, () => ops.releasedir!(fh, c), ok);
    });
  }
  const sync = (h: "fsync" | "fsyncdir") =>
    guarded(h, (req, _i: bigint, datasync: number, fi: Deno.PointerValue) => {
      const fh = decodeFh(fi), c = ctx(req);
      run(h, req, c, () => ops[h]!(fh, datasync !== 0, c), ok);
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
        c,
        () => ops.opendir!(n, c),
        (r, fh: number) => replier.opendir(r, fh, flags),
      );
    });
  }
  if (has("readdir")) {
    const readdir = (plus: boolean) =>
      guarded(
        "readdir",
        (req, _i: bigint, size: number | bigint, off: bigint, fi: Deno.PointerValue) => {
          // Past 2^53 it cannot be a cookie a handler gave: the end, as in
          // the kernel's tmpfs and ext4 (not EOVERFLOW).
          if (off > MAX_SAFE) return delivered("readdir", replier.buf(req, new Uint8Array(0)));
          const fh = decodeFh(fi), start = Number(off), c = ctx(req);
          const token = new ReaddirToken(replier, req, Number(size), plus);
          run(
            "readdir",
            req,
            c,
            () => ops.readdir!(fh, start, token, c),
            (r) => replier.buf(r, token.finish()),
          );
        },
      );
    impls.readdirplus = readdir(true);
    // Without a readdir slot libfuse leaves READDIRPLUS_AUTO off, and the
    // kernel sends READDIRPLUS only.
    if (ops.enableReaddirplusAuto) impls.readdir = readdir(false);
  }
  if (has("statfs")) {
    impls.statfs = guarded("statfs", (req, _i: bigint) => {
      const c = ctx(req);
      run("statfs", req, c, () => ops.statfs!(c), (r, d) => replier.statfs(r, d));
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
        const value = copyBytes(valuePtr, Number(size));
        run("setxattr", req, c, () => ops.setxattr!(n, nm, value, c, flags), ok);
      },
    );
  }
  if (has("getxattr")) {
    impls.getxattr = guarded(
      "getxattr",
      (req, i: bigint, namePtr: Deno.PointerValue, size: number | bigint) => {
        const n = ino(i), nm = name(namePtr), c = ctx(req), s = Number(size);
        run("getxattr", req, c, () => ops.getxattr!(n, nm, c), (r, v) => {
          return replier.xattr(r, toBytes(v, "getxattr value"), s);
        });
      },
    );
  }
  if (has("listxattr")) {
    impls.listxattr = guarded("listxattr", (req, i: bigint, size: number | bigint) => {
      const n = ino(i), c = ctx(req), s = Number(size);
      run("listxattr", req, c, () => ops.listxattr!(n, c), (r, names) => {
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
        return replier.xattr(r, out, s);
      });
    });
  }
  if (has("removexattr")) {
    impls.removexattr = guarded(
      "removexattr",
      (req, i: bigint, namePtr: Deno.PointerValue) => {
        const n = ino(i), nm = name(namePtr), c = ctx(req);
        run("removexattr", req, c, () => ops.removexattr!(n, nm, c), ok);
      },
    );
  }
  if (has("access")) {
    impls.access = guarded("access", (req, i: bigint, mask: number) => {
      const n = ino(i), c = ctx(req);
      run("access", req, c, () => ops.access!(n, mask, c), (r, allowed: boolean) => {
        if (typeof allowed !== "boolean") {
          throw new InvalidReplyError(`expected a boolean, got ${String(allowed)}`);
        }
        return replier.err(r, allowed ? 0 : errno.EACCES);
      });
    });
  }
  /** create's and tmpfile's reply: the new entry and its open file. */
  const created = (flags: number): Reply<[FileInfo, EntryAttributes]> => (r, result) => {
    if (!Array.isArray(result) || result.length !== 2) {
      throw new InvalidReplyError(`expected [FileInfo, EntryAttributes], got ${String(result)}`);
    }
    return replier.create(r, result[0], result[1], flags);
  };
  if (has("create")) {
    impls.create = guarded(
      "create",
      (req, parent: bigint, namePtr: Deno.PointerValue, mode: number, fi: Deno.PointerValue) => {
        const p = ino(parent), nm = name(namePtr), c = ctx(req);
        const flags = decodeFileInfo(fi)?.flags ?? 0;
        run("create", req, c, () => ops.create!(p, nm, mode, flags, c), created(flags));
      },
    );
  }

  // ---- Beyond pyfuse3 ----

  // Registered for every release; buildLowLevelOps leaves it out before 3.17.
  if (has("tmpfile")) {
    impls.tmpfile = guarded(
      "tmpfile",
      (req, parent: bigint, mode: number, fi: Deno.PointerValue) => {
        const p = ino(parent), c = ctx(req);
        const flags = decodeFileInfo(fi)?.flags ?? 0;
        run("tmpfile", req, c, () => ops.tmpfile!(p, mode, flags, c), created(flags));
      },
    );
  }

  if (posixLocks) {
    impls.getlk = guarded(
      "getlk",
      (req, i: bigint, fi: Deno.PointerValue, lockPtr: Deno.PointerValue) => {
        const n = ino(i), info = decodeFileInfo(fi)!, lock = decodeFlock(lockPtr), c = ctx(req);
        run(
          "getlk",
          req,
          c,
          () => ops.getlk!(n, info.fh, info.lockOwner, lock, c),
          (r, l: FileLock) => replier.lock(r, l),
        );
      },
    );
    impls.setlk = guarded(
      "setlk",
      (req, i: bigint, fi: Deno.PointerValue, lockPtr: Deno.PointerValue, sleep: number) => {
        const n = ino(i), info = decodeFileInfo(fi)!, lock = decodeFlock(lockPtr), c = ctx(req);
        run(
          "setlk",
          req,
          c,
          () => ops.setlk!(n, info.fh, info.lockOwner, lock, sleep !== 0, c),
          ok,
        );
      },
    );
  }
  if (has("flock")) {
    impls.flock = guarded("flock", (req, i: bigint, fi: Deno.PointerValue, op: number) => {
      const n = ino(i), info = decodeFileInfo(fi)!, c = ctx(req);
      run("flock", req, c, () => ops.flock!(n, info.fh, info.lockOwner, op, c), ok);
    });
  }
  if (has("fallocate")) {
    impls.fallocate = guarded(
      "fallocate",
      (req, _i: bigint, mode: number, off: bigint, len: bigint, fi: Deno.PointerValue) => {
        const fh = decodeFh(fi), l = num(len, "length", EFBIG), c = ctx(req);
        const o = fileOffset(off, l, "fallocate offset");
        run("fallocate", req, c, () => ops.fallocate!(fh, mode, o, l, c), ok);
      },
    );
  }
  if (has("lseek")) {
    impls.lseek = guarded(
      "lseek",
      (req, _i: bigint, off: bigint, whence: number, fi: Deno.PointerValue) => {
        const fh = decodeFh(fi), o = num(off, "offset"), c = ctx(req);
        run("lseek", req, c, () => ops.lseek!(fh, o, whence, c), (r, at: number) => {
          if (!Number.isSafeInteger(at) || at < 0) {
            throw new InvalidReplyError(`expected an offset >= 0, got ${String(at)}`);
          }
          return replier.lseek(r, at);
        });
      },
    );
  }
  if (has("copyFileRange")) {
    impls.copy_file_range = guarded(
      "copyFileRange",
      (
        req,
        _in: bigint,
        offIn: bigint,
        fiIn: Deno.PointerValue,
        _out: bigint,
        offOut: bigint,
        fiOut: Deno.PointerValue,
        len: number | bigint,
        flags: number,
      ) => {
        const fhIn = decodeFh(fiIn), fhOut = decodeFh(fiOut), c = ctx(req);
        const oi = num(offIn, "offset"), l = num(len, "length");
        const oo = fileOffset(offOut, l, "copy_file_range output offset");
        run(
          "copyFileRange",
          req,
          c,
          () => ops.copyFileRange!(fhIn, oi, fhOut, oo, l, flags, c),
          count("the byte count", l),
        );
      },
    );
  }
  if (has("ioctl")) {
    impls.ioctl = guarded(
      "ioctl",
      (
        req,
        _i: bigint,
        cmd: number,
        _arg: Deno.PointerValue,
        fi: Deno.PointerValue,
        flags: number,
        inBuf: Deno.PointerValue,
        inSize: number | bigint,
        outSize: number | bigint,
      ) => {
        // Unrestricted ioctls need the retry protocol, which only CUSE drivers use.
        if (flags & FUSE_IOCTL_UNRESTRICTED) throw new FUSEError(errno.ENOSYS);
        const fh = decodeFh(fi), input = copyBytes(inBuf, Number(inSize)), c = ctx(req);
        const max = Number(outSize);
        run("ioctl", req, c, () => ops.ioctl!(fh, cmd >>> 0, input, max, flags, c), (r, v) => {
          const out: IoctlReply = v instanceof Uint8Array ? { data: v } : v;
          if (out === null || typeof out !== "object") {
            throw new InvalidReplyError(`expected { result, data } or bytes, got ${String(v)}`);
          }
          const data = out.data ?? new Uint8Array(0);
          if (data.length > max) {
            throw new InvalidReplyError(
              `returned ${data.length} bytes, more than the ${max} allowed`,
            );
          }
          return replier.ioctl(r, out.result ?? 0, data);
        });
      },
    );
  }
  if (has("poll")) {
    impls.poll = guarded(
      "poll",
      (req, _i: bigint, fi: Deno.PointerValue, ph: Deno.PointerValue) => {
        const info = decodeFileInfo(fi)!, c = ctx(req);
        const handle = ph === null ? null : new PollHandle(ph, host);
        if (handle) host.pollHandleCreated(handle);
        run(
          "poll",
          req,
          c,
          () => ops.poll!(info.fh, handle, info.pollEvents, c),
          (r, revents: number) => {
            if (!Number.isInteger(revents) || revents < 0) {
              throw new InvalidReplyError(`expected an event mask, got ${String(revents)}`);
            }
            return replier.poll(r, revents);
          },
        );
      },
    );
  }
  if (has("bmap")) {
    impls.bmap = guarded(
      "bmap",
      (req, i: bigint, blocksize: number | bigint, idx: bigint) => {
        const n = ino(i), b = Number(blocksize), x = num(idx, "block index"), c = ctx(req);
        run("bmap", req, c, () => ops.bmap!(n, b, x, c), (r, block: number) => {
          if (!Number.isSafeInteger(block) || block < 0) {
            throw new InvalidReplyError(`expected a block number, got ${String(block)}`);
          }
          return replier.bmap(r, block);
        });
      },
    );
  }
  return tracer ? tracer.wrap(impls) : impls;
}

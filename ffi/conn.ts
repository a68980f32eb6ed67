/**
 * FUSE_INIT negotiation: what denofuse asks of the kernel in
 * `struct fuse_conn_info`.
 *
 * @module
 */

import { LAYOUT } from "./layout.ts";
import { loadedLibfuseVersion } from "./library.ts";

/** `FUSE_CAP_*` bits of `fuse_conn_info.capable` / `want` (fuse_common.h). */
export const FUSE_CAP = {
  ASYNC_READ: 1 << 0,
  POSIX_LOCKS: 1 << 1,
  ATOMIC_O_TRUNC: 1 << 3,
  EXPORT_SUPPORT: 1 << 4,
  DONT_MASK: 1 << 6,
  SPLICE_WRITE: 1 << 7,
  SPLICE_MOVE: 1 << 8,
  SPLICE_READ: 1 << 9,
  FLOCK_LOCKS: 1 << 10,
  IOCTL_DIR: 1 << 11,
  AUTO_INVAL_DATA: 1 << 12,
  READDIRPLUS: 1 << 13,
  READDIRPLUS_AUTO: 1 << 14,
  ASYNC_DIO: 1 << 15,
  WRITEBACK_CACHE: 1 << 16,
  NO_OPEN_SUPPORT: 1 << 17,
  PARALLEL_DIROPS: 1 << 18,
  POSIX_ACL: 1 << 19,
  HANDLE_KILLPRIV: 1 << 20,
  /**
   * libfuse 3.17+ (kernel FUSE_HANDLE_KILLPRIV_V2, Linux 5.11+): the
   * filesystem clears set-id bits where the kernel's kill flags say so.
   */
  HANDLE_KILLPRIV_V2: 1 << 21,
  CACHE_SYMLINKS: 1 << 23,
  NO_OPENDIR_SUPPORT: 1 << 24,
  EXPLICIT_INVAL_DATA: 1 << 25,
  /** libfuse 3.17+ (kernel FUSE_PASSTHROUGH, Linux 6.9+): backing files for open files. */
  PASSTHROUGH: 1 << 29,
  /**
   * libfuse 3.18+ built with liburing (kernel FUSE over io_uring): requests on
   * libfuse's ring threads. Never wanted: see connInfoNegotiate.
   */
  OVER_IO_URING: 2 ** 31,
} as const;

/** The optional capabilities a filesystem can ask for. */
export interface Negotiation {
  /** FUSE_CAP_EXPORT_SUPPORT: the filesystem answers lookups of "." and "..". */
  exportSupport: boolean;
  /** FUSE_CAP_WRITEBACK_CACHE. */
  writebackCache: boolean;
  /** FUSE_CAP_POSIX_ACL. */
  posixAcl: boolean;
  /** FUSE_CAP_HANDLE_KILLPRIV: the filesystem clears set-id bits on write/truncate itself. */
  handleKillpriv: boolean;
  /**
   * FUSE_CAP_HANDLE_KILLPRIV_V2 (libfuse 3.17+): the filesystem clears
   * set-id bits as the kernel's kill flags say. Not together with
   * `passthrough`, whose writes never reach the filesystem.
   */
  handleKillprivV2?: boolean;
  /** FUSE_CAP_READDIRPLUS_AUTO (needs both readdir slots registered). */
  readdirplusAuto: boolean;
  /**
   * FUSE_CAP_PASSTHROUGH (libfuse 3.17+). The kernel refuses it together
   * with the writeback cache, so asking for it drops `writebackCache`.
   */
  passthrough?: boolean;
  /**
   * Seconds after which the kernel aborts the connection if a request is
   * still unanswered (`fuse_conn_info.request_timeout`, libfuse 3.18+ and
   * Linux 6.14+; ignored before). 0 or absent: none.
   */
  requestTimeoutS?: number;
}

/** Largest write request: 1 MiB, which libfuse 3.10+ turns into max_pages 256. */
export const MAX_WRITE = 1 << 20;

/** What was agreed, for diagnostics and tests. */
export interface NegotiatedConn {
  /** FUSE protocol major version (7). */
  protoMajor: number;
  /** FUSE protocol minor version the kernel speaks. */
  protoMinor: number;
  /** `FUSE_CAP_*` bits the kernel and libfuse offer. */
  capable: number;
  /** `FUSE_CAP_*` bits in use. */
  want: number;
  /** Largest write request in bytes. */
  maxWrite: number;
  /** Largest read request in bytes (0: no limit set). */
  maxRead: number;
  /** Largest readahead in bytes. */
  maxReadahead: number;
  /**
   * Kernel passthrough (FUSE_CAP_PASSTHROUGH) is on: open files given a
   * `FileInfo.backingFd` are read and written by the kernel. It turns off
   * later if the kernel refuses to register a backing file for lack of
   * privilege (CAP_SYS_ADMIN), and {@link passthroughFallback} says so.
   */
  passthrough: boolean;
  /**
   * Why kernel passthrough is off although the filesystem asked for it
   * (e.g. "libfuse 3.14 has no kernel passthrough (it needs 3.17)"); ""
   * when it is on or was not asked for. Open files then work without it:
   * their reads and writes reach the handlers.
   */
  passthroughFallback: string;
  /**
   * FUSE_HANDLE_KILLPRIV_V2 is in force: the kernel no longer clears
   * set-id bits on write, truncate, open(O_TRUNC) and chown, and no longer
   * asks for `security.capability` before every write, but sends kill
   * flags (`RequestContext.killSuidgid`). False where the filesystem did
   * not ask, libfuse is older than 3.17 or the kernel than 5.11, or kernel
   * passthrough is on.
   */
  handleKillprivV2: boolean;
  /**
   * The kernel's request timeout asked for, in seconds (0: none; only with
   * libfuse 3.18+, which passes it on when the kernel offers it).
   */
  requestTimeout: number;
}

/**
 * Adjusts what the filesystem wants in the `fuse_conn_info` libfuse passes to
 * the init callback. libfuse has already set its defaults (async read,
 * readdirplus when implemented, ...); we add what the filesystem asked for,
 * clear splice (our buffers are plain memory) and ask for nanosecond
 * timestamps.
 *
 * libfuse 3.17 keeps the capabilities in the 64-bit `capable_ext` and
 * `want_ext`; `capable` and `want` are their low 32 bits, kept for old
 * binaries. After init() it reconciles them: a `want` that changed while
 * `want_ext` did not is folded into `want_ext`, and a session where both
 * changed and disagree fails FUSE_INIT ("both 'want' and 'want_ext' are
 * set"). So on 3.17+ we start from `want_ext` (the authority; 3.17.0's `want`
 * was not filled in before init()) and write both, `want` being exactly the
 * low half of `want_ext`: they never disagree, and libfuse has nothing to
 * convert. Before 3.17 those bytes are reserved and only `want` is written.
 *
 * @param conn the `struct fuse_conn_info *`
 * @param request what the filesystem asks for
 * @param version the loaded libfuse's `fuse_version()` (default: the loaded library's)
 * @returns the resulting connection parameters
 */
export function connInfoNegotiate(
  conn: Deno.PointerValue,
  request: Negotiation,
  version: number = loadedLibfuseVersion(),
): NegotiatedConn {
  const F = LAYOUT.fuse_conn_info.fields;
  const view = new DataView(
    Deno.UnsafePointerView.getArrayBuffer(conn!, LAYOUT.fuse_conn_info.size),
  );
  const get = (f: keyof typeof F) => view.getUint32(F[f].offset, true);
  const ext = version >= 317;
  const capable = ext ? view.getBigUint64(F.capable_ext.offset, true) : BigInt(get("capable"));
  let want = ext ? view.getBigUint64(F.want_ext.offset, true) : BigInt(get("want"));
  const ask = (cap: number, on: boolean) => {
    const bit = BigInt(cap);
    if (on && (capable & bit)) want |= bit;
    else if (!on) want &= ~bit;
  };
  const passthrough = passthroughVerdict(request.passthrough === true, version, capable);
  ask(FUSE_CAP.PASSTHROUGH, passthrough.on);
  if (passthrough.on) {
    // Backing files may not live on a stacked filesystem (overlayfs, another
    // FUSE passthrough; the kernel refuses those with ELOOP and the open goes
    // without), so that this filesystem can itself be stacked under one;
    // libfuse's default, written out (the kernel sends max_stack_depth 1).
    view.setUint32(F.max_backing_stack_depth.offset, 0, true);
  }
  ask(FUSE_CAP.EXPORT_SUPPORT, request.exportSupport);
  // The kernel turns passthrough off when the writeback cache is on too.
  ask(FUSE_CAP.WRITEBACK_CACHE, request.writebackCache && !passthrough.on);
  ask(FUSE_CAP.POSIX_ACL, request.posixAcl);
  // libfuse asks for HANDLE_KILLPRIV by default, which silently makes every
  // filesystem responsible for clearing set-id bits on write; unless it says
  // it does, leave that to the kernel (it then sends a setattr of the mode).
  ask(FUSE_CAP.HANDLE_KILLPRIV, request.handleKillpriv);
  // With V2 the kernel leaves clearing set-id bits on write to the server,
  // but a write served by kernel passthrough never reaches it (and the
  // backing write runs with the server's CAP_FSETID): no V2 with passthrough.
  ask(FUSE_CAP.HANDLE_KILLPRIV_V2, request.handleKillprivV2 === true && !passthrough.on);
  ask(FUSE_CAP.READDIRPLUS_AUTO, request.readdirplusAuto);
  // Requests are read into and replies sent from JS-visible memory: no splicing
  // (with a writeBuf-style splice path, 1 MiB writes used no less CPU; bench/README.md).
  ask(FUSE_CAP.SPLICE_READ | FUSE_CAP.SPLICE_WRITE | FUSE_CAP.SPLICE_MOVE, false);
  // libfuse 3.18 wants FUSE over io_uring by default where it was built with
  // liburing and the kernel offers it (-o io_uring, FUSE_URING_ENABLE=1); its
  // ring threads would then call handlers while holding the ring's lock, which
  // the JS thread's reply needs: the first request hangs (bench/README.md,
  // "FUSE over io_uring"). Requests keep coming through /dev/fuse.
  want &= ~BigInt(FUSE_CAP.OVER_IO_URING);
  const low = Number(want & 0xffffffffn);
  if (ext) view.setBigUint64(F.want_ext.offset, want, true);
  view.setUint32(F.want.offset, low, true);
  if (get("max_write") > MAX_WRITE) view.setUint32(F.max_write.offset, MAX_WRITE, true);
  view.setUint32(F.time_gran.offset, 1, true);
  const requestTimeout = version >= 318 ? Math.min(request.requestTimeoutS ?? 0, 0xffff) : 0;
  if (requestTimeout > 0) view.setUint16(F.request_timeout.offset, requestTimeout, true);
  return {
    protoMajor: get("proto_major"),
    protoMinor: get("proto_minor"),
    capable: Number(capable & 0xffffffffn),
    want: low,
    maxWrite: get("max_write"),
    maxRead: get("max_read"),
    maxReadahead: get("max_readahead"),
    passthrough: passthrough.on,
    passthroughFallback: passthrough.fallback,
    handleKillprivV2: (want & BigInt(FUSE_CAP.HANDLE_KILLPRIV_V2)) !== 0n,
    requestTimeout,
  };
}

/**
 * Whether kernel passthrough can be negotiated, or why not.
 *
 * @param asked the filesystem enabled it
 * @param version the loaded libfuse's `fuse_version()`
 * @param capable what the kernel and libfuse offer (`capable_ext` on 3.17+)
 * @returns `on`, or the `fallback` reason ("" when not asked for)
 */
function passthroughVerdict(
  asked: boolean,
  version: number,
  capable: bigint,
): { on: boolean; fallback: string } {
  if (!asked) return { on: false, fallback: "" };
  if (version < 317) {
    const release = `${Math.floor(version / 100)}.${version % 100}`;
    return { on: false, fallback: `libfuse ${release} has no kernel passthrough (it needs 3.17)` };
  }
  if ((capable & BigInt(FUSE_CAP.PASSTHROUGH)) === 0n) {
    return {
      on: false,
      fallback: "the kernel does not offer FUSE_PASSTHROUGH " +
        "(it needs Linux 6.9+ built with CONFIG_FUSE_PASSTHROUGH)",
    };
  }
  return { on: true, fallback: "" };
}

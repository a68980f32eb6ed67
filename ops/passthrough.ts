/**
 * Kernel passthrough's bookkeeping for one mount: which backing id serves
 * which inode, and which open files use it, so that every id is dropped
 * exactly once — at the release of the last open file using it, when the
 * open reply carrying it never reached the kernel, or at the mount's end.
 *
 * The kernel allows one backing file per inode at a time (a second one
 * fails the open with EIO), so opens of an inode that is already open in
 * passthrough mode share its id rather than register their own descriptor.
 *
 * @module
 */

import { InvalidReplyError } from "../ffi/codec.ts";
import type { BackingCalls } from "../ffi/passthrough.ts";
import type { RequestPointer } from "../ffi/reply.ts";
import type { FileInfo, Inode } from "../core/types.ts";
import { errnoName } from "../core/errno.ts";

/** Where passthrough events are logged (the debug log), by request. */
export type PassthroughTrace = (req: RequestPointer | null, text: string) => void;

const EPERM = 1;
const FD_MAX = 0x7fff_ffff;

/** One registered backing id and the open files that use it. */
interface Backing {
  readonly id: number;
  opens: number;
}

/** The backing ids of one mount. */
export class KernelPassthrough {
  readonly #calls: BackingCalls;
  readonly #trace: PassthroughTrace | null;
  readonly #turnedOff: (reason: string) => void;
  readonly #byInode = new Map<Inode, Backing>();
  /** Passthrough opens not yet released, by `inode/fh`: release names no backing id. */
  readonly #opens = new Map<string, number>();
  #on = false;

  /**
   * @param calls the ABI calls
   * @param trace the debug log, or null
   * @param turnedOff called once if the kernel refuses passthrough for the whole mount
   */
  constructor(
    calls: BackingCalls,
    trace: PassthroughTrace | null,
    turnedOff: (reason: string) => void,
  ) {
    this.#calls = calls;
    this.#trace = trace;
    this.#turnedOff = turnedOff;
  }

  /**
   * Takes what FUSE_INIT negotiated.
   *
   * @param on FUSE_CAP_PASSTHROUGH is on
   * @param fallback why not, when it is off
   */
  connected(on: boolean, fallback: string): void {
    this.#on = on;
    this.#trace?.(
      null,
      on
        ? "kernel passthrough on: open files given a backingFd bypass read and write"
        : `kernel passthrough off: ${fallback}; reads and writes reach the handlers`,
    );
  }

  /** Whether open replies currently attach backing files. */
  get active(): boolean {
    return this.#on;
  }

  /** Backing ids registered and not yet dropped. */
  get registered(): number {
    return this.#byInode.size;
  }

  /**
   * Sends an open, create or tmpfile reply: registers `info.backingFd` (or
   * shares the inode's id) first, and drops that again if the reply did not
   * reach the kernel, which then sends no release for it.
   *
   * @param req the request
   * @param inode the opened inode
   * @param info what the handler returned
   * @param send sends the reply with a backing id (0: none); returns libfuse's result
   * @returns what `send` returned
   * @throws {InvalidReplyError} for a `backingFd` that is not a descriptor number
   */
  reply(
    req: RequestPointer,
    inode: Inode,
    info: FileInfo,
    send: (backingId: number) => number,
  ): number {
    const fd = info?.backingFd;
    if (!this.#on || fd === undefined || !Number.isSafeInteger(inode) || inode < 1) return send(0);
    if (!Number.isInteger(fd) || fd < 0 || fd > FD_MAX) {
      throw new InvalidReplyError(`backingFd must be a file descriptor number, got ${String(fd)}`);
    }
    const id = this.#acquire(req, inode, fd);
    if (id === 0) return send(0);
    const key = `${inode}/${info.fh}`;
    this.#opens.set(key, (this.#opens.get(key) ?? 0) + 1);
    let rc: number;
    try {
      rc = send(id);
    } catch (error) {
      this.#forget(null, inode, key);
      throw error;
    }
    if (rc < 0) this.#forget(null, inode, key);
    return rc;
  }

  /**
   * Accounts for a RELEASE: the last open file of an inode drops its id.
   *
   * @param req the release request (still unanswered)
   * @param inode its inode
   * @param fh its file handle
   */
  release(req: RequestPointer, inode: Inode, fh: number): void {
    const key = `${inode}/${fh}`;
    if (this.#opens.has(key)) this.#forget(req, inode, key);
  }

  /** Drops every id still registered: the mount ends (files may still be open). */
  closeAll(): void {
    for (const [inode, backing] of this.#byInode) this.#close(null, inode, backing.id);
    this.#byInode.clear();
    this.#opens.clear();
  }

  /** The inode's backing id, registering `fd` for it if it has none; 0 if that failed. */
  #acquire(req: RequestPointer, inode: Inode, fd: number): number {
    const shared = this.#byInode.get(inode);
    if (shared) {
      shared.opens++;
      this.#trace?.(
        req,
        `shares backing id ${shared.id} of inode ${inode} (${shared.opens} opens)`,
      );
      return shared.id;
    }
    const result = this.#calls.open(req, fd);
    if (result.id > 0) {
      this.#byInode.set(inode, { id: result.id, opens: 1 });
      this.#trace?.(req, `backing id ${result.id} for inode ${inode} from fd ${fd}`);
      return result.id;
    }
    const why = "errno" in result ? `${errnoName(result.errno)}: ${result.message}` : "";
    this.#trace?.(
      req,
      `no backing file for inode ${inode} (${why}): reads and writes reach the handlers`,
    );
    if ("errno" in result && result.errno === EPERM) {
      // Every later registration would fail the same way: the server lacks
      // CAP_SYS_ADMIN, or the kernel turned passthrough off.
      this.#on = false;
      const reason = `the kernel refused to register a backing file (${why}); ` +
        "kernel passthrough needs CAP_SYS_ADMIN";
      this.#turnedOff(reason);
      this.#trace?.(req, `kernel passthrough off from now on: ${reason}`);
    }
    return 0;
  }

  /** Ends one passthrough open of `inode`; the inode's last one drops its id. */
  #forget(req: RequestPointer | null, inode: Inode, key: string): void {
    const n = this.#opens.get(key) ?? 0;
    if (n <= 1) this.#opens.delete(key);
    else this.#opens.set(key, n - 1);
    const backing = this.#byInode.get(inode);
    if (!backing || --backing.opens > 0) return;
    this.#byInode.delete(inode);
    this.#close(req, inode, backing.id);
  }

  #close(req: RequestPointer | null, inode: Inode, id: number): void {
    const err = this.#calls.close(req, id);
    this.#trace?.(
      req,
      err === 0
        ? `closed backing id ${id} of inode ${inode}`
        : `closing backing id ${id} of inode ${inode} failed (${errnoName(err)})`,
    );
  }
}

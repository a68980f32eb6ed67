/**
 * A dispatcher host without a mount: replies are recorded instead of
 * written to `/dev/fuse`, so the dispatch rules (exactly one reply, error
 * mapping, lock release at close) can be tested byte by byte, without
 * libfuse or the kernel. C arguments are made from JS memory.
 */

import { copyBytes, EntryParamBuffer } from "../../ffi/codec.ts";
import type { NegotiatedConn } from "../../ffi/conn.ts";
import type { RequestMemory } from "../../ffi/receive_buffer.ts";
import { fileInfoBits, LAYOUT } from "../../ffi/layout.ts";
import type { ReplySink, RequestPointer } from "../../ffi/reply.ts";
import { encodeStatx } from "../../ffi/statx.ts";
import type { DeadlineWatch } from "../../ops/deadlines.ts";
import type { DispatchHost } from "../../ops/host.ts";
import { RequestStats } from "../../ops/stats.ts";

/** One recorded reply: the ReplySink method and its arguments after `req`. */
export interface SentReply {
  req: RequestPointer;
  kind: string;
  args: unknown[];
}

const REPLY_METHODS = [
  "err",
  "none",
  "entry",
  "create",
  "attr",
  "readlink",
  "open",
  "opendir",
  "write",
  "buf",
  "statfs",
  "lock",
  "lseek",
  "bmap",
  "ioctl",
  "poll",
  "xattr",
  "statx",
] as const;

/** A host whose replies land in `sent` and whose logs land in `logs`. */
export class FakeHost implements DispatchHost {
  readonly sent: SentReply[] = [];
  readonly logs: string[] = [];
  readonly stats = new RequestStats();
  readonly tracer = null;
  alive = true;
  inflight = 0;
  /** What every reply call returns (0, or e.g. -22 to act as a refused reply). */
  replyResult = 0;
  readonly interrupts = {
    signalFor: () => this.abort.signal,
    done: () => {},
    abort: (_req: RequestPointer, reason: unknown) => this.abort.abort(reason),
  };
  /** Abort it to act as the kernel's INTERRUPT. */
  readonly abort = new AbortController();
  readonly replier: ReplySink;
  readonly #ctx = new Uint8Array(LAYOUT.fuse_ctx.size);

  constructor(libfuseVersion = 314) {
    const record = (kind: string) => (req: RequestPointer, ...args: unknown[]) => {
      this.sent.push({ req, kind, args });
      return this.replyResult;
    };
    const methods = Object.fromEntries(REPLY_METHODS.map((k) => [k, record(k)]));
    // Entries and attributes go through the real encoder: its checks are the reply's.
    const encoder = new EntryParamBuffer();
    const encoded =
      (kind: string, encode: (args: unknown[]) => void) =>
      (req: RequestPointer, ...args: unknown[]) => {
        encode(args);
        return record(kind)(req, ...args);
      };
    methods.entry = encoded("entry", ([a, neg]) => encoder.encode(a as never, neg as boolean));
    methods.attr = encoded("attr", ([a]) => encoder.encodeStatOnly(a as never));
    methods.create = encoded("create", ([, a]) => encoder.encode(a as never));
    methods.statx = encoded("statx", ([sx]) => encodeStatx(sx as never));
    this.replier = {
      ...methods,
      bits: fileInfoBits(libfuseVersion),
      nowNs: () => 1_700_000_000_123_456_789n,
      ctxPointer: () => Deno.UnsafePointer.of(this.#ctx),
      notifyPoll: () => 0,
      destroyPollHandle: () => {},
    } as unknown as ReplySink;
  }

  /**
   * The kernel's request as a receive buffer would hold it, for what the
   * dispatcher reads from it (the kill flags): its opcode and the 32-bit
   * members of its operation argument by offset; null: not in a buffer.
   */
  kernelRequest: { opcode: number; words: Record<number, number> } | null = null;
  /** What FUSE_INIT negotiated; undefined acts as a mount before it. */
  connection?: NegotiatedConn;

  /** Request memory read through FFI (pointers here are to JS memory, not a receive buffer). */
  readonly request: RequestMemory = {
    cString: (p) => new TextEncoder().encode(new Deno.UnsafePointerView(p!).getCString()),
    copy: copyBytes,
    keep: (p, len) => ({ bytes: copyBytes(p, len), release: null }),
    argU32: (opcode, offset) => {
      const r = this.kernelRequest;
      return r && r.opcode === opcode ? (r.words[offset] ?? 0) : null;
    },
  };
  pollHandleCreated(): void {}
  pollHandleDone(): void {}
  notifyPollHandle(): number {
    return 0;
  }
  destroyPollHandle(): void {}
  requestStarted(): void {
    this.inflight++;
  }
  requestFinished(): void {
    this.inflight--;
  }
  connected(): void {}
  retrieveReply(): void {}
  logHandlerError(op: string, error: unknown): void {
    this.logs.push(`${op}: ${error instanceof Error ? `${error.name}: ${error.message}` : error}`);
  }
  logReplyRefused(op: string, err: number): void {
    this.logs.push(`${op}: refused ${err}`);
  }
  deadlines: DeadlineWatch | null = null;
  logDeadline(op: string, target: string, ms: number, err: number): void {
    this.logs.push(`${op}: deadline ${ms} ms (${target}), replied ${err}`);
  }
  warnOnce(key: string, message: string): void {
    if (!this.logs.includes(`${key}: ${message}`)) this.logs.push(`${key}: ${message}`);
  }

  /** Waits until every asynchronous handler has been answered. */
  async settled(): Promise<void> {
    for (let i = 0; i < 100 && this.inflight > 0; i++) await new Promise((r) => setTimeout(r, 0));
    if (this.inflight > 0) throw new Error(`${this.inflight} request(s) never settled`);
  }
}

/** Fake request pointers: distinct addresses, never dereferenced by the dispatcher. */
let nextReq = 0x1000;
export function fakeReq(): RequestPointer {
  nextReq += 0x40;
  return Deno.UnsafePointer.create(BigInt(nextReq))!;
}

const keep: Uint8Array[] = [];

/** A NUL-terminated C string in JS memory. */
export function cString(s: string): Deno.PointerObject {
  const bytes = new TextEncoder().encode(s + "\0");
  keep.push(bytes);
  return Deno.UnsafePointer.of(bytes)!;
}

/** A `struct fuse_file_info` with `fh`, `flags`, `lock_owner` and the flag word. */
export function fileInfo(
  init: { fh?: number; flags?: number; lockOwner?: bigint; bits?: number } = {},
): Deno.PointerObject {
  const FI = LAYOUT.fuse_file_info.fields;
  const bytes = new Uint8Array(128);
  const view = new DataView(bytes.buffer);
  view.setInt32(FI.flags.offset, init.flags ?? 0, true);
  view.setBigUint64(FI.fh.offset, BigInt(init.fh ?? 0), true);
  view.setBigUint64(FI.lock_owner.offset, init.lockOwner ?? 0n, true);
  view.setUint32(FI.bits.offset, init.bits ?? 0, true);
  keep.push(bytes);
  return Deno.UnsafePointer.of(bytes)!;
}

/** A byte buffer in JS memory. */
export function bytesAt(data: Uint8Array): Deno.PointerObject {
  keep.push(data);
  return Deno.UnsafePointer.of(data)!;
}

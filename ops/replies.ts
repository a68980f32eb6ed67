/**
 * How a handler's value becomes a reply: each function checks the value's
 * shape (a wrong one throws {@link InvalidReplyError}, which the dispatcher
 * answers EIO and logs) and sends exactly one `fuse_reply_*`, returning
 * libfuse's result.
 *
 * @module
 */

import { describeValue, InvalidReplyError, toBytes } from "../ffi/codec.ts";
import type { ReplySink, RequestPointer } from "../ffi/reply.ts";
import type { BytesLike } from "../core/types.ts";
import {
  type EntryAttributes,
  type FileInfo,
  type FileLock,
  type IoctlReply,
  isNegativeEntry,
  type StatvfsData,
} from "../core/types.ts";
import type { StatxAttributes } from "../core/statx.ts";
import type { ReaddirToken } from "./readdir.ts";
import type { DispatchHost } from "./host.ts";

/**
 * Sends the reply for a handler's value `v`, given the request's decoded
 * arguments `a` (and the mount, for replies that register kernel state).
 */
export type Reply<R, A> = (
  out: ReplySink,
  req: RequestPointer,
  v: R,
  a: A,
  host: DispatchHost,
) => number;

const EACCES = 13;

/** Success with no data (unlink, rename, fsync, ...). */
export const ok: Reply<unknown, unknown> = (out, req) => out.err(req, 0);

/** A new entry (mknod, mkdir, symlink, link). */
export const entry: Reply<EntryAttributes, unknown> = (out, req, v) => out.entry(req, v);

/**
 * lookup's entry, where `stIno` 0 is a cacheable negative answer; one not
 * made by `EntryAttributes.negative` is most likely a forgotten `stIno`,
 * which would make the name vanish without a word: logged once.
 */
export const lookupEntry: Reply<EntryAttributes, { parent: number; name: Uint8Array }> = (
  out,
  req,
  v,
  a,
  host,
) => {
  if (v?.stIno === 0 && !isNegativeEntry(v)) {
    host.warnOnce(
      "lookup-ino-0",
      `the lookup handler answered ${JSON.stringify(textDecoder.decode(a.name))} in inode ` +
        `${a.parent} with stIno 0, which FUSE takes as a negative entry: the caller gets ENOENT ` +
        `(cached for entryTimeout ${v.entryTimeout} s). Set stIno, or return ` +
        `EntryAttributes.negative(timeout) if the name is meant to be absent (logged once)`,
    );
  }
  return out.entry(req, v, true);
};
const textDecoder = new TextDecoder();

/** Attributes (getattr, setattr). */
export const attr: Reply<EntryAttributes, unknown> = (out, req, v) => out.attr(req, v);

/** statx's result (libfuse 3.18+). */
export const statx: Reply<StatxAttributes, unknown> = (out, req, v) => out.statx(req, v);

/** A symlink's target. */
export const readlink: Reply<BytesLike, unknown> = (out, req, v) => out.readlink(req, v);

/** An opened file, with the request's open flags (and its backing file, for passthrough). */
export const opened: Reply<FileInfo, { inode: number; fi: { flags: number } }> = (
  out,
  req,
  v,
  a,
  host,
) => {
  if (!host.passthrough) return out.open(req, v, a.fi.flags);
  return host.passthrough.reply(req, a.inode, v, (id) => out.open(req, v, a.fi.flags, id));
};

/** An opened directory's handle. */
export const openedDir: Reply<number, { fi: { flags: number } }> = (out, req, v, a) =>
  out.opendir(req, v, a.fi.flags);

/** Read data, no more than the `size` the kernel asked for. */
export const data: Reply<Uint8Array, { size: number }> = (out, req, v, a) => {
  if (!(v instanceof Uint8Array)) {
    throw new InvalidReplyError(`expected a Uint8Array, got ${describeValue(v)}`);
  }
  if (v.length > a.size) {
    throw new InvalidReplyError(`returned ${v.length} bytes, more than the ${a.size} requested`);
  }
  return out.buf(req, v);
};

/** A byte count (write, copy_file_range): an integer from 0 to the request's `size`. */
export const count: Reply<number, { size: number }> = (out, req, v, a) => {
  if (!Number.isInteger(v) || v < 0 || v > a.size) {
    throw new InvalidReplyError(
      `the byte count must be an integer from 0 to ${a.size}, got ${String(v)}`,
    );
  }
  return out.write(req, v);
};

/** Filesystem statistics. */
export const statfs: Reply<StatvfsData, unknown> = (out, req, v) => out.statfs(req, v);

/** An xattr value: its size when the caller probes with size 0, ERANGE when too small. */
export const xattrValue: Reply<BytesLike, { size: number }> = (out, req, v, a) =>
  out.xattr(req, toBytes(v, "getxattr value"), a.size);

/** xattr names, sent NUL-separated. */
export const xattrNames: Reply<BytesLike[], { size: number }> = (out, req, v, a) => {
  if (!Array.isArray(v)) {
    throw new InvalidReplyError(`expected an array of names, got ${describeValue(v)}`);
  }
  const parts = v.map((x) => toBytes(x, "xattr name"));
  const names = new Uint8Array(parts.reduce((sum, p) => sum + p.length + 1, 0));
  let at = 0;
  for (const p of parts) {
    if (p.includes(0)) throw new InvalidReplyError("an xattr name contains a NUL byte");
    names.set(p, at);
    at += p.length + 1;
  }
  return out.xattr(req, names, a.size);
};

/** access: true allows, false answers EACCES. */
export const access: Reply<boolean, unknown> = (out, req, v) => {
  if (typeof v !== "boolean") {
    throw new InvalidReplyError(`expected a boolean, got ${describeValue(v)}`);
  }
  return out.err(req, v ? 0 : EACCES);
};

/** create's and tmpfile's new entry and its open file. */
export const created: Reply<[FileInfo, EntryAttributes], { fi: { flags: number } }> = (
  out,
  req,
  v,
  a,
  host,
) => {
  if (!Array.isArray(v) || v.length !== 2) {
    throw new InvalidReplyError(`expected [FileInfo, EntryAttributes], got ${describeValue(v)}`);
  }
  const [info, attr] = v;
  if (!host.passthrough) return out.create(req, info, attr, a.fi.flags);
  return host.passthrough.reply(
    req,
    attr?.stIno,
    info,
    (id) => out.create(req, info, attr, a.fi.flags, id),
  );
};

/** getlk's conflicting lock (or one of type F_UNLCK). */
export const lock: Reply<FileLock, unknown> = (out, req, v) => out.lock(req, v);

/** lseek's resulting offset. */
export const offset: Reply<number, unknown> = (out, req, v) => {
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new InvalidReplyError(`expected an offset >= 0, got ${String(v)}`);
  }
  return out.lseek(req, v);
};

/** ioctl's result and output bytes, no more than the kernel's `outSize`. */
export const ioctl: Reply<IoctlReply | Uint8Array, { outSize: number }> = (out, req, v, a) => {
  const reply: IoctlReply = v instanceof Uint8Array ? { data: v } : v;
  if (reply === null || typeof reply !== "object") {
    throw new InvalidReplyError(`expected { result, data } or bytes, got ${describeValue(v)}`);
  }
  const bytes = reply.data ?? new Uint8Array(0);
  if (bytes.length > a.outSize) {
    throw new InvalidReplyError(
      `returned ${bytes.length} bytes, more than the ${a.outSize} allowed`,
    );
  }
  return out.ioctl(req, reply.result ?? 0, bytes);
};

/** poll's ready events. */
export const revents: Reply<number, unknown> = (out, req, v) => {
  if (!Number.isInteger(v) || v < 0) {
    throw new InvalidReplyError(`expected an event mask, got ${String(v)}`);
  }
  return out.poll(req, v);
};

/** bmap's device block. */
export const block: Reply<number, unknown> = (out, req, v) => {
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new InvalidReplyError(`expected a block number, got ${String(v)}`);
  }
  return out.bmap(req, v);
};

/** The entries readdirReply() put in the request's token. */
export const dirents: Reply<ReaddirToken, unknown> = (out, req, token) =>
  out.buf(req, token.finish());

/**
 * Directory listings on the path API: the handler lists a directory once
 * when a listing starts (or is rewound); the layer serves every READDIR
 * and READDIRPLUS of that open directory from that answer, with offsets
 * that are positions in it, so a listing resumed after changes to the
 * directory neither repeats nor skips an entry. "." and ".." come first
 * (offsets 1 and 2) and are the layer's.
 *
 * READDIRPLUS entries carry attributes, from the listing when it has them,
 * else from a getattr of the entry; each entry the reply takes counts as a
 * lookup of its node (except "." and "..", as the kernel takes no
 * reference for them). Plain READDIR entries carry only the inode number
 * (the known node's, else with `useIno` the handler's, else libfuse's
 * FUSE_UNKNOWN_INO) and the type when the listing gave one.
 *
 * @module
 */

import {
  EntryAttributes,
  type FileHandle,
  type MaybePromise,
  readdirReply,
  type ReaddirToken,
  type RequestContext,
  S_IFDIR,
} from "../mod.ts";
import type { NodeTable, PathNode } from "./node_table.ts";
import type { Slot } from "./handles.ts";
import type { DirEntry } from "./operations.ts";
import { componentKey, joinPath, type Path, type PathName } from "./path.ts";
import { isNoEntry } from "./settle.ts";
import { handlerIno, type PathStat, toEntryAttributes } from "./stat.ts";

/** libfuse's inode number for a listing entry whose node is unknown. */
export const UNKNOWN_INO = 0xffffffff;

/** One entry of a listing, its key computed once. */
interface Listed {
  name: PathName;
  key: string;
  stat: PathStat | undefined;
}

/** What a listing needs from the layer. */
export interface ListingEnv {
  /** The node table. */
  readonly table: NodeTable;
  /** Whether handler inode numbers are used. */
  readonly useIno: boolean;
  /** Seconds the kernel may cache names. */
  readonly entryTimeout: number;
  /** Seconds the kernel may cache attributes. */
  readonly attrTimeout: number;
  /** The handler's readdir. */
  list(path: Path, fh: FileHandle, ctx: RequestContext): MaybePromise<Iterable<DirEntry>>;
  /** The handler's getattr, for entries listed without attributes. */
  stat(path: Path, ctx: RequestContext): MaybePromise<PathStat>;
}

const typeOnly = new EntryAttributes();

function modeOf(stat: PathStat | undefined): number {
  if (stat === undefined) return 0;
  return stat instanceof EntryAttributes ? stat.stMode : Number(stat.mode ?? 0);
}

function normalize(entries: Iterable<DirEntry>): Listed[] {
  const out: Listed[] = [];
  for (const e of entries) {
    const name = typeof e === "string" || e instanceof Uint8Array ? e : e.name;
    const key = componentKey(name);
    if (key === "." || key === "..") continue;
    out.push({
      name,
      key,
      stat: typeof e === "object" && !(e instanceof Uint8Array) ? e.stat : undefined,
    });
  }
  return out;
}

/**
 * Serves one READDIR or READDIRPLUS request of an open directory.
 *
 * @param env the layer
 * @param slot the open directory
 * @param startId the kernel's offset: 0 to start (the handler is asked), else where to continue
 * @param token the reply
 * @param ctx the caller
 * @returns when the reply is filled
 */
export function serveListing(
  env: ListingEnv,
  slot: Slot,
  startId: number,
  token: ReaddirToken,
  ctx: RequestContext,
): MaybePromise<void> {
  const dir = slot.node;
  const path = env.table.path(dir);
  // A removed directory lists nothing, not even "." and "..", like tmpfs.
  if (path === null) return;
  if (startId === 0 || slot.listing === null) {
    const listed = env.list(path, slot.fh, ctx);
    if (listed instanceof Promise) {
      return listed.then((entries) => {
        slot.listing = normalize(entries);
        return fill(env, slot, dir, path, startId, token, ctx);
      });
    }
    slot.listing = normalize(listed);
  }
  return fill(env, slot, dir, path, startId, token, ctx);
}

function dotAttr(node: PathNode): EntryAttributes {
  return new EntryAttributes({ stIno: node.ino, stMode: S_IFDIR | 0o755, stNlink: 2 });
}

function fill(
  env: ListingEnv,
  slot: Slot,
  dir: PathNode,
  path: Path,
  startId: number,
  token: ReaddirToken,
  ctx: RequestContext,
): MaybePromise<void> {
  if (startId < 1 && !readdirReply(token, ".", dotAttr(dir), 1)) return;
  if (startId < 2 && !readdirReply(token, "..", dotAttr(env.table.parentOf(dir)), 2)) return;
  const entries = slot.listing as Listed[];
  const from = Math.max(0, startId - 2);
  if (!token.plus) {
    const table = env.table;
    for (let i = from; i < entries.length; i++) {
      const e = entries[i];
      const known = table.child(dir, e.key);
      const ino = known
        ? known.ino
        : env.useIno && e.stat
        ? table.kernelIno(handlerIno(e.stat))
        : 0;
      typeOnly.stIno = ino > 0 ? ino : UNKNOWN_INO;
      typeOnly.stMode = modeOf(e.stat);
      if (!readdirReply(token, e.name, typeOnly, i + 3)) return;
    }
    return;
  }
  return plus(env, dir, path, entries, from, token, ctx);
}

/** Adds one READDIRPLUS entry; false when the reply is full. */
function emit(
  env: ListingEnv,
  dir: PathNode,
  e: Listed,
  stat: PathStat,
  off: number,
  token: ReaddirToken,
): boolean {
  const node = env.table.attach(dir, e.key, e.name, handlerIno(stat));
  const attr = toEntryAttributes(stat, node.ino, env.entryTimeout, env.attrTimeout);
  if (readdirReply(token, e.name, attr, off)) return true;
  env.table.forget(node.ino, 1); // not sent: the kernel took no reference
  return false;
}

function plus(
  env: ListingEnv,
  dir: PathNode,
  path: Path,
  entries: Listed[],
  from: number,
  token: ReaddirToken,
  ctx: RequestContext,
): MaybePromise<void> {
  for (let i = from; i < entries.length; i++) {
    const e = entries[i];
    if (e.stat !== undefined) {
      if (!emit(env, dir, e, e.stat, i + 3, token)) return;
      continue;
    }
    let stat: MaybePromise<PathStat>;
    try {
      stat = env.stat(joinPath(path, e.name), ctx);
    } catch (error) {
      if (isNoEntry(error)) continue; // removed since it was listed
      throw error;
    }
    if (stat instanceof Promise) {
      return stat.then(
        (s) => {
          if (emit(env, dir, e, s, i + 3, token)) {
            return plus(env, dir, path, entries, i + 1, token, ctx);
          }
        },
        (error) => {
          if (isNoEntry(error)) return plus(env, dir, path, entries, i + 1, token, ctx);
          throw error;
        },
      );
    }
    if (!emit(env, dir, e, stat, i + 3, token)) return;
  }
}

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
 * The handler's entries are kept as it returned them (no copy per entry),
 * so a filesystem can hand over objects it already has, e.g. its directory
 * entries with `{ name, stat }` where `stat` is its live inode object.
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
import { componentKey, decodeName, joinPath, type Path, type PathName } from "./path.ts";
import { isNoEntry } from "./settle.ts";
import { handlerIno, type PathStat, toEntryAttributes } from "./stat.ts";

/** libfuse's inode number for a listing entry whose node is unknown. */
export const UNKNOWN_INO = 0xffffffff;

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

function nameOf(e: DirEntry): PathName {
  return typeof e === "string" || e instanceof Uint8Array ? e : e.name;
}

function statOf(e: DirEntry): PathStat | undefined {
  return typeof e === "string" || e instanceof Uint8Array ? undefined : e.stat;
}

function modeOf(stat: PathStat | undefined): number {
  if (stat === undefined) return 0;
  return stat instanceof EntryAttributes ? stat.stMode : Number(stat.mode ?? 0);
}

/** Whether a listed name is "." or "..", which the layer answers itself. */
function isDot(name: PathName): boolean {
  if (typeof name === "string") return name === "." || name === "..";
  return name.length > 0 && name.length <= 2 && name[0] === 0x2e &&
    (name.length === 1 || name[1] === 0x2e);
}

/** The handler's answer as an array, without "." and "..". */
function listingOf(entries: Iterable<DirEntry>): DirEntry[] {
  const list = Array.isArray(entries) ? entries : Array.from(entries);
  for (let i = 0; i < list.length; i++) {
    if (isDot(nameOf(list[i]))) return list.filter((e) => !isDot(nameOf(e)));
  }
  return list;
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
        slot.listing = listingOf(entries);
        return fill(env, slot.listing, dir, path, startId, token, ctx);
      });
    }
    slot.listing = listingOf(listed);
  }
  return fill(env, slot.listing, dir, path, startId, token, ctx);
}

function dotAttr(node: PathNode): EntryAttributes {
  return new EntryAttributes({ stIno: node.ino, stMode: S_IFDIR | 0o755, stNlink: 2 });
}

function fill(
  env: ListingEnv,
  entries: DirEntry[],
  dir: PathNode,
  path: Path,
  startId: number,
  token: ReaddirToken,
  ctx: RequestContext,
): MaybePromise<void> {
  if (startId < 1 && !readdirReply(token, ".", dotAttr(dir), 1)) return;
  if (startId < 2 && !readdirReply(token, "..", dotAttr(env.table.parentOf(dir)), 2)) return;
  const from = Math.max(0, startId - 2);
  if (!token.plus) {
    const table = env.table;
    for (let i = from; i < entries.length; i++) {
      const e = entries[i];
      const name = nameOf(e), stat = statOf(e);
      // With useIno the listing's own number is the kernel's: no key, no table lookup.
      let ino = env.useIno && stat !== undefined ? table.kernelIno(handlerIno(stat)) : 0;
      if (ino <= 0) ino = table.child(dir, componentKey(name))?.ino ?? 0;
      typeOnly.stIno = ino > 0 ? ino : UNKNOWN_INO;
      typeOnly.stMode = modeOf(stat);
      if (!readdirReply(token, name, typeOnly, i + 3)) return;
    }
    return;
  }
  return plus(env, dir, path, entries, from, token, ctx);
}

/** Adds one READDIRPLUS entry (a lookup of its node); false when the reply is full. */
function emit(
  env: ListingEnv,
  dir: PathNode,
  name: PathName,
  stat: PathStat,
  off: number,
  token: ReaddirToken,
): boolean {
  // Handlers see names as the kernel's bytes decode: UTF-8 bytes become a string.
  const shown = typeof name === "string" ? name : decodeName(name);
  const node = env.table.attach(dir, componentKey(shown), shown, handlerIno(stat));
  const attr = toEntryAttributes(stat, node.ino, env.entryTimeout, env.attrTimeout);
  if (readdirReply(token, name, attr, off)) return true;
  env.table.forget(node.ino, 1); // not sent: the kernel took no reference
  return false;
}

function plus(
  env: ListingEnv,
  dir: PathNode,
  path: Path,
  entries: DirEntry[],
  from: number,
  token: ReaddirToken,
  ctx: RequestContext,
): MaybePromise<void> {
  for (let i = from; i < entries.length; i++) {
    const name = nameOf(entries[i]), listed = statOf(entries[i]);
    if (listed !== undefined) {
      if (!emit(env, dir, name, listed, i + 3, token)) return;
      continue;
    }
    let stat: MaybePromise<PathStat>;
    try {
      stat = env.stat(joinPath(path, name), ctx);
    } catch (error) {
      if (isNoEntry(error)) continue; // removed since it was listed
      throw error;
    }
    if (stat instanceof Promise) {
      return stat.then(
        (s) => {
          if (emit(env, dir, name, s, i + 3, token)) {
            return plus(env, dir, path, entries, i + 1, token, ctx);
          }
        },
        (error) => {
          if (isNoEntry(error)) return plus(env, dir, path, entries, i + 1, token, ctx);
          throw error;
        },
      );
    }
    if (!emit(env, dir, name, stat, i + 3, token)) return;
  }
}
